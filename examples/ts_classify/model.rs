//! The classifiers: the fully convolutional network and the residual
//! network of Wang et al. (2017), with batch or instance normalisation, and
//! an LSTM.

use candle_core::Tensor;
use candle_nn::VarBuilder;
use seq::conv::{BatchNorm1d, BatchNorm1dConfig, Conv1d, Conv1dConfig, Padding};
use seq::core::pool::mean_over_time;
use seq::core::{Linear, LinearConfig, Mode, Module, Seq};
use seq::recurrent::topology::last_layer_state;
use seq::recurrent::{Lstm, Recurrent, RecurrentConfig};

/// Instance normalisation (Ulyanov et al., 2016): each channel of each
/// series scaled to mean 0 and variance 1 over its real steps, then
/// `weight * x + bias` per channel. Like the FCN's batch norm it
/// standardises every channel over time, but per series, so a prediction
/// never depends on the rest of the batch.
struct InstanceNorm {
    weight: Tensor,
    bias: Tensor,
}

impl InstanceNorm {
    fn new(channels: usize, vb: VarBuilder) -> seq::core::Result<Self> {
        Ok(InstanceNorm {
            weight: vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    /// `[batch, time, channels]` to the same, statistics over the real steps.
    fn forward(&self, xs: &Seq) -> seq::core::Result<Tensor> {
        let x = xs.values();
        let mean = mean_over_time(x, xs.mask())?.unsqueeze(1)?; // [batch, 1, channels]
        let centred = x.broadcast_sub(&mean)?;
        let var = mean_over_time(&centred.sqr()?, xs.mask())?.unsqueeze(1)?;
        let scaled = centred.broadcast_div(&var.affine(1.0, 1e-5)?.sqrt()?)?;
        Ok(scaled
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)?)
    }
}

/// The normalisation after each convolution: the FCN's and ResNet's batch
/// norm (Wang et al., 2017), or instance norm.
enum Norm {
    Batch(BatchNorm1d),
    Instance(InstanceNorm),
}

impl Norm {
    fn new(kind: &str, channels: usize, vb: VarBuilder) -> seq::core::Result<Self> {
        Ok(match kind {
            "batch" => Norm::Batch(BatchNorm1d::new(BatchNorm1dConfig::new(channels), vb)?),
            _ => Norm::Instance(InstanceNorm::new(channels, vb)?),
        })
    }

    fn forward(&self, xs: &Seq, mode: Mode) -> seq::core::Result<Seq> {
        match self {
            Norm::Batch(bn) => bn.forward(xs, mode),
            Norm::Instance(norm) => xs.with_values(norm.forward(xs)?),
        }
    }
}

/// A convolution (same padding) followed by a normalisation.
struct ConvNorm {
    conv: Conv1d,
    norm: Norm,
}

impl ConvNorm {
    fn new(
        norm: &str,
        (cin, cout, k): (usize, usize, usize),
        vb: VarBuilder,
    ) -> seq::core::Result<Self> {
        Ok(ConvNorm {
            conv: Conv1d::new(
                Conv1dConfig::new(cin, cout, k).with_padding(Padding::Same),
                vb.pp("conv"),
            )?,
            norm: Norm::new(norm, cout, vb.pp("norm"))?,
        })
    }

    fn forward(&self, xs: &Seq, mode: Mode) -> seq::core::Result<Seq> {
        self.norm.forward(&self.conv.forward(xs, mode)?, mode)
    }
}

/// Relu on a sequence's values.
fn relu(xs: Seq) -> seq::core::Result<Seq> {
    xs.with_values(xs.values().relu()?)
}

/// A residual block of the ResNet: three convolutions (kernels 8, 5, 3)
/// with their normalisations, relu between, and a shortcut (a 1x1
/// convolution and a normalisation) added before the last relu.
struct Residual {
    convs: [ConvNorm; 3],
    shortcut: ConvNorm,
}

impl Residual {
    fn new(norm: &str, cin: usize, cout: usize, vb: VarBuilder) -> seq::core::Result<Self> {
        Ok(Residual {
            convs: [
                ConvNorm::new(norm, (cin, cout, 8), vb.pp("conv0"))?,
                ConvNorm::new(norm, (cout, cout, 5), vb.pp("conv1"))?,
                ConvNorm::new(norm, (cout, cout, 3), vb.pp("conv2"))?,
            ],
            shortcut: ConvNorm::new(norm, (cin, cout, 1), vb.pp("shortcut"))?,
        })
    }

    fn forward(&self, xs: &Seq, mode: Mode) -> seq::core::Result<Seq> {
        let h = relu(self.convs[0].forward(xs, mode)?)?;
        let h = relu(self.convs[1].forward(&h, mode)?)?;
        let h = self.convs[2].forward(&h, mode)?;
        let skip = self.shortcut.forward(xs, mode)?;
        relu(h.with_values((h.values() + skip.values())?)?)
    }
}

/// FCN: three convolutions (kernels 8, 5, 3; same padding; 64, 128, 64
/// channels), each followed by a normalisation and relu; or ResNet: three
/// residual blocks of 64, 128 and 128 channels (Wang et al., 2017). Then
/// global average pooling over the real steps and a linear classifier.
/// Or an LSTM read at each series' last real step.
pub struct Classifier {
    body: Body,
    head: Linear,
}

enum Body {
    Fcn(Vec<ConvNorm>),
    ResNet(Vec<Residual>),
    Lstm(Lstm),
}

impl Classifier {
    /// `model` (`fcn`, `resnet` or `lstm`) with `norm` (`batch` or
    /// `instance`) after each convolution, for series of `dims` dimensions.
    pub fn new(
        model: &str,
        norm: &str,
        dims: usize,
        classes: usize,
        vb: VarBuilder,
    ) -> seq::core::Result<Self> {
        let (body, width) = match model {
            "lstm" => (
                Body::Lstm(Lstm::new(RecurrentConfig::new(dims, 64), vb.pp("lstm"))?),
                64,
            ),
            "resnet" => {
                let sizes = [(dims, 64), (64, 128), (128, 128)];
                let blocks = sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &(cin, cout))| {
                        Residual::new(norm, cin, cout, vb.pp(format!("block{i}")))
                    })
                    .collect::<seq::core::Result<_>>()?;
                (Body::ResNet(blocks), 128)
            }
            _ => {
                let shape = [(dims, 64, 8), (64, 128, 5), (128, 64, 3)];
                let convs = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &size)| ConvNorm::new(norm, size, vb.pp(format!("layer{i}"))))
                    .collect::<seq::core::Result<_>>()?;
                (Body::Fcn(convs), 64)
            }
        };
        Ok(Classifier {
            body,
            head: Linear::new(LinearConfig::new(width, classes), vb.pp("head"))?,
        })
    }

    /// Logits `[batch, classes]`.
    pub fn logits(&self, xs: &Seq, mode: Mode) -> seq::core::Result<Tensor> {
        let mut h = xs.clone();
        match &self.body {
            Body::Lstm(lstm) => {
                let state = lstm.forward_with_state(xs, None, mode)?.1;
                return self.head.apply(&last_layer_state(&state, lstm.config())?);
            }
            Body::Fcn(convs) => {
                for layer in convs {
                    h = relu(layer.forward(&h, mode)?)?;
                }
            }
            Body::ResNet(blocks) => {
                for block in blocks {
                    h = block.forward(&h, mode)?;
                }
            }
        }
        self.head.apply(&mean_over_time(h.values(), h.mask())?)
    }
}
