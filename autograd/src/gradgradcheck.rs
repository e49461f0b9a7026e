//! Second-order gradient checking: is the gradient's own gradient right?
//!
//! [`GradCheck`] checks a backward. This checks the backward *of* the backward, which is what
//! `create_graph` records (see [`crate::grad_with`]). For a function `y = f(x_1, ..., x_n)` it
//! draws a random output gradient `v` (shape of `y`) and forms the vector-Jacobian products
//!
//! ```text
//! g_i(x, v) = v^T dy/dx_i          (one per input, with create_graph)
//! ```
//!
//! then gradient-checks the function `(x_1, ..., x_n, v) -> (g_1, ..., g_n)` exactly as
//! [`GradCheck`] checks any function: analytic gradients (a backward through the recorded
//! backward) against central differences of the `g_i` (each a plain first-order backward). It is
//! PyTorch's `gradgradcheck`, with its defaults (f64, eps 1e-6, atol 1e-5, rtol 1e-3).
//!
//! The check of `v` tests that the backward is linear in the incoming gradient the way it should
//! be; the checks of the `x_i` test the second derivatives. The several `g_i` are reduced to one
//! scalar `sum_i sum(g_i * R_i)` with fixed random weights `R_i`, so every element takes part.

use tensor::{Tensor, rng_from_seed};

use crate::backward::grad_with;
use crate::gradcheck::{GradCheck, GradCheckFailure, GradCheckReport};
use crate::mode::{GradModeGuard, is_grad_enabled};
use crate::var::Var;

/// Settings of a second-order gradient check. `GradGradCheck::default()` uses PyTorch's
/// `gradgradcheck` tolerances, the same as [`GradCheck::default`].
///
/// ```
/// use autograd::{GradGradCheck, Var};
/// use tensor::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![0.3, -1.2, 0.7], &[3]);
/// // The second derivatives of tanh(x) * x, checked by differentiating its backward.
/// GradGradCheck::default().assert(&[x], |v| v[0].tanh().mul(&v[0]));
/// ```
#[derive(Clone, Debug)]
pub struct GradGradCheck {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numeric value).
    pub rtol: f64,
    /// Seed of the random output gradient `v` and of the weights that reduce the gradients to one
    /// scalar.
    pub seed: u64,
}

impl Default for GradGradCheck {
    fn default() -> Self {
        let first = GradCheck::default();
        GradGradCheck { eps: first.eps, atol: first.atol, rtol: first.rtol, seed: first.seed }
    }
}

impl GradGradCheck {
    /// Checks the second-order gradients of `f` with respect to fresh variables made from
    /// `inputs` (named `input 0`, `input 1`, ..., and `grad_output` for `v`). `f` must be
    /// deterministic (no dropout) and must use ops whose backward is differentiable.
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

    /// Like [`GradGradCheck::check`], but panics with the failure message.
    #[track_caller]
    pub fn assert(&self, inputs: &[Tensor<f64>], f: impl Fn(&[Var<f64>]) -> Var<f64>) -> GradCheckReport {
        match self.check(inputs, f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// Checks the second-order gradients of `f()` with respect to existing leaf variables (a
    /// layer's parameters and its input), each with a name for the report; the random output
    /// gradient is reported as `grad_output`. Each leaf's value is restored.
    pub fn check_vars(
        &self,
        vars: &[(String, Var<f64>)],
        f: impl Fn() -> Var<f64>,
    ) -> Result<GradCheckReport, GradCheckFailure> {
        let mut rng = rng_from_seed(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        let out_shape = f().shape();
        let v = Var::parameter(Tensor::<f64>::rand_uniform_with(&out_shape, -1.0, 1.0, &mut rng));
        let weights: Vec<Tensor<f64>> =
            vars.iter().map(|(_, x)| Tensor::<f64>::rand_uniform_with(&x.shape(), 0.5, 1.5, &mut rng)).collect();
        let inputs: Vec<&Var<f64>> = vars.iter().map(|(_, x)| x).collect();

        // sum_i sum(g_i * R_i), where g_i = v^T dy/dx_i. When the checker wants analytic
        // gradients, recording is on and the backward is recorded (create_graph); when it
        // evaluates finite differences, recording is off and one first-order backward gives the
        // g_i's values, with recording switched on just for the forward it differentiates.
        let gradients_reduced = || {
            let create_graph = is_grad_enabled();
            let _record = GradModeGuard::set(true);
            let y = f();
            if !y.requires_grad() {
                tensor::op_panic("GradGradCheck", "the output does not depend on any checked input".to_string());
            }
            let g = grad_with(&[&y], &[&v], &inputs, create_graph);
            let _mode = GradModeGuard::set(create_graph);
            // `v * 0` keeps the result in the graph when no input received a gradient, so the
            // check reports the missing gradients instead of failing to start.
            let mut total = v.mul_scalar(0.0).sum_all();
            for (gi, w) in g.iter().zip(&weights) {
                if let Some(gi) = gi {
                    total = total.add(&gi.mul(&Var::constant(w.clone())).sum_all());
                }
            }
            total
        };

        let first = GradCheck { eps: self.eps, atol: self.atol, rtol: self.rtol, seed: self.seed };
        let mut named: Vec<(String, Var<f64>)> = vars.to_vec();
        named.push(("grad_output".to_string(), v.clone()));
        first.check_vars(&named, gradients_reduced).map(second_order).map_err(|mut e| {
            e.report = second_order(e.report);
            e
        })
    }
}

/// Marks a report as coming from a second-order check, so its message says so.
fn second_order(mut report: GradCheckReport) -> GradCheckReport {
    report.order = 2;
    report
}
