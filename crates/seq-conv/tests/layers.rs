//! Conv and pooling behaviour: masks, the temporal block, clear errors.

use candle_core::{DType, Device, IndexOp, Tensor};
use seq_conv::{
    AvgPool1d, Conv1d, Conv1dConfig, GlobalAvgPool1d, GlobalMaxPool1d, MaxPool1d, Padding,
    Pool1dConfig, TemporalBlock, TemporalBlockConfig,
};
use seq_core::{Mode, Module, Params, Result, Seq};

fn normal(seed: u64, dims: &[usize]) -> Tensor {
    seq_core::testing::randn(seed, dims).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    seq_core::testing::max_abs_diff(a, b).unwrap()
}

fn conv(cfg: Conv1dConfig) -> Conv1d {
    Conv1d::new(cfg, Params::new(1).var_builder(DType::F64, &Device::Cpu)).unwrap()
}

/// A sequence padded inside a batch gets the outputs it gets alone with the
/// same zero padding, and the output mask follows the documented lengths.
#[test]
fn padded_steps_never_reach_real_outputs() -> Result<()> {
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(conv(Conv1dConfig::new(2, 3, 3).with_padding(Padding::Same))),
        Box::new(conv(
            Conv1dConfig::new(2, 3, 3)
                .with_dilation(2)
                .with_padding(Padding::Causal),
        )),
        Box::new(MaxPool1d::new(Pool1dConfig::new(2))?),
        Box::new(AvgPool1d::new(Pool1dConfig::new(3).with_stride(1))?),
    ];
    let x = normal(2, &[2, 8, 2]);
    let garbage = (normal(3, &[2, 8, 2]) * 1e3)?;
    // Sequence 1 has 5 real steps; after it, garbage.
    let mixed = Tensor::cat(&[x.i((1..2, 0..5))?, garbage.i((1..2, 5..8))?], 1)?;
    let batch = Tensor::cat(&[x.i(0..1)?, mixed], 0)?;
    for layer in &layers {
        let out = layer.forward(&Seq::new(batch.clone())?.with_lengths(&[8, 5])?, Mode::Eval)?;
        let clean = Tensor::cat(
            &[
                x.i((1..2, 0..5))?,
                Tensor::zeros((1, 3, 2), DType::F64, &Device::Cpu)?,
            ],
            1,
        )?;
        let alone = layer.forward(&Seq::new(clean)?, Mode::Eval)?;
        let real = out.lengths()?[1];
        assert!(real > 0);
        assert!(
            max_diff(
                &out.values().i((1, 0..real))?,
                &alone.values().i((0, 0..real))?
            ) < 1e-9
        );
    }
    // Lengths: same/causal keep them; max pool 2 halves them (floor); avg 3 stride 1 takes 2 off.
    let lengths = |l: &dyn Module| {
        l.forward(
            &Seq::new(batch.clone())
                .unwrap()
                .with_lengths(&[8, 5])
                .unwrap(),
            Mode::Eval,
        )
        .unwrap()
        .lengths()
        .unwrap()
    };
    assert_eq!(lengths(layers[0].as_ref()), vec![8, 5]);
    assert_eq!(lengths(layers[1].as_ref()), vec![8, 5]);
    assert_eq!(lengths(layers[2].as_ref()), vec![4, 2]);
    assert_eq!(lengths(layers[3].as_ref()), vec![6, 3]);
    Ok(())
}

#[test]
fn global_pooling_ignores_padding() -> Result<()> {
    let x = normal(4, &[2, 6, 3]);
    let xs = Seq::new(x.clone())?.with_lengths(&[6, 2])?;
    let max = GlobalMaxPool1d.forward(&xs, Mode::Eval)?;
    let avg = GlobalAvgPool1d.forward(&xs, Mode::Eval)?;
    assert!(max_diff(&max.values().i((1, 0))?, &x.i((1, 0..2))?.max(0)?) < 1e-15);
    assert!(max_diff(&avg.values().i((1, 0))?, &x.i((1, 0..2))?.mean(0)?) < 1e-15);
    assert!(max_diff(&avg.values().i((0, 0))?, &x.i(0)?.mean(0)?) < 1e-15);
    Ok(())
}

#[test]
fn a_temporal_block_is_causal_and_residual() -> Result<()> {
    let p = Params::new(5);
    let block = TemporalBlock::new(
        TemporalBlockConfig::new(2, 4, 2),
        p.var_builder(DType::F64, &Device::Cpu),
    )?;
    assert_eq!(block.receptive_field(), 9);
    assert_eq!(
        p.names(),
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "downsample.bias",
            "downsample.weight"
        ]
    );
    let x = normal(6, &[1, 12, 2]);
    let y = block.forward(&Seq::new(x.clone())?, Mode::Eval)?;
    assert_eq!(y.values().dims(), [1, 12, 4]);
    // Change the future of step 6: steps 0..=6 keep their outputs.
    let changed = Tensor::cat(&[x.i((.., 0..7))?, normal(7, &[1, 5, 2])], 1)?;
    let y2 = block.forward(&Seq::new(changed)?, Mode::Eval)?;
    assert!(max_diff(&y.values().i((.., 0..7))?, &y2.values().i((.., 0..7))?) < 1e-15);
    assert!(max_diff(&y.values().i((.., 7..))?, &y2.values().i((.., 7..))?) > 1e-6);
    Ok(())
}

#[test]
fn bad_input_says_which_and_by_how_much() -> Result<()> {
    let c = conv(Conv1dConfig::new(8, 4, 5).with_dilation(2));
    let err = c
        .forward(
            &Seq::new(Tensor::zeros((2, 6, 8), DType::F64, &Device::Cpu)?)?,
            Mode::Eval,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spans 9 steps") && err.contains("3 steps too short"),
        "{err}"
    );
    let err = c
        .forward(
            &Seq::new(Tensor::zeros((2, 20, 6), DType::F64, &Device::Cpu)?)?,
            Mode::Eval,
        )
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "Conv1d expected input [batch, time, 8], got [2, 20, 6]"
    );
    let err = Conv1d::new(
        Conv1dConfig::new(8, 6, 3).with_groups(4),
        Params::new(0).var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "Conv1d: groups 4 does not divide out_channels 6 (6 = 1 * 4 + 2)"
    );
    let err = MaxPool1d::new(Pool1dConfig::new(2).with_padding(2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("padding 2 is more than half the kernel 2"),
        "{err}"
    );
    let err = MaxPool1d::new(Pool1dConfig::new(4))?
        .apply(&Tensor::zeros((1, 3, 2), DType::F64, &Device::Cpu)?)
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 steps too short"), "{err}");
    Ok(())
}
