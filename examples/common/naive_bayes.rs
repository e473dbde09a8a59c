//! The `nb-bag` encoder's start ([`Kind::NbBag`](super::encoder::Kind)):
//! Naive-Bayes log-count ratios from the training texts, zero weights.

use candle_core::Tensor;
use seq::core::Params;
use seq::data::pipeline::log_count_ratios;

use super::encoder::RATIOS;
use super::Error;

/// Readies a classifier whose encoder is the Naive-Bayes bag for training
/// on `texts` and `labels`: its ratios (`encoder.ratios`) set from them and
/// frozen, its word weights (`embedding.weight`) zero, as NBSVM starts.
pub fn prepare(params: &Params, texts: &[Vec<u32>], labels: &[u32]) -> Result<(), Error> {
    let find = |name: &str| {
        params
            .get(name)
            .ok_or_else(|| format!("the model has no `{name}`: not a Naive-Bayes bag"))
    };
    let ratios = find(&format!("encoder.{RATIOS}"))?;
    let weights = find("embedding.weight")?;
    let vocab = ratios.dims()[0];
    let r = log_count_ratios(texts, labels, vocab)?;
    ratios.set(&Tensor::from_vec(r, (vocab, 1), ratios.device())?.to_dtype(ratios.dtype())?)?;
    weights.set(&weights.zeros_like()?)?;
    params.freeze(&format!("encoder.{RATIOS}"))?;
    Ok(())
}
