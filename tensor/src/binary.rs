//! Elementwise functions of two tensors under broadcasting, comparisons, and selection.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// a + b
    #[track_caller]
    pub fn add(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// a - b
    #[track_caller]
    pub fn sub(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// a * b
    #[track_caller]
    pub fn mul(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// a / b
    #[track_caller]
    pub fn div(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// max(a, b)
    #[track_caller]
    pub fn maximum(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// min(a, b)
    #[track_caller]
    pub fn minimum(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// 1 where a == b else 0
    #[track_caller]
    pub fn eq_mask(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// 1 where a < b else 0
    #[track_caller]
    pub fn lt(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// 1 where a <= b else 0
    #[track_caller]
    pub fn le(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// 1 where a > b else 0
    #[track_caller]
    pub fn gt(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// 1 where a >= b else 0
    #[track_caller]
    pub fn ge(&self, _o: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// mask != 0 ? a : b (all three broadcast together)
    #[track_caller]
    pub fn where_mask(_mask: &Tensor<T>, _a: &Tensor<T>, _b: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
    /// self where mask == 0, value where mask != 0; mask broadcasts to self's shape
    #[track_caller]
    pub fn masked_fill(&self, _mask: &Tensor<T>, _value: T) -> Tensor<T> {
        todo!()
    }
}
