//! # Exercise 1: broadcast multiply
//!
//! ```text
//! y = a * b        a: (3, 4)   b: (4)   ->   y: (3, 4)
//! ```
//!
//! `b` is broadcast over the rows of `a`: `y[i, j] = a[i, j] * b[j]`. You get `g = dL/dy`, shape
//! `(3, 4)`, and return `(da, db)`, each with its input's shape.
//!
//! Think it through: `a[i, j]` touches one output, `y[i, j]`; but `b[j]` touches a whole column
//! of outputs, `y[0, j], y[1, j], y[2, j]`, and a value used several times collects the sum of
//! all its gradients. Guide: chapter 3, "Broadcasting: expand backward is sum".
//!
//! Useful: `Tensor::mul` (broadcasts), `Tensor::sum(&[axes], keepdim)`,
//! `Tensor::sum_to_shape(shape)`.

use tensor::Tensor;

/// The forward, given: elementwise product with `b` broadcast over the rows of `a`.
pub fn forward(a: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    a.mul(b) // (3, 4) * (4) -> (3, 4)
}

/// Your backward: `(dL/da, dL/db)` from `g = dL/dy`.
pub fn backward(a: &Tensor<f64>, b: &Tensor<f64>, g: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    todo!("exercise 1: da = ?, db = ? (a: {:?}, b: {:?}, g: {:?})", a.shape(), b.shape(), g.shape())
}
