//! Numerical gradient checking: compare backward's gradients with central finite differences.
//!
//! For every element `x_j` of every checked input, the numeric derivative of the output is
//! `(f(x_j + eps) - f(x_j - eps)) / (2 eps)`, whose error is O(eps^2) from truncation plus
//! O(machine epsilon / eps) from rounding; in f64 with eps = 1e-6 both are far below the
//! tolerances, so any disagreement is a bug in a backward, not noise. A non-scalar output is
//! reduced to the scalar `sum(out * R)` with fixed random weights `R`, so every output element
//! takes part with a different weight.
//!
//! An element passes when `|analytic - numeric| <= atol + rtol * |numeric|`. The defaults are
//! PyTorch's `gradcheck` ones (eps 1e-6, atol 1e-5, rtol 1e-3) and pass for smooth ops in f64.
//! Ops with kinks (relu, abs, max) must be checked away from the kink.

use std::fmt;

use tensor::{Tensor, rng_from_seed};

use crate::mode::no_grad;
use crate::var::Var;

/// Settings of a gradient check. `GradCheck::default()` uses PyTorch's tolerances.
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numeric value).
    pub rtol: f64,
    /// Seed of the random weights that reduce a non-scalar output to a scalar.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-6, atol: 1e-5, rtol: 1e-3, seed: 0x5eed }
    }
}

/// The result for one checked input.
#[derive(Clone, Debug)]
pub struct InputCheck {
    /// The input's name (`input 0`, ... or the name given to [`GradCheck::check_vars`]).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Largest |analytic - numeric| over its elements.
    pub max_abs_err: f64,
    /// Largest |analytic - numeric| / max(|numeric|, tiny) over its elements.
    pub max_rel_err: f64,
    /// Multi-index of the element furthest out of tolerance (or with the largest error).
    pub worst_index: Vec<usize>,
    /// Backward's value at `worst_index`.
    pub worst_analytic: f64,
    /// The finite-difference value at `worst_index`.
    pub worst_numeric: f64,
    /// How many elements are out of tolerance.
    pub failures: usize,
    /// True when backward gave this input no gradient at all.
    pub missing_gradient: bool,
}

impl InputCheck {
    /// True when every element is within tolerance.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }
}

/// The results of a gradient check, one entry per input.
#[derive(Clone, Debug)]
pub struct GradCheckReport {
    /// One entry per checked input, in order.
    pub inputs: Vec<InputCheck>,
    /// The tolerances used.
    pub atol: f64,
    /// The tolerances used.
    pub rtol: f64,
    /// 1 for a [`GradCheck`], 2 for a [`crate::GradGradCheck`] (the gradients of the gradients).
    pub order: usize,
}

impl GradCheckReport {
    /// True when every input passed.
    pub fn passed(&self) -> bool {
        self.inputs.iter().all(InputCheck::passed)
    }
}

impl fmt::Display for GradCheckReport {
    /// A table: input, shape, max abs error, max rel error, pass.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.inputs.iter().map(|i| i.name.len()).max().unwrap_or(5).max(5);
        writeln!(f, "{:<w$}  {:<16}  {:>12}  {:>12}  pass", "input", "shape", "max abs err", "max rel err")?;
        for i in &self.inputs {
            writeln!(
                f,
                "{:<w$}  {:<16}  {:>12.3e}  {:>12.3e}  {}",
                i.name,
                format!("{:?}", i.shape),
                i.max_abs_err,
                i.max_rel_err,
                if i.passed() { "yes" } else { "NO" }
            )?;
        }
        Ok(())
    }
}

/// A failed check: the report, with a message naming each failing input's worst element.
#[derive(Clone, Debug)]
pub struct GradCheckFailure {
    /// The full report.
    pub report: GradCheckReport,
}

impl fmt::Display for GradCheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.report.order == 2 {
            "second-order gradient check (gradients of the backward's gradients)"
        } else {
            "gradient check"
        };
        writeln!(f, "{what} failed (atol {:e}, rtol {:e}):", self.report.atol, self.report.rtol)?;
        for i in self.report.inputs.iter().filter(|i| !i.passed()) {
            if i.missing_gradient {
                writeln!(
                    f,
                    "  {} (shape {:?}) received no gradient, but the output depends on it: numeric derivative {:e} at {:?}",
                    i.name, i.shape, i.worst_numeric, i.worst_index
                )?;
            } else {
                writeln!(
                    f,
                    "  {} (shape {:?}): {} element(s) out of tolerance; worst at {:?}: analytic {:e}, numeric {:e} (abs err {:e})",
                    i.name,
                    i.shape,
                    i.failures,
                    i.worst_index,
                    i.worst_analytic,
                    i.worst_numeric,
                    (i.worst_analytic - i.worst_numeric).abs()
                )?;
            }
        }
        write!(f, "{}", self.report)
    }
}

impl std::error::Error for GradCheckFailure {}

fn dot(a: &Tensor<f64>, w: &[f64]) -> f64 {
    a.to_vec().iter().zip(w).map(|(x, y)| x * y).sum()
}

/// `t` with one logical element moved by `delta`, keeping `t`'s layout when its elements don't
/// overlap (so strided inputs stay strided); broadcast layouts become contiguous.
fn perturbed(t: &Tensor<f64>, flat: usize, delta: f64) -> Tensor<f64> {
    let overlapping = t.shape().iter().zip(t.strides()).any(|(&d, &s)| d > 1 && s == 0);
    if overlapping {
        let mut v = t.to_vec();
        v[flat] += delta;
        return Tensor::from_vec(v, t.shape());
    }
    let mut storage = (**t.storage()).clone();
    storage[t.layout().index_of(&tensor::unravel_index(flat, t.shape()))] += delta;
    Tensor::from_storage(std::sync::Arc::new(storage), t.layout().clone())
}

impl GradCheck {
    /// Checks the gradients of `f` with respect to fresh variables made from `inputs`
    /// (named `input 0`, `input 1`, ...). `f` must be deterministic (no dropout).
    ///
    /// The finite differences evaluate `f` under [`crate::no_grad`], so nothing is recorded. A
    /// function that takes a gradient itself (a gradient penalty) must switch recording back on
    /// for that inner forward, `let _on = GradModeGuard::set(true);`, and pass
    /// `create_graph = is_grad_enabled()` as read on entry, which is what [`crate::GradGradCheck`]
    /// does.
    pub fn check(
        &self,
        inputs: &[Tensor<f64>],
        f: impl Fn(&[Var<f64>]) -> Var<f64>,
    ) -> Result<GradCheckReport, GradCheckFailure> {
        let vars: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
        let named: Vec<(String, Var<f64>)> =
            vars.iter().enumerate().map(|(i, v)| (format!("input {i}"), v.clone())).collect();
        self.check_vars(&named, || f(&vars))
    }

    /// Like [`GradCheck::check`], but panics with the failure message.
    #[track_caller]
    pub fn assert(&self, inputs: &[Tensor<f64>], f: impl Fn(&[Var<f64>]) -> Var<f64>) -> GradCheckReport {
        match self.check(inputs, f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Checks the gradients of `f()` with respect to existing leaf variables (a layer's or a
    /// model's parameters), each with a name for the report. Each leaf's value is restored.
    pub fn check_vars(
        &self,
        vars: &[(String, Var<f64>)],
        f: impl Fn() -> Var<f64>,
    ) -> Result<GradCheckReport, GradCheckFailure> {
        let out = f();
        let weights = Tensor::<f64>::rand_uniform_with(&out.shape(), 0.5, 1.5, &mut rng_from_seed(self.seed));
        let w = weights.to_vec();
        let grads = out.backward_with_grad(&weights);
        drop(out);

        let mut report = GradCheckReport { inputs: Vec::new(), atol: self.atol, rtol: self.rtol, order: 1 };
        for (name, var) in vars {
            let original = var.value();
            let analytic = grads.get(var).map(|g| g.to_vec());
            let mut check = InputCheck {
                name: name.clone(),
                shape: original.shape().to_vec(),
                max_abs_err: 0.0,
                max_rel_err: 0.0,
                worst_index: vec![],
                worst_analytic: 0.0,
                worst_numeric: 0.0,
                failures: 0,
                missing_gradient: analytic.is_none(),
            };
            let mut worst_score = f64::NEG_INFINITY;
            for j in 0..original.numel() {
                let numeric = no_grad(|| {
                    var.set_value(perturbed(&original, j, self.eps));
                    let plus = dot(&f().value(), &w);
                    var.set_value(perturbed(&original, j, -self.eps));
                    let minus = dot(&f().value(), &w);
                    (plus - minus) / (2.0 * self.eps)
                });
                let a = analytic.as_ref().map_or(0.0, |g| g[j]);
                let err = (a - numeric).abs();
                let allowed = self.atol + self.rtol * numeric.abs();
                check.max_abs_err = check.max_abs_err.max(err);
                check.max_rel_err = check.max_rel_err.max(err / numeric.abs().max(1e-12));
                if err > allowed {
                    check.failures += 1;
                }
                // The worst element is the one furthest beyond its allowance.
                let score = err - allowed;
                if score > worst_score {
                    worst_score = score;
                    check.worst_index = tensor::unravel_index(j, original.shape());
                    check.worst_analytic = a;
                    check.worst_numeric = numeric;
                }
            }
            var.set_value(original);
            report.inputs.push(check);
        }
        if report.passed() { Ok(report) } else { Err(GradCheckFailure { report }) }
    }
}
