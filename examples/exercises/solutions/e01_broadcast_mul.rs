//! Solution 1: `da = g * b`; `b[j]` was used by every row, so `db[j] = sum_i g[i, j] a[i, j]`.

use tensor::Tensor;

/// `(da, db)` for `y = a * b` with `b` broadcast over rows.
pub fn backward(a: &Tensor<f64>, b: &Tensor<f64>, g: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    let da = g.mul(b).sum_to_shape(a.shape()); // (3, 4): a was not broadcast, nothing to sum
    let db = g.mul(a).sum_to_shape(b.shape()); // (3, 4) -> (4): summed over the rows
    (da, db)
}
