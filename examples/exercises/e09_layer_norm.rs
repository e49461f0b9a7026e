//! # Exercise 9: layer norm
//!
//! ```text
//! mu = mean(x)          var = mean((x - mu)^2)          rstd = 1 / sqrt(var + eps)
//! xhat = (x - mu) rstd          y = xhat * w + b          (means over the last axis)
//! x: (4, 5)   w: (5)   b: (5)   ->   y: (4, 5)
//! ```
//!
//! You get `x`, `w`, `b` and `g = dL/dy`; return `(dx, dw, db)`.
//!
//! Think it through: `dw` and `db` are broadcast parameters (exercise 1). For `dx`, each `x_i`
//! reaches the output three ways: directly, through the mean, and through the variance. Start
//! from `gh = g * w`, the gradient at `xhat`. The result fits in one line:
//! `dx = rstd (gh - mean(gh) - xhat mean(gh xhat))`; derive it, don't copy it. Why does the
//! mean inside the variance add nothing? Guide: chapter 3, "layer norm", and chapter 7.
//!
//! Useful: `Tensor::mean(&[-1], true)`, `Tensor::var(&[-1], true, false)` (biased),
//! `Tensor::add_scalar`, `Tensor::rsqrt`, `Tensor::sum(&[0], false)`, `mul`/`sub` (broadcast).

use tensor::Tensor;

/// The `eps` inside the square root.
pub const EPS: f64 = 1e-5;

/// The forward, given: normalise each row, then scale by `w` and shift by `b`.
pub fn forward(x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    let mu = x.mean(&[-1], true); // (4, 1)
    let rstd = x.var(&[-1], true, false).add_scalar(EPS).rsqrt(); // (4, 1)
    let xhat = x.sub(&mu).mul(&rstd); // (4, 5)
    xhat.mul(w).add(b) // (4, 5)
}

/// Your backward: `(dL/dx, dL/dw, dL/db)` from `g = dL/dy`.
pub fn backward(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    g: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>, Tensor<f64>) {
    todo!("exercise 9: dx, dw, db = ? (x: {:?}, w: {:?}, b: {:?}, g: {:?})", x.shape(), w.shape(), b.shape(), g.shape())
}
