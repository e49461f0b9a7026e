//! # Exercise 3: matrix product
//!
//! ```text
//! c = a @ b        a: (3, 4)   b: (4, 5)   ->   c: (3, 5)
//! ```
//!
//! `c[i, j] = sum_p a[i, p] b[p, j]`. You get `g = dL/dc`, shape `(3, 5)`, and return
//! `(da, db)`.
//!
//! Think it through: write `dL/da[i, p]` as a sum over the outputs `a[i, p]` touches, then
//! recognise the sum as a matrix product. The shapes leave only one way to put `g`, `a` and `b`
//! together. Guide: chapter 3, "matmul: dA = g Bᵀ, dB = Aᵀ g".
//!
//! Useful: `Tensor::matmul`, `Tensor::mt()` (swap the last two axes, a view).

use tensor::Tensor;

/// The forward, given: the matrix product.
pub fn forward(a: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    a.matmul(b) // (3, 4) @ (4, 5) -> (3, 5)
}

/// Your backward: `(dL/da, dL/db)` from `g = dL/dc`.
pub fn backward(a: &Tensor<f64>, b: &Tensor<f64>, g: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    todo!("exercise 3: da = ?, db = ? (a: {:?}, b: {:?}, g: {:?})", a.shape(), b.shape(), g.shape())
}
