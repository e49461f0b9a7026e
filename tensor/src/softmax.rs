//! Numerically stable softmax, log-softmax and logsumexp along an axis.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// softmax along `axis`
    #[track_caller]
    pub fn softmax(&self, _axis: isize) -> Tensor<T> {
        todo!()
    }
    /// log-softmax along `axis`
    #[track_caller]
    pub fn log_softmax(&self, _axis: isize) -> Tensor<T> {
        todo!()
    }
    /// log(sum(exp(x))) along `axis`
    #[track_caller]
    pub fn logsumexp(&self, _axis: isize, _keepdim: bool) -> Tensor<T> {
        todo!()
    }
}
