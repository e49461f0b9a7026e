//! # Exercise 6: softmax
//!
//! ```text
//! y[i, j] = exp(x[i, j]) / sum_k exp(x[i, k])        x: (3, 5)   ->   y: (3, 5), along the rows
//! ```
//!
//! You get the output `y` (saved from the forward) and `g = dL/dy`; return `dx`.
//!
//! Think it through: every output of a row depends on every input of that row, so the Jacobian
//! of one row is a full `5 x 5` matrix, `dy_i/dx_j = y_i (delta_ij - y_j)`. Multiply it by `g`
//! on paper and it collapses to a few elementwise operations and one sum along the row; never
//! build the matrix. Guide: chapter 3, "softmax: a Jacobian-vector product without the Jacobian".
//!
//! Useful: `Tensor::mul`, `Tensor::sub` (both broadcast), `Tensor::sum(&[-1], true)`.

use tensor::Tensor;

/// The forward, given: softmax along the last axis.
pub fn forward(x: &Tensor<f64>) -> Tensor<f64> {
    x.softmax(-1) // (3, 5)
}

/// Your backward: `dL/dx` from `g = dL/dy`; `y` is the forward's output.
pub fn backward(y: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 6: dx = ? (y: {:?}, g: {:?})", y.shape(), g.shape())
}
