//! Elementwise functions of one tensor and their scalar variants.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// -x
    pub fn neg(&self) -> Tensor<T> {
        todo!()
    }
    /// e^x
    pub fn exp(&self) -> Tensor<T> {
        todo!()
    }
    /// ln x
    pub fn log(&self) -> Tensor<T> {
        todo!()
    }
    /// sqrt x
    pub fn sqrt(&self) -> Tensor<T> {
        todo!()
    }
    /// 1 / sqrt x
    pub fn rsqrt(&self) -> Tensor<T> {
        todo!()
    }
    /// x^p
    pub fn powf(&self, _p: T) -> Tensor<T> {
        todo!()
    }
    /// |x|
    pub fn abs(&self) -> Tensor<T> {
        todo!()
    }
    /// tanh x
    pub fn tanh(&self) -> Tensor<T> {
        todo!()
    }
    /// 1 / (1 + e^-x)
    pub fn sigmoid(&self) -> Tensor<T> {
        todo!()
    }
    /// max(x, 0)
    pub fn relu(&self) -> Tensor<T> {
        todo!()
    }
    /// GELU, tanh approximation (GPT-2)
    pub fn gelu_tanh(&self) -> Tensor<T> {
        todo!()
    }
    /// GELU, exact erf form
    pub fn gelu_erf(&self) -> Tensor<T> {
        todo!()
    }
    /// x + s
    pub fn add_scalar(&self, _s: T) -> Tensor<T> {
        todo!()
    }
    /// x - s
    pub fn sub_scalar(&self, _s: T) -> Tensor<T> {
        todo!()
    }
    /// x * s
    pub fn mul_scalar(&self, _s: T) -> Tensor<T> {
        todo!()
    }
    /// x / s
    pub fn div_scalar(&self, _s: T) -> Tensor<T> {
        todo!()
    }
}
