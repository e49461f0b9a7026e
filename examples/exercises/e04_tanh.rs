//! # Exercise 4: tanh
//!
//! ```text
//! y = tanh(x)        x: (3, 4)   ->   y: (3, 4)
//! ```
//!
//! You get the input `x`, the output `y` (saved from the forward) and `g = dL/dy`; return `dx`.
//!
//! Think it through: `d tanh(x) / dx = 1 - tanh(x)^2`. The derivative can be written with the
//! output alone, so the forward's result is all the backward needs: no second `tanh`. Then the
//! chain rule: multiply by the gradient that arrives, element by element. Guide: chapter 2
//! (the neuron) and chapter 3's table.
//!
//! Useful: `Tensor::map(|v| ...)`, `Tensor::mul`, `Tensor::zip_with`.

use tensor::Tensor;

/// The forward, given.
pub fn forward(x: &Tensor<f64>) -> Tensor<f64> {
    x.tanh() // (3, 4)
}

/// Your backward: `dL/dx` from `g = dL/dy`; `y` is the forward's output.
pub fn backward(x: &Tensor<f64>, y: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 4: dx = ? (x: {:?}, y: {:?}, g: {:?})", x.shape(), y.shape(), g.shape())
}
