//! What the trainer's test binaries share: a small model with dropout, its
//! synthetic data and a fresh temporary folder.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use seq_core::{Activation, Dropout, Linear, LinearConfig, Mode, Params, Result, Rng};
use seq_train::Task;

/// y = sin(3 x1) + x2^2 / 2, learned by a small MLP with dropout.
pub struct Mlp {
    pub l1: Linear,
    pub l2: Linear,
    pub drop: Dropout,
    pub scale: f64,
}

pub type Batch = (Tensor, Tensor);

impl Task<Batch> for Mlp {
    fn loss(&self, (x, y): &Batch, mode: Mode) -> Result<Tensor> {
        let h = self
            .drop
            .apply(&Activation::Tanh.apply(&self.l1.apply(x)?)?, mode)?;
        let pred = (self.l2.apply(&h)? * self.scale)?;
        seq_train::loss::mse(&pred, y)
    }

    fn metrics(&self, batches: &[Batch]) -> Result<Vec<(String, f64)>> {
        let mut worst: f64 = 0.0;
        for (x, y) in batches {
            let h = Activation::Tanh.apply(&self.l1.apply(x)?)?;
            let err = ((self.l2.apply(&h)? * self.scale)? - y)?
                .abs()?
                .max(0)?
                .max(0)?
                .to_scalar::<f64>()?;
            worst = worst.max(err);
        }
        Ok(vec![("max_error".into(), worst)])
    }

    fn size(&self, (x, _): &Batch) -> usize {
        x.dims()[0]
    }
}

pub fn model(seed: u64, p_drop: f64) -> (Params, Mlp) {
    model_in(seed, p_drop, DType::F64)
}

pub fn model_in(seed: u64, p_drop: f64, dtype: DType) -> (Params, Mlp) {
    let p = Params::new(seed);
    let vb = p.var_builder(dtype, &Device::Cpu);
    let m = Mlp {
        l1: Linear::new(LinearConfig::new(2, 32), vb.pp("l1")).unwrap(),
        l2: Linear::new(LinearConfig::new(32, 1), vb.pp("l2")).unwrap(),
        drop: Dropout::new(p_drop, 5).unwrap(),
        scale: 1.0,
    };
    (p, m)
}

pub fn data(seed: u64, batches: usize) -> Vec<Batch> {
    let mut rng = Rng::new(seed);
    (0..batches)
        .map(|_| {
            let xs: Vec<f64> = (0..32 * 2).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
            let ys: Vec<f64> = xs
                .chunks(2)
                .map(|v| (3.0 * v[0]).sin() + v[1] * v[1] / 2.0)
                .collect();
            (
                Tensor::from_vec(xs, (32, 2), &Device::Cpu).unwrap(),
                Tensor::from_vec(ys, (32, 1), &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("seq-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
