//! Gradient checks of seq-conv: every convolution geometry with a batch
//! larger than one and several output channels (where candle's own conv1d
//! is wrong), every pooling kind with overlapping windows, the temporal
//! block.

use seq::conv::{
    AvgPool1d, Conv1d, Conv1dConfig, GlobalAvgPool1d, GlobalMaxPool1d, MaxPool1d, Padding,
    Pool1dConfig, TemporalBlock, TemporalBlockConfig,
};
use seq::core::{Mode, Module, Seq};

use crate::support::{assert_gradients, input, params};

fn check_conv(config: Conv1dConfig, seed: u64) {
    let (p, vb) = params(seed);
    let conv = Conv1d::new(config, vb).unwrap();
    let x = input(seed + 1, &[3, 7, config.in_channels]);
    assert_gradients(&p, &[("x", &x)], || {
        let xs = Seq::new(x.as_tensor().clone())?.with_lengths(&[7, 5, 6])?;
        Ok(conv.forward(&xs, Mode::Eval)?.into_parts().0)
    });
}

#[test]
fn conv1d_every_padding_mode() {
    check_conv(Conv1dConfig::new(2, 3, 3), 1);
    check_conv(Conv1dConfig::new(2, 3, 4).with_padding(Padding::Same), 2);
    check_conv(
        Conv1dConfig::new(2, 3, 3)
            .with_dilation(2)
            .with_padding(Padding::Causal),
        3,
    );
    check_conv(
        Conv1dConfig::new(2, 3, 3).with_padding(Padding::Explicit { left: 2, right: 1 }),
        4,
    );
}

#[test]
fn conv1d_stride_dilation_groups_no_bias() {
    check_conv(
        Conv1dConfig::new(2, 3, 3)
            .with_stride(2)
            .with_padding(Padding::Same),
        5,
    );
    check_conv(Conv1dConfig::new(2, 3, 2).with_dilation(3), 6);
    check_conv(
        Conv1dConfig::new(4, 6, 3).with_groups(2).with_bias(false),
        7,
    );
}

#[test]
fn max_and_average_pooling_with_overlapping_windows() {
    let cfg = Pool1dConfig::new(3).with_stride(2).with_padding(1);
    let x = input(8, &[2, 7, 3]);
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(MaxPool1d::new(cfg).unwrap()),
        Box::new(AvgPool1d::new(cfg).unwrap()),
        Box::new(AvgPool1d::new(cfg.with_count_include_pad(false)).unwrap()),
        Box::new(MaxPool1d::new(Pool1dConfig::new(3).with_stride(1)).unwrap()),
        Box::new(GlobalMaxPool1d),
        Box::new(GlobalAvgPool1d),
    ];
    for layer in layers {
        let (p, _) = params(0);
        assert_gradients(&p, &[("x", &x)], || {
            let xs = Seq::new(x.as_tensor().clone())?.with_lengths(&[7, 4])?;
            Ok(layer.forward(&xs, Mode::Eval)?.into_parts().0)
        });
    }
}

#[test]
fn temporal_block() {
    let (p, vb) = params(9);
    let block = TemporalBlock::new(TemporalBlockConfig::new(2, 3, 2), vb).unwrap();
    let x = input(10, &[2, 8, 2]);
    assert_gradients(&p, &[("x", &x)], || {
        Ok(block
            .forward(&Seq::new(x.as_tensor().clone())?, Mode::Eval)?
            .into_parts()
            .0)
    });
}

#[test]
fn batch_norm_in_training_over_real_steps() {
    use seq::conv::{BatchNorm1d, BatchNorm1dConfig};
    let (p, vb) = params(90);
    let bn = BatchNorm1d::new(BatchNorm1dConfig::new(3), vb).unwrap();
    // Weight and bias away from 1 and 0 so their gradients are general.
    for v in ["weight", "bias"].map(|n| p.get(n).unwrap()) {
        v.set(&(v.as_tensor() + input(91, v.dims()).as_tensor() * 0.5).unwrap())
            .unwrap();
    }
    let x = input(92, &[3, 5, 3]);
    // The running statistics are buffers, not parameters: no gradient.
    let mut tensors: Vec<_> = p
        .named_vars()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("running_"))
        .collect();
    tensors.push(("x".into(), x.clone()));
    let report = seq::core::gradcheck(&tensors, || {
        let xs = Seq::new(x.as_tensor().clone())?.with_lengths(&[5, 2, 4])?;
        Ok(bn.forward(&xs, Mode::Train)?.into_parts().0)
    })
    .unwrap();
    assert!(report.passed(), "gradient check failed:\n{report}");
}
