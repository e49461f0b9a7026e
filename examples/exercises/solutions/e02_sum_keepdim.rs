//! Solution 2: `dy[i, 0] / dx[i, j] = 1`, so every element of row `i` gets `g[i, 0]`: the
//! gradient is `g` broadcast back over the summed axis (a view, no copy).

use tensor::Tensor;

/// `dx` for `y = sum(x, axis 1, keepdim)`.
pub fn backward(x: &Tensor<f64>, g: &Tensor<f64>) -> Tensor<f64> {
    g.broadcast_to(x.shape()) // (3, 1) -> (3, 4)
}
