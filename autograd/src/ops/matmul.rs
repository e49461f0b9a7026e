//! Matrix product, 2-D and batched with broadcast batch dimensions.

use tensor::{Float, Tensor, op_panic};

use crate::var::Var;
use crate::{OpName, profile};

impl<T: Float> Var<T> {
    /// `A @ B` with `torch.matmul` semantics for operands of at least 2 dimensions:
    /// `(..., m, k) @ (..., k, n) -> (..., m, n)`, leading batch dimensions broadcast.
    ///
    /// Backward: `dA = g @ B^T`, `dB = A^T @ g`, each summed over the batch dimensions that were
    /// broadcast. The transposes are views (`mt`), handed to the GEMM as strides: no copies.
    /// With more than one thread, `dA` and `dB` are computed at the same time, one per thread.
    /// When an operand is itself a transposed view (a linear layer's `W^T`), its gradient is
    /// computed transposed, `dB = (g^T A)^T`, so it comes out laid out like the operand and the
    /// transpose's own backward hands the weight a contiguous gradient (the same sums; only the
    /// memory order differs).
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
        let value = self.value_ref().matmul(&other.value_ref());
        Var::from_differentiable_op(OpName::new("matmul", profile::MATMUL), value, &[self, other], |args| {
            let (a, b, g) = (&args.inputs[0], &args.inputs[1], args.grad);
            if !args.create_graph() {
                let grads = matmul_backward(
                    &a.value_ref(),
                    &b.value_ref(),
                    &g.value_ref(),
                    a.requires_grad(),
                    b.requires_grad(),
                );
                return grads.into_iter().map(|g| g.map(Var::constant)).collect();
            }
            // The same two products, recorded: dA = g B^T, dB = A^T g (summed over broadcast batches).
            vec![
                a.requires_grad().then(|| g.matmul(&b.mt()).sum_to_shape(&a.shape())),
                b.requires_grad().then(|| a.mt().matmul(g).sum_to_shape(&b.shape())),
            ]
        })
    }
}

/// The first-order backward of `A B` on tensors: `dA = g B^T` and `dB = A^T g`, each summed
/// back over broadcast batch axes, computed in the layout that avoids copies and split over the
/// threads as two independent products when both are needed.
fn matmul_backward<T: Float>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    g: &Tensor<T>,
    need_a: bool,
    need_b: bool,
) -> Vec<Option<Tensor<T>>> {
    // `split`: whether one product may be cut into per-thread row runs.
    let mm = |x: &Tensor<T>, y: &Tensor<T>, split: bool| if split { x.matmul(y) } else { x.matmul_unsplit(y) };
    let grad_a = |split: bool| {
        if is_transposed_view(a) && g.shape()[..g.ndim() - 2] == a.shape()[..a.ndim() - 2] {
            mm(b, &g.mt(), split).mt() // (g B^T)^T^T, laid out like A
        } else {
            mm(g, &b.mt(), split).sum_to_shape(a.shape())
        }
    };
    let grad_b = |split: bool| {
        if is_transposed_view(b) && g.shape()[..g.ndim() - 2] == b.shape()[..b.ndim() - 2] {
            mm(&g.mt(), a, split).mt() // (g^T A)^T, laid out like B
        } else {
            mm(&a.mt(), g, split).sum_to_shape(b.shape())
        }
    };
    match (need_a, need_b) {
        // Two independent products of the same size: one per thread, each uncut (a cut would
        // repack its right operand once more per run). `tensor::parallel::join`, not
        // `rayon::join`: the thread that finishes first spins instead of sleeping, which saved the
        // wake-up (up to ~70 µs per join on a virtual machine; docs/benchmarks.md).
        (true, true) if rayon::current_num_threads() > 1 => {
            let (da, db) = tensor::parallel::join(|| grad_a(false), || grad_b(false));
            vec![Some(da), Some(db)]
        }
        _ => vec![need_a.then(|| grad_a(true)), need_b.then(|| grad_b(true))],
    }
}

fn is_transposed_view<T: Float>(t: &Tensor<T>) -> bool {
    !t.is_contiguous() && t.mt().is_contiguous()
}
