//! Closeness checks for tests.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// True when |a - b| <= atol + rtol * |b| everywhere (shapes must match).
    #[track_caller]
    pub fn allclose(&self, _other: &Tensor<T>, _rtol: f64, _atol: f64) -> bool {
        todo!()
    }
}

/// Panics, naming the worst element, unless a and b are allclose.
#[track_caller]
pub fn assert_allclose<T: Float>(_a: &Tensor<T>, _b: &Tensor<T>, _rtol: f64, _atol: f64) {
    todo!()
}
