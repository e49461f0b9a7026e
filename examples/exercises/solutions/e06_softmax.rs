//! Solution 6: `dx_j = sum_i g_i y_i (delta_ij - y_j) = y_j (g_j - sum_i g_i y_i)`, per row.

use tensor::Tensor;

/// `dx` for `y = softmax(x)` along the last axis.
pub fn backward(y: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    let gy = g.mul(y).sum(&[-1], true); // (3, 1): one dot product per row
    y.mul(&g.sub(&gy)) // (3, 5)
}
