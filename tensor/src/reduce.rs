//! Reductions over one or several axes, with `keepdim`.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// Sum over `axes` (negative allowed; an empty list reduces nothing).
    #[track_caller]
    pub fn sum(&self, _axes: &[isize], _keepdim: bool) -> Tensor<T> {
        todo!()
    }
    /// Sum of all elements as a 0-d tensor.
    pub fn sum_all(&self) -> Tensor<T> {
        todo!()
    }
    /// Mean over `axes`.
    #[track_caller]
    pub fn mean(&self, _axes: &[isize], _keepdim: bool) -> Tensor<T> {
        todo!()
    }
    /// Mean of all elements as a 0-d tensor.
    pub fn mean_all(&self) -> Tensor<T> {
        todo!()
    }
    /// Maximum over `axes`.
    #[track_caller]
    pub fn max(&self, _axes: &[isize], _keepdim: bool) -> Tensor<T> {
        todo!()
    }
    /// Minimum over `axes`.
    #[track_caller]
    pub fn min(&self, _axes: &[isize], _keepdim: bool) -> Tensor<T> {
        todo!()
    }
    /// Variance over `axes`; `unbiased` divides by n - 1 instead of n.
    #[track_caller]
    pub fn var(&self, _axes: &[isize], _keepdim: bool, _unbiased: bool) -> Tensor<T> {
        todo!()
    }
    /// Index of the maximum along `axis` (first on ties), as values of type T.
    #[track_caller]
    pub fn argmax(&self, _axis: isize, _keepdim: bool) -> Tensor<T> {
        todo!()
    }
    /// Sums a broadcast result back down to `shape` (the adjoint of `broadcast_to`).
    #[track_caller]
    pub fn sum_to_shape(&self, _shape: &[usize]) -> Tensor<T> {
        todo!()
    }
}
