//! # Exercise 2: sum with keepdim
//!
//! ```text
//! y = sum(x, axis 1, keepdim)        x: (3, 4)   ->   y: (3, 1)
//! ```
//!
//! `y[i, 0] = x[i, 0] + x[i, 1] + x[i, 2] + x[i, 3]`. You get `g = dL/dy`, shape `(3, 1)`, and
//! return `dx`, shape `(3, 4)`.
//!
//! Think it through: what is `dy[i, 0] / dx[i, j]`? Summing and broadcasting are each other's
//! backward (guide: chapter 3). A broadcast view costs no copy.
//!
//! Useful: `Tensor::broadcast_to(shape)`, `Tensor::shape()`.

use tensor::Tensor;

/// The forward, given: row sums, keeping the summed axis as size 1.
pub fn forward(x: &Tensor<f64>) -> Tensor<f64> {
    x.sum(&[1], true) // (3, 4) -> (3, 1)
}

/// Your backward: `dL/dx` from `g = dL/dy`.
pub fn backward(x: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 2: dx = ? (x: {:?}, g: {:?})", x.shape(), g.shape())
}
