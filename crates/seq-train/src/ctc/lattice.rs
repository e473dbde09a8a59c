//! The CTC lattice of one sequence: the forward (`alpha`) and backward
//! (`beta`) recursions of Graves et al. (2006) in log space, the negative
//! log-likelihood they give, and its gradient with respect to the log
//! probabilities. Everything is computed in f64, whatever the tensor's type.
//!
//! The extended label `l'` puts a blank before, between and after the
//! labels: `l' = (blank, l1, blank, l2, ..., lS, blank)`, `2S + 1` states.
//! `alpha_t(s)` is the log probability of the paths over steps `0..=t`
//! that end in state `s`, `beta_t(s)` that of the paths over `t..T` that
//! start in it; both include step `t`'s emission, as in PyTorch.

/// `log(e^a + e^b)`, exact when either is minus infinity.
pub(super) fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// One sequence of the batch: its log probabilities `[time, classes]`
/// (only the first `len` steps count) and its extended label.
pub(super) struct Sequence<'a, T> {
    /// Row-major `[time, classes]`.
    pub lp: &'a [T],
    pub classes: usize,
    pub len: usize,
    /// `l'`: blank, label, blank, ..., blank.
    pub ext: &'a [u32],
}

impl<T: Copy + Into<f64>> Sequence<'_, T> {
    fn at(&self, t: usize, s: usize) -> f64 {
        self.lp[t * self.classes + self.ext[s] as usize].into()
    }

    /// Whether state `s` may be reached from `s - 2` (skipping a blank):
    /// only a label that differs from the label before it.
    fn skips(&self, s: usize) -> bool {
        s >= 2 && self.ext[s] != self.ext[0] && self.ext[s] != self.ext[s - 2]
    }

    /// `alpha`, row-major `[len, 2S + 1]`.
    pub fn alpha(&self) -> Vec<f64> {
        let n = self.ext.len();
        let mut a = vec![f64::NEG_INFINITY; self.len * n];
        if self.len == 0 {
            return a;
        }
        a[0] = self.at(0, 0);
        if n > 1 {
            a[1] = self.at(0, 1);
        }
        for t in 1..self.len {
            let (prev, row) = a[(t - 1) * n..(t + 1) * n].split_at_mut(n);
            for s in 0..n {
                let mut sum = prev[s];
                if s >= 1 {
                    sum = log_add(sum, prev[s - 1]);
                }
                if self.skips(s) {
                    sum = log_add(sum, prev[s - 2]);
                }
                row[s] = sum + self.at(t, s);
            }
        }
        a
    }

    /// `beta`, row-major `[len, 2S + 1]`.
    pub fn beta(&self) -> Vec<f64> {
        let n = self.ext.len();
        let mut b = vec![f64::NEG_INFINITY; self.len * n];
        if self.len == 0 {
            return b;
        }
        let last = self.len - 1;
        b[last * n + n - 1] = self.at(last, n - 1);
        if n > 1 {
            b[last * n + n - 2] = self.at(last, n - 2);
        }
        for t in (0..last).rev() {
            let (row, next) = b[t * n..(t + 2) * n].split_at_mut(n);
            for s in 0..n {
                let mut sum = next[s];
                if s + 1 < n {
                    sum = log_add(sum, next[s + 1]);
                }
                if s + 2 < n && self.skips(s + 2) {
                    sum = log_add(sum, next[s + 2]);
                }
                row[s] = sum + self.at(t, s);
            }
        }
        b
    }

    /// `-log p(l | x)` from `alpha`: infinite when no path fits.
    pub fn nll(&self, alpha: &[f64]) -> f64 {
        let n = self.ext.len();
        if self.len == 0 {
            // The empty path: the empty label has probability 1, any other 0.
            return if n == 1 { 0.0 } else { f64::INFINITY };
        }
        let row = &alpha[(self.len - 1) * n..];
        let end = if n > 1 {
            log_add(row[n - 1], row[n - 2])
        } else {
            row[0]
        };
        -end
    }

    /// `-log p(l | x)` and `d nll / d lp`, row-major `[time, classes]`
    /// (zero after `len`), times `scale`:
    ///
    /// ```text
    /// d nll / d lp_t(c) = -exp(log sum_{s: l'_s = c} alpha_t(s) beta_t(s) - lp_t(c) + nll)
    /// ```
    ///
    /// the gradient with respect to the log probabilities themselves (not,
    /// as PyTorch's `ctc_loss` returns, the one already composed with a
    /// log-softmax; the two agree once the log-softmax's backward is
    /// applied). Zero when `nll` is infinite: no path, nothing to follow.
    pub fn nll_and_grad(&self, scale: f64, time: usize) -> (f64, Vec<f64>) {
        let c = self.classes;
        let mut g = vec![0.0; time * c];
        let alpha = self.alpha();
        let nll = self.nll(&alpha);
        if !nll.is_finite() || scale == 0.0 {
            return (nll, g);
        }
        let beta = self.beta();
        let n = self.ext.len();
        let mut through = vec![f64::NEG_INFINITY; c];
        for t in 0..self.len {
            through.fill(f64::NEG_INFINITY);
            for s in 0..n {
                let k = self.ext[s] as usize;
                through[k] = log_add(through[k], alpha[t * n + s] + beta[t * n + s]);
            }
            for (k, &ab) in through.iter().enumerate() {
                if ab > f64::NEG_INFINITY {
                    let lp: f64 = self.lp[t * c + k].into();
                    g[t * c + k] = -(ab - lp + nll).exp() * scale;
                }
            }
        }
        (nll, g)
    }
}

/// The extended label of `labels`: `2 S + 1` states.
pub(super) fn extend(labels: &[u32], blank: u32) -> Vec<u32> {
    let mut ext = Vec::with_capacity(2 * labels.len() + 1);
    ext.push(blank);
    for &l in labels {
        ext.push(l);
        ext.push(blank);
    }
    ext
}
