//! Matrix product, 2-D and batched with broadcast batch dimensions.

use tensor::{Float, op_panic};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// `A @ B` with `torch.matmul` semantics for operands of at least 2 dimensions:
    /// `(..., m, k) @ (..., k, n) -> (..., m, n)`, leading batch dimensions broadcast.
    ///
    /// Backward: `dA = g @ B^T`, `dB = A^T @ g`, each summed over the batch dimensions that were
    /// broadcast. The transposes are views (`mt`), handed to the GEMM as strides: no copies.
    #[track_caller]
    pub fn matmul(&self, other: &Var<T>) -> Var<T> {
        if self.ndim() < 2 || other.ndim() < 2 {
            op_panic(
                "matmul",
                format!(
                    "autograd matmul needs operands of at least 2 dimensions, got {:?} and {:?}; unsqueeze vectors first",
                    self.shape(),
                    other.shape()
                ),
            );
        }
        let (a, b) = (self.value(), other.value());
        let value = a.matmul(&b);
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        Var::from_op("matmul", value, &[self, other], move |g| {
            vec![
                need_a.then(|| g.matmul(&b.mt()).sum_to_shape(a.shape())),
                need_b.then(|| a.mt().matmul(g).sum_to_shape(b.shape())),
            ]
        })
    }
}
