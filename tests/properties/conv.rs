//! Properties of convolution and pooling: shift equivariance, causality,
//! the bounds of max pooling, averages of constants, shape laws.

use candle_core::{DType, Device, IndexOp, Tensor};
use proptest::prelude::*;
use seq::conv::{AvgPool1d, Conv1d, Conv1dConfig, MaxPool1d, Padding, Pool1dConfig};
use seq::core::{Params, Seq};

use crate::support::{max_diff, normal};

fn conv(cfg: Conv1dConfig, seed: u64) -> Conv1d {
    Conv1d::new(cfg, Params::new(seed).var_builder(DType::F64, &Device::Cpu)).unwrap()
}

fn padding(p: u8) -> Padding {
    match p % 4 {
        0 => Padding::Valid,
        1 => Padding::Same,
        2 => Padding::Causal,
        _ => Padding::Explicit { left: 1, right: 2 },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Shifting the input by s steps shifts a stride-1 conv's output by s,
    /// away from the borders.
    #[test]
    fn conv_is_equivariant_to_shifts(
        k in 1usize..5, d in 1usize..3, s in 1usize..4, p in 0u8..4, seed in 0u64..1000,
    ) {
        let c = conv(Conv1dConfig::new(2, 3, k).with_dilation(d).with_padding(padding(p)), seed);
        let t = 16;
        let x = normal(seed, &[1, t + s, 2]);
        let y = c.apply(&x.i((.., 0..t)).unwrap()).unwrap();
        let y_shifted = c.apply(&x.i((.., s..t + s)).unwrap()).unwrap();
        // Output j of the shifted input is output j + s of the original for
        // windows on real inputs in both: j >= left and j + s + span <= t + left.
        let span = d * (k - 1) + 1;
        let left = match padding(p) {
            Padding::Valid => 0,
            Padding::Same => (span - 1) / 2,
            Padding::Causal => span - 1,
            Padding::Explicit { left, .. } => left,
        };
        let (lo, hi) = (left, (t + left + 1).saturating_sub(span + s));
        if lo < hi {
            prop_assert!(max_diff(&y_shifted.i((.., lo..hi)).unwrap(), &y.i((.., lo + s..hi + s)).unwrap()) < 1e-12);
        }
    }

    /// A causal conv's output at t does not change when inputs after t do.
    #[test]
    fn causal_conv_ignores_the_future(
        k in 1usize..5, d in 1usize..4, t in 1usize..10, seed in 0u64..1000,
    ) {
        let c = conv(Conv1dConfig::new(2, 3, k).with_dilation(d).with_padding(Padding::Causal), seed);
        let x = normal(seed, &[2, 10, 2]);
        let future = normal(seed + 1, &[2, 10 - t, 2]);
        let changed = Tensor::cat(&[x.i((.., 0..t)).unwrap(), future], 1).unwrap();
        let (y, y2) = (c.apply(&x).unwrap(), c.apply(&changed).unwrap());
        prop_assert_eq!(y.dims(), &[2, 10, 3]);
        prop_assert!(max_diff(&y.i((.., 0..t)).unwrap(), &y2.i((.., 0..t)).unwrap()) < 1e-15);
    }

    /// Max pooling stays within the input's minimum and maximum.
    #[test]
    fn max_pooling_is_bounded_by_the_input(
        k in 1usize..5, s in 1usize..4, t in 5usize..12, seed in 0u64..1000, pad in 0usize..3,
    ) {
        let pool = MaxPool1d::new(Pool1dConfig::new(k).with_stride(s).with_padding(pad.min(k / 2))).unwrap();
        let x = normal(seed, &[2, t, 3]);
        let y = pool.apply(&x).unwrap();
        let (lo, hi) = (x.flatten_all().unwrap().min(0).unwrap(), x.flatten_all().unwrap().max(0).unwrap());
        prop_assert!(y.flatten_all().unwrap().min(0).unwrap().to_scalar::<f64>().unwrap() >= lo.to_scalar::<f64>().unwrap());
        prop_assert!(y.flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap() <= hi.to_scalar::<f64>().unwrap());
    }

    /// Average pooling of a constant is that constant (padding excluded
    /// from the count).
    #[test]
    fn average_pooling_of_a_constant_is_the_constant(
        k in 1usize..5, s in 1usize..4, t in 5usize..12, v in -10.0f64..10.0, pad in 0usize..3,
    ) {
        let cfg = Pool1dConfig::new(k).with_stride(s).with_padding(pad.min(k / 2)).with_count_include_pad(false);
        let x = (Tensor::ones((2, t, 3), DType::F64, &Device::Cpu).unwrap() * v).unwrap();
        let y = AvgPool1d::new(cfg).unwrap().apply(&x).unwrap();
        prop_assert!(max_diff(&y, &(y.ones_like().unwrap() * v).unwrap()) < 1e-12);
    }

    /// `T_out = floor((T + left + right - d(K-1) - 1) / s) + 1`; `same` and
    /// `causal` keep `ceil(T / s)`; the mask follows the lengths.
    #[test]
    fn conv_shapes_follow_the_formula(
        b in 1usize..4, t in 8usize..20, cin in 1usize..4, cout in 1usize..5,
        k in 1usize..5, s in 1usize..4, d in 1usize..3, p in 0u8..4,
    ) {
        let c = conv(Conv1dConfig::new(cin, cout, k).with_stride(s).with_dilation(d).with_padding(padding(p)), 0);
        let x = Tensor::zeros((b, t, cin), DType::F64, &Device::Cpu).unwrap();
        let y = c.apply(&x).unwrap();
        let span = d * (k - 1) + 1;
        let want = match padding(p) {
            Padding::Valid => (t - span) / s + 1,
            Padding::Same | Padding::Causal => t.div_ceil(s),
            Padding::Explicit { left, right } => (t + left + right - span) / s + 1,
        };
        prop_assert_eq!(y.dims(), &[b, want, cout]);
        let out = seq::core::Module::forward(&c, &Seq::new(x).unwrap().with_lengths(&vec![t; b]).unwrap(), seq::core::Mode::Eval).unwrap();
        prop_assert_eq!(out.lengths().unwrap(), vec![want; b]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Batch norm in training reads only the real steps: padding a batch
    /// further changes neither its real outputs nor the running statistics,
    /// and each channel's real outputs have mean `bias` and (biased)
    /// variance `weight^2 var / (var + eps)`, here with eps 0: `weight^2`.
    #[test]
    fn batch_norm_ignores_padding(
        b in 1usize..4, t in 2usize..6, c in 1usize..5, extra in 1usize..4, seed in 0u64..1000,
    ) {
        use seq::conv::{BatchNorm1d, BatchNorm1dConfig};
        use seq::core::{Mode, Module};
        let make = || BatchNorm1d::new(
            BatchNorm1dConfig::new(c).with_eps(0.0),
            Params::new(seed).var_builder(DType::F64, &Device::Cpu),
        ).unwrap();
        let (short, long) = (make(), make());
        let x = normal(seed, &[b, t, c]);
        let lengths: Vec<usize> = (0..b).map(|i| t - i % t.min(2)).collect();
        let padded = x.pad_with_zeros(1, 0, extra).unwrap();
        let y1 = short.forward(&Seq::new(x).unwrap().with_lengths(&lengths).unwrap(), Mode::Train).unwrap();
        let y2 = long.forward(&Seq::new(padded).unwrap().with_lengths(&lengths).unwrap(), Mode::Train).unwrap();
        let real = y2.values().narrow(1, 0, t).unwrap();
        let m = y1.mask().unwrap().unsqueeze(2).unwrap().to_dtype(DType::F64).unwrap();
        prop_assert!(max_diff(&y1.values().broadcast_mul(&m).unwrap(), &real.broadcast_mul(&m).unwrap()) < 1e-12);
        prop_assert!(max_diff(short.running_stats().1, long.running_stats().1) < 1e-12);
        // Standardised: mean 0 and variance 1 per channel over the real steps.
        let n: f64 = lengths.iter().sum::<usize>() as f64;
        let ym = y1.values().broadcast_mul(&m).unwrap();
        let mean = (ym.sum((0, 1)).unwrap() / n).unwrap();
        let var = (ym.sqr().unwrap().sum((0, 1)).unwrap() / n).unwrap();
        prop_assert!(mean.abs().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap() < 1e-9);
        prop_assert!(max_diff(&var, &var.ones_like().unwrap()) < 1e-9 || n < 2.0);
    }
}
