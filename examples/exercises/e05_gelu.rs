//! # Exercise 5: GELU (the tanh form GPT-2 uses)
//!
//! ```text
//! y = x/2 (1 + t)        t = tanh(c (x + k x^3))        c = sqrt(2/pi), k = 0.044715
//! x: (3, 4)   ->   y: (3, 4)
//! ```
//!
//! You get `x` and `g = dL/dy`; return `dx`.
//!
//! Think it through: product rule on `x/2 * (1 + t)`, then the chain rule through `tanh` (the
//! derivative of `tanh(u)` is `1 - tanh(u)^2`) and through the cubic `u = c (x + k x^3)`.
//! Guide: chapter 3's table, chapter 7 (the feed-forward layer).
//!
//! Useful: `Tensor::map`, `Tensor::mul`; the constants below.

use tensor::Tensor;

/// `sqrt(2 / pi)`.
pub const C: f64 = 0.797_884_560_802_865_4;
/// The cubic term's coefficient.
pub const K: f64 = 0.044_715;

/// The forward, given.
pub fn forward(x: &Tensor<f64>) -> Tensor<f64> {
    x.map(|v| 0.5 * v * (1.0 + (C * (v + K * v * v * v)).tanh())) // (3, 4)
}

/// Your backward: `dL/dx` from `g = dL/dy`.
pub fn backward(x: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 5: dx = ? (x: {:?}, g: {:?})", x.shape(), g.shape())
}
