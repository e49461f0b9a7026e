//! Matrix products: 2-D and batched with broadcast batch dimensions, over matrixmultiply.
//! (Implementation in progress: see the tensor issue.)

use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// torch.matmul semantics (1-D, 2-D, batched with broadcast batch dims).
    #[track_caller]
    pub fn matmul(&self, _other: &Tensor<T>) -> Tensor<T> {
        todo!()
    }
}
