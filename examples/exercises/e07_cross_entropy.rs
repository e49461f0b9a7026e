//! # Exercise 7: log-softmax with cross-entropy
//!
//! ```text
//! loss = -(1/N) sum_i log_softmax(logits[i])[targets[i]]        logits: (N, C)   ->   loss: ()
//! ```
//!
//! You get the logits, the target class of each row and `g = dL/dloss` (a one-element tensor:
//! the loss may be scaled by whatever comes after it); return `dlogits`, shape `(N, C)`.
//!
//! Think it through: for one row, `log_softmax(x)_t = x_t - ln sum_k exp(x_k)`. Its derivative
//! with respect to `x_j` is `delta_tj - softmax(x)_j`. Then the minus sign and the mean.
//! The answer is famous and short; work it out before you look it up. Guide: chapter 3,
//! "log-softmax and cross-entropy".
//!
//! Useful: `Tensor::softmax(-1)`, `Tensor::to_vec`, `Tensor::from_vec`, `Tensor::mul_scalar`,
//! `Tensor::item`.

use tensor::Tensor;

/// The forward, given: the mean over rows of minus the log-probability of each row's target.
pub fn forward(logits: &Tensor<f64>, targets: &[usize]) -> Tensor<f64> {
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    let log_probs = logits.log_softmax(-1).to_vec(); // (N, C), row-major
    let picked: f64 = targets.iter().enumerate().map(|(i, &t)| log_probs[i * c + t]).sum();
    Tensor::scalar(-picked / n as f64) // ()
}

/// Your backward: `dL/dlogits` from `g = dL/dloss` (one element).
pub fn backward(logits: &Tensor<f64>, targets: &[usize], g: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 7: dlogits = ? (logits: {:?}, {} targets, g = {})", logits.shape(), targets.len(), g.item())
}
