//! [`Embedding`]: token ids to vectors; a padding id makes the mask.

use std::fmt;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::{Error, Init, Mode, Module, Result, Seq};

/// The sizes of an [`Embedding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EmbeddingConfig {
    /// Vocabulary size.
    pub num_embeddings: usize,
    /// Vector width.
    pub embedding_dim: usize,
    /// The id that marks padding, if any (seq's tokenizers use 0).
    pub padding_idx: Option<u32>,
}

impl EmbeddingConfig {
    /// A vocabulary of `num_embeddings` ids mapped to `embedding_dim`-wide vectors.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        EmbeddingConfig {
            num_embeddings,
            embedding_dim,
            padding_idx: None,
        }
    }

    /// Treats `id` as padding: it embeds to zeros, gets no gradient, and the
    /// output's mask is 0 where it occurs.
    pub fn with_padding_idx(mut self, id: u32) -> Self {
        self.padding_idx = Some(id);
        self
    }
}

/// A lookup table of word vectors, PyTorch's `nn.Embedding`.
///
/// Parameter (PyTorch name): `weight` `[num_embeddings, embedding_dim]`,
/// initialised `N(0, 1)` as PyTorch does.
///
/// With a padding id, every occurrence embeds to a zero vector that passes
/// no gradient to the table (what PyTorch's `padding_idx` gives), and the
/// output [`Seq`] carries the mask `ids != padding_idx` (what Keras'
/// `mask_zero=True` gives), combined with any mask the input had.
#[derive(Debug, Clone)]
pub struct Embedding {
    weight: Tensor,
    config: EmbeddingConfig,
}

impl Embedding {
    /// Creates (or loads) `weight` under `vb`.
    pub fn new(config: EmbeddingConfig, vb: VarBuilder) -> Result<Self> {
        let (n, d) = (config.num_embeddings, config.embedding_dim);
        if n == 0 || d == 0 {
            return Err(Error::config(
                "Embedding",
                format!("sizes must be positive, got num_embeddings={n}, embedding_dim={d}"),
            ));
        }
        if let Some(p) = config.padding_idx.filter(|&p| p as usize >= n) {
            return Err(Error::config(
                "Embedding",
                format!("padding_idx {p} is outside the vocabulary of {n}"),
            ));
        }
        let init = Init::Normal {
            mean: 0.0,
            std: 1.0,
        }
        .to_hint(&(n, d).into())?;
        let weight = vb.get_with_hints((n, d), "weight", init)?;
        Ok(Embedding { weight, config })
    }

    /// The table `[num_embeddings, embedding_dim]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Looks up a tensor of ids of any shape `[...]`.
    ///
    /// # Returns
    /// `[..., embedding_dim]`; rows of the padding id are zeros.
    pub fn apply(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.lookup(ids)?.0)
    }

    /// The vectors and, with a padding id, the 0/1 mask `[...]` of real ids.
    fn lookup(&self, ids: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let n = self.config.num_embeddings;
        let ids = ids.to_dtype(DType::U32)?;
        let max = ids.flatten_all()?.max(0)?.to_scalar::<u32>()? as usize;
        if max >= n {
            return Err(Error::config(
                "Embedding",
                format!("token id {max} is outside the vocabulary of {n}"),
            ));
        }
        let mut dims = ids.dims().to_vec();
        dims.push(self.config.embedding_dim);
        let vectors = self
            .weight
            .index_select(&ids.flatten_all()?, 0)?
            .reshape(dims)?;
        match self.config.padding_idx {
            None => Ok((vectors, None)),
            Some(p) => {
                let real = ids.ne(p)?.to_dtype(self.weight.dtype())?;
                let vectors = vectors.broadcast_mul(&real.unsqueeze(real.rank())?)?;
                Ok((vectors, Some(real)))
            }
        }
    }
}

impl Module for Embedding {
    /// Takes token ids `[batch, time]` (see [`Seq::from_ids`]).
    fn forward(&self, xs: &Seq, _mode: Mode) -> Result<Seq> {
        if !xs.is_ids() {
            return Err(Error::shape(
                "Embedding",
                "token ids",
                "[batch, time] integers",
                xs.values().dims(),
            ));
        }
        let (vectors, pad_mask) = self.lookup(xs.values())?;
        let out = Seq::new(vectors)?;
        let mask = match (xs.mask(), pad_mask) {
            (Some(a), Some(b)) => Some(a.to_dtype(b.dtype())?.mul(&b)?),
            (Some(a), None) => Some(a.clone()),
            (None, b) => b,
        };
        match mask {
            Some(m) => out.with_mask(m),
            None => Ok(out),
        }
    }
}

impl candle_core::Module for Embedding {
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(ids).map_err(candle_core::Error::wrap)
    }
}

impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        write!(
            f,
            "Embedding({}, {}, padding_idx={:?}; {} params)",
            c.num_embeddings,
            c.embedding_dim,
            c.padding_idx,
            c.num_embeddings * c.embedding_dim
        )
    }
}

#[cfg(feature = "serde")]
impl crate::pretrained::Pretrained for Embedding {
    type Config = EmbeddingConfig;
    const MODEL_TYPE: &'static str = "embedding";

    fn build(config: &EmbeddingConfig, vb: VarBuilder) -> Result<Self> {
        Embedding::new(*config, vb)
    }

    fn pretrained_config(&self) -> EmbeddingConfig {
        self.config
    }
}
