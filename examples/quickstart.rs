//! Quickstart: seq as a library, in one page. An LSTM reads sequences of
//! 20 noisy numbers and says whether their mean is above zero; the trainer
//! fits it and reports the validation accuracy. (The README's "Use it as a
//! library" shows this file; a tidy test keeps the two the same.)
use seq::candle_core::{DType, Device, Tensor};
use seq::core::{Linear, LinearConfig, Mode, Params, Result, Rng, Seq};
use seq::recurrent::{topology::last_layer_state, Lstm, Recurrent, RecurrentConfig};
use seq::train::{loss, OptimizerConfig, Task, Trainer, TrainerConfig};

/// Values `[batch, 20, 1]` and labels `[batch]` (1: mean above zero).
#[derive(Clone)]
struct Batch {
    x: Tensor,
    y: Tensor,
}

fn batch(rng: &mut Rng) -> Result<Batch> {
    let x: Vec<f32> = (0..32 * 20).map(|_| rng.normal() as f32).collect();
    let y: Vec<u32> = x
        .chunks(20)
        .map(|s| u32::from(s.iter().sum::<f32>() > 0.0))
        .collect();
    let x = Tensor::from_vec(x, (32, 20, 1), &Device::Cpu)?;
    Ok(Batch {
        x,
        y: Tensor::from_vec(y, 32, &Device::Cpu)?,
    })
}

/// The LSTM's last state, then a linear layer to two logits.
struct Model {
    lstm: Lstm,
    head: Linear,
}

impl Model {
    fn logits(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (_, state) = self
            .lstm
            .forward_with_state(&Seq::new(x.clone())?, None, mode)?;
        self.head
            .apply(&last_layer_state(&state, self.lstm.config())?)
    }
}

impl Task<Batch> for Model {
    fn loss(&self, b: &Batch, mode: Mode) -> Result<Tensor> {
        loss::cross_entropy(&self.logits(&b.x, mode)?, &b.y, None, 0.0)
    }

    fn metrics(&self, batches: &[Batch]) -> Result<Vec<(String, f64)>> {
        let mut right = 0.0;
        for b in batches {
            let hits = self.logits(&b.x, Mode::Eval)?.argmax(1)?.eq(&b.y)?;
            right += hits.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        }
        Ok(vec![(
            "accuracy".into(),
            right / (32 * batches.len()) as f64,
        )])
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let params = Params::new(0); // the seed of every weight
    let vb = params.var_builder(DType::F32, &Device::Cpu);
    let lstm = Lstm::new(RecurrentConfig::new(1, 16), vb.pp("lstm"))?;
    let model = Model {
        lstm,
        head: Linear::new(LinearConfig::new(16, 2), vb.pp("head"))?,
    };
    let mut rng = Rng::new(1);
    let train = (0..100)
        .map(|_| batch(&mut rng))
        .collect::<Result<Vec<_>>>()?;
    let val = (0..10)
        .map(|_| batch(&mut rng))
        .collect::<Result<Vec<_>>>()?;
    let optimizer = OptimizerConfig::adamw(0.01).build(params.named_vars())?;
    let mut trainer = Trainer::new(TrainerConfig::new(5), params.clone(), optimizer);
    let history = trainer.fit(&model, &train, Some(&val))?;
    println!(
        "validation accuracy {:.3}",
        history.series("val_accuracy").last().unwrap_or(&0.0)
    );
    params.save("runs/quickstart/model.safetensors")?; // PyTorch names: lstm.weight_ih_l0, ...
    Ok(())
}
