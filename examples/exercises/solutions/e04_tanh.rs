//! Solution 4: `dx = g (1 - y^2)`, from the saved output.

use tensor::Tensor;

/// `dx` for `y = tanh(x)`.
pub fn backward(_x: &Tensor<f64>, y: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    g.mul(&y.map(|y| 1.0 - y * y)) // (3, 4)
}
