//! [`gradcheck`]: finite differences against candle's backward, like
//! PyTorch's `torch.autograd.gradcheck`.
//!
//! candle drops gradients silently through some fused ops and computes
//! wrong ones in others (`../shared/CANDLE-NOTES.md` in the project lists
//! them), so every seq layer is checked with this, in f64 on the CPU.

use std::fmt;

use candle_core::{DType, Device, Tensor, Var};

use crate::{Error, Result, Rng};

/// Settings of a gradient check. The step is PyTorch's; the tolerances are
/// much tighter than PyTorch's (`atol 1e-5`, `rtol 1e-3`), which let through
/// a derivative off by 1.7e-7 (candle's GELU): in f64, central differences
/// with a step of 1e-6 are accurate to about `1e-10 * |L|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gradcheck {
    /// The finite-difference step (default `1e-6`).
    pub eps: f64,
    /// Absolute tolerance (default `1e-8`).
    pub atol: f64,
    /// Relative tolerance (default `1e-7`).
    pub rtol: f64,
    /// Seed of the random projection of the output (default 0).
    pub seed: u64,
    /// Accept a tensor that gets no gradient when its numerical gradient is
    /// zero too (default false: a missing gradient always fails).
    pub allow_unused: bool,
}

impl Default for Gradcheck {
    fn default() -> Self {
        Gradcheck {
            eps: 1e-6,
            atol: 1e-8,
            rtol: 1e-7,
            seed: 0,
            allow_unused: false,
        }
    }
}

/// The result for one checked tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCheck {
    /// The name the tensor was given.
    pub name: String,
    /// `max_i |analytic_i - numeric_i|`.
    pub max_abs_err: f64,
    /// `max_abs_err / max_i |numeric_i|` (0 when both are 0).
    pub max_rel_err: f64,
    /// candle's backward gave this tensor no gradient at all.
    pub missing: bool,
    /// Every element within `atol + rtol * |numeric|`, and not missing.
    pub passed: bool,
}

/// The result of a gradient check: one [`TensorCheck`] per tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Per tensor, in the order given.
    pub tensors: Vec<TensorCheck>,
}

impl GradcheckReport {
    /// True when every tensor passed.
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(|t| t.passed)
    }

    /// The report itself when it passed, else an error that shows it.
    pub fn ok(self) -> Result<Self> {
        match self.passed() {
            true => Ok(self),
            false => Err(Error::config("gradcheck", format!("failed:\n{self}"))),
        }
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tensors {
            let verdict = match (t.passed, t.missing) {
                (true, _) => "ok",
                (false, true) => "FAIL (no gradient from backward)",
                (false, false) => "FAIL",
            };
            writeln!(
                f,
                "{:<32} abs {:.2e}  rel {:.2e}  {verdict}",
                t.name, t.max_abs_err, t.max_rel_err
            )?;
        }
        Ok(())
    }
}

impl Gradcheck {
    /// Checks the gradient of `f` with respect to each tensor in `tensors`.
    ///
    /// `f` must read the variables (inputs and parameters alike) and return
    /// an f64 output of any shape. The output is reduced to the scalar
    /// `L = sum(f() * R)` with a fixed random `R` (a random vector-Jacobian
    /// product); for each element of each variable, the central difference
    /// `(L(x + eps) - L(x - eps)) / (2 eps)` is compared with candle's
    /// `dL/dx`. The variables are restored afterwards.
    ///
    /// # Parameters
    /// - `tensors`: named f64 CPU variables, e.g. `Params::named_vars()` plus inputs.
    /// - `f`: the function under test.
    ///
    /// # Returns
    /// One [`TensorCheck`] per tensor: max absolute and relative errors and
    /// whether the gradient was missing. `Err` only when `f` fails or a
    /// variable is not f64 on the CPU.
    pub fn run<F>(&self, tensors: &[(String, Var)], f: F) -> Result<GradcheckReport>
    where
        F: Fn() -> Result<Tensor>,
    {
        for (name, v) in tensors {
            if v.dtype() != DType::F64 || !v.device().is_cpu() {
                return Err(Error::DType {
                    op: format!("gradcheck (tensor {name:?}, device {:?})", v.device()),
                    expected: "f64 on the CPU".into(),
                    actual: v.dtype(),
                });
            }
        }
        let out = f()?;
        let mut rng = Rng::new(self.seed);
        let r: Vec<f64> = (0..out.elem_count()).map(|_| rng.normal()).collect();
        let r = Tensor::from_vec(r, out.shape(), &Device::Cpu)?;
        let loss =
            |out: Tensor| -> Result<Tensor> { Ok(out.to_dtype(DType::F64)?.mul(&r)?.sum_all()?) };
        let grads = loss(out)?.backward()?;

        let mut checks = Vec::with_capacity(tensors.len());
        for (name, var) in tensors {
            let analytic = match grads.get(var.as_tensor()) {
                Some(g) => Some(g.flatten_all()?.to_vec1::<f64>()?),
                None => None,
            };
            let numeric =
                self.numeric(var, &|| loss(f()?)?.to_scalar::<f64>().map_err(Error::from))?;
            checks.push(self.compare(name, analytic.as_deref(), &numeric));
        }
        Ok(GradcheckReport { tensors: checks })
    }

    /// Central differences of `loss` in every element of `var`.
    fn numeric(&self, var: &Var, loss: &dyn Fn() -> Result<f64>) -> Result<Vec<f64>> {
        let original = var.as_tensor().copy()?;
        let mut x = original.flatten_all()?.to_vec1::<f64>()?;
        let set = |x: &[f64]| var.set(&Tensor::from_slice(x, var.shape(), &Device::Cpu)?);
        let mut grad = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let xi = x[i];
            x[i] = xi + self.eps;
            set(&x)?;
            let plus = loss()?;
            x[i] = xi - self.eps;
            set(&x)?;
            let minus = loss()?;
            x[i] = xi;
            grad.push((plus - minus) / (2.0 * self.eps));
        }
        var.set(&original)?;
        Ok(grad)
    }

    fn compare(&self, name: &str, analytic: Option<&[f64]>, numeric: &[f64]) -> TensorCheck {
        let zeros = vec![0.0; numeric.len()];
        let a = analytic.unwrap_or(&zeros);
        let mut max_abs: f64 = 0.0;
        let mut max_num: f64 = 0.0;
        let mut within = true;
        for (&a, &n) in a.iter().zip(numeric) {
            let err = (a - n).abs();
            max_abs = max_abs.max(err);
            max_num = max_num.max(n.abs());
            // NaN on either side fails: the comparison below is then false.
            within &= err <= self.atol + self.rtol * n.abs();
        }
        let missing = analytic.is_none();
        let passed = within && (!missing || self.allow_unused);
        TensorCheck {
            name: name.to_string(),
            max_abs_err: max_abs,
            max_rel_err: if max_num > 0.0 {
                max_abs / max_num
            } else {
                max_abs
            },
            missing,
            passed,
        }
    }
}

/// [`Gradcheck::run`] with the default settings.
pub fn gradcheck<F>(tensors: &[(String, Var)], f: F) -> Result<GradcheckReport>
where
    F: Fn() -> Result<Tensor>,
{
    Gradcheck::default().run(tensors, f)
}
