//! # Exercise 8: embedding lookup
//!
//! ```text
//! out[t] = table[ids[t]]        table: (V, d)   ids: (T)   ->   out: (T, d)
//! ```
//!
//! Each position copies one row of the table. You get the table, the ids and `g = dL/dout`,
//! shape `(T, d)`; return `dtable`, shape `(V, d)`.
//!
//! Think it through: which rows of the table receive a gradient? What does a row that was looked
//! up three times receive? A row never looked up? This backward is called a scatter-add.
//! Guide: chapter 3, "index_select: scatter-add", and chapter 5.
//!
//! Useful: `Tensor::zeros(shape)`, `Tensor::index_add(axis, indices, source)`; or loops with
//! `Tensor::to_vec` and `Tensor::from_vec`.

use tensor::Tensor;

/// The forward, given: rows of `table` picked by `ids`.
pub fn forward(table: &Tensor<f64>, ids: &[usize]) -> Tensor<f64> {
    table.index_select(0, ids) // (V, d) -> (T, d)
}

/// Your backward: `dL/dtable` from `g = dL/dout`.
pub fn backward(table: &Tensor<f64>, ids: &[usize], g: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 8: dtable = ? (table: {:?}, {} ids, g: {:?})", table.shape(), ids.len(), g.shape())
}
