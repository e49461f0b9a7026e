//! Gathering and joining: index_select, index_add, gather, scatter_add, concat, stack, split, chunk.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// Picks entries `indices` along `axis` (embedding lookup).
    #[track_caller]
    pub fn index_select(&self, _axis: isize, _indices: &[usize]) -> Tensor<T> {
        todo!()
    }
    /// self with `source`'s slices added at `indices` along `axis` (adjoint of index_select).
    #[track_caller]
    pub fn index_add(&self, _axis: isize, _indices: &[usize], _source: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// torch.gather: out[i][j] = self[i][index[i][j]] (axis 1), index given row-major with its shape.
    #[track_caller]
    pub fn gather(&self, _axis: isize, _index: &[usize], _index_shape: &[usize]) -> Tensor<T> {
        todo!()
    }
    /// torch.scatter_add: self with src[i][j] added at [i][index[i][j]] (axis 1).
    #[track_caller]
    pub fn scatter_add(&self, _axis: isize, _index: &[usize], _index_shape: &[usize], _src: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// Joins tensors along an existing axis.
    #[track_caller]
    pub fn concat(_tensors: &[&Tensor<T>], _axis: isize) -> Tensor<T> {
        todo!()
    }
    /// Joins tensors along a new axis.
    #[track_caller]
    pub fn stack(_tensors: &[&Tensor<T>], _axis: isize) -> Tensor<T> {
        todo!()
    }
    /// Views of consecutive pieces of `split_size` along `axis` (the last may be smaller).
    #[track_caller]
    pub fn split(&self, _split_size: usize, _axis: isize) -> Vec<Tensor<T>> {
        todo!()
    }
    /// Views of consecutive pieces with the given sizes along `axis`.
    #[track_caller]
    pub fn split_sizes(&self, _sizes: &[usize], _axis: isize) -> Vec<Tensor<T>> {
        todo!()
    }
    /// Views of `chunks` nearly equal pieces along `axis` (as torch.chunk).
    #[track_caller]
    pub fn chunk(&self, _chunks: usize, _axis: isize) -> Vec<Tensor<T>> {
        todo!()
    }
}
