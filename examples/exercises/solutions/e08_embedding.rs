//! Solution 8: row `r` of the table receives the sum of `g[t]` over every position `t` with
//! `ids[t] = r` (zero for rows never looked up): a scatter-add.

use tensor::Tensor;

/// `dtable` for `out = table[ids]`.
pub fn backward(table: &Tensor<f64>, ids: &[usize], g: &Tensor<f64>) -> Tensor<f64> {
    Tensor::zeros(table.shape()).index_add(0, ids, g) // (V, d)
}
