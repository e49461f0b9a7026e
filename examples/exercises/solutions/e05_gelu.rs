//! Solution 5: with `u = c (x + k x^3)` and `t = tanh(u)`,
//! `dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 k x^2)`.

use tensor::Tensor;

use crate::e05_gelu::{C, K};

/// `dx` for the tanh-form GELU.
pub fn backward(x: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    let dydx = x.map(|x| {
        let t = (C * (x + K * x * x * x)).tanh();
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * K * x * x)
    });
    g.mul(&dydx) // (3, 4)
}
