//! [`Seq`]: a batch of sequences with an optional padding mask, the value
//! that flows between every seq layer.

use candle_core::{DType, Tensor};

use crate::{Error, Result};

/// A batch of sequences: `values` and an optional padding `mask`.
///
/// - `values`: `[batch, time, features]` (batch-first everywhere), or
///   `[batch, time]` integer token ids on their way into an
///   [`Embedding`](crate::Embedding).
/// - `mask`: `[batch, time]`, 1 at a real step and 0 at padding, stored in
///   the values' float dtype (`f32` for token ids) so that it multiplies
///   directly. Masks flow through layers the way Keras propagates them: an
///   embedding with a padding id makes one, recurrent layers honour it,
///   pooling and attention ignore padded steps.
#[derive(Debug, Clone)]
pub struct Seq {
    values: Tensor,
    mask: Option<Tensor>,
}

impl Seq {
    /// A batch of float sequences `[batch, time, features]` with no padding.
    pub fn new(values: Tensor) -> Result<Self> {
        if values.rank() != 3 {
            return Err(Error::shape(
                "Seq",
                "values",
                "[batch, time, features]",
                values.dims(),
            ));
        }
        Ok(Seq { values, mask: None })
    }

    /// A batch of token ids `[batch, time]` (`u8`, `u32` or `i64`).
    pub fn from_ids(ids: Tensor) -> Result<Self> {
        if ids.rank() != 2 {
            return Err(Error::shape(
                "Seq",
                "token ids",
                "[batch, time]",
                ids.dims(),
            ));
        }
        if ids.dtype().is_float() {
            return Err(Error::DType {
                op: "Seq::from_ids".into(),
                expected: "an integer dtype (u8, u32, i64)".into(),
                actual: ids.dtype(),
            });
        }
        Ok(Seq {
            values: ids,
            mask: None,
        })
    }

    /// The same values with a padding mask `[batch, time]`; any non-zero
    /// entry marks a real step.
    pub fn with_mask(self, mask: Tensor) -> Result<Self> {
        let (b, t) = (self.batch(), self.time());
        if mask.dims() != [b, t] {
            return Err(Error::shape(
                "Seq",
                "mask",
                format!("[{b}, {t}] (the values' [batch, time])"),
                mask.dims(),
            ));
        }
        let dtype = self.mask_dtype();
        let mask = mask.ne(0u8)?.to_dtype(dtype)?;
        Ok(Seq {
            values: self.values,
            mask: Some(mask),
        })
    }

    /// A mask from the lengths of the sequences: step `t` of sequence `b` is
    /// real when `t < lengths[b]`.
    pub fn with_lengths(self, lengths: &[usize]) -> Result<Self> {
        let (b, t) = (self.batch(), self.time());
        if lengths.len() != b || lengths.iter().any(|&l| l > t) {
            return Err(Error::shape(
                "Seq",
                "lengths",
                format!("{b} lengths, each at most {t}"),
                lengths,
            ));
        }
        let flat: Vec<f32> = lengths
            .iter()
            .flat_map(|&l| (0..t).map(move |i| if i < l { 1.0 } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(flat, (b, t), self.values.device())?;
        self.with_mask(mask)
    }

    /// The values: `[batch, time, features]` or `[batch, time]` ids.
    pub fn values(&self) -> &Tensor {
        &self.values
    }

    /// The mask `[batch, time]` (1 = real, 0 = padding), if any.
    pub fn mask(&self) -> Option<&Tensor> {
        self.mask.as_ref()
    }

    /// Takes the values and the mask apart.
    pub fn into_parts(self) -> (Tensor, Option<Tensor>) {
        (self.values, self.mask)
    }

    /// The number of sequences in the batch.
    pub fn batch(&self) -> usize {
        self.values.dims()[0]
    }

    /// The number of time steps (padded length).
    pub fn time(&self) -> usize {
        self.values.dims()[1]
    }

    /// The feature width (1 for token ids).
    pub fn features(&self) -> usize {
        self.values.dims().get(2).copied().unwrap_or(1)
    }

    /// True when the values are token ids rather than float features.
    pub fn is_ids(&self) -> bool {
        self.values.rank() == 2
    }

    /// New values of the same batch and length, keeping this mask.
    pub fn with_values(&self, values: Tensor) -> Result<Self> {
        let (b, t) = (self.batch(), self.time());
        if values.rank() != 3 || values.dims()[..2] != [b, t] {
            return Err(Error::shape(
                "Seq",
                "new values",
                format!("[{b}, {t}, features]"),
                values.dims(),
            ));
        }
        Ok(Seq {
            values,
            mask: self.mask.clone(),
        })
    }

    /// The length of each sequence: its number of real steps.
    pub fn lengths(&self) -> Result<Vec<usize>> {
        match &self.mask {
            None => Ok(vec![self.time(); self.batch()]),
            Some(m) => Ok(m
                .to_dtype(DType::F32)?
                .sum(1)?
                .to_vec1::<f32>()?
                .into_iter()
                .map(|l| l as usize)
                .collect()),
        }
    }

    /// Checks that the values are `[batch, time, features]` float sequences
    /// for `layer`.
    pub fn expect_features(&self, layer: &str, features: usize) -> Result<()> {
        if self.values.rank() != 3 || self.features() != features {
            return Err(Error::shape(
                layer,
                "input",
                format!("[batch, time, {features}]"),
                self.values.dims(),
            ));
        }
        Ok(())
    }

    fn mask_dtype(&self) -> DType {
        match self.values.dtype() {
            d if d.is_float() => d,
            _ => DType::F32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn lengths_round_trip_through_the_mask() -> Result<()> {
        let x = Tensor::zeros((3, 4, 2), DType::F64, &Device::Cpu)?;
        let s = Seq::new(x)?.with_lengths(&[4, 1, 2])?;
        assert_eq!(s.lengths()?, vec![4, 1, 2]);
        assert_eq!(s.mask().map(|m| m.dtype()), Some(DType::F64));
        Ok(())
    }

    #[test]
    fn wrong_mask_shape_names_both_shapes() -> Result<()> {
        let x = Tensor::zeros((3, 4, 2), DType::F32, &Device::Cpu)?;
        let m = Tensor::ones((3, 5), DType::F32, &Device::Cpu)?;
        let err = Seq::new(x)?.with_mask(m).unwrap_err().to_string();
        assert!(err.contains("[3, 4]") && err.contains("[3, 5]"), "{err}");
        Ok(())
    }

    #[test]
    fn rank_two_floats_are_not_a_seq() {
        let x = Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(Seq::new(x.clone()).is_err());
        assert!(Seq::from_ids(x).is_err());
    }
}
