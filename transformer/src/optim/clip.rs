//! Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.

use autograd::{Gradients, Var};
use tensor::Float;

/// The L2 norm of all parameters' gradients taken together, accumulated in f64 in parameter
/// order (deterministic: the order of the additions is fixed, see [`sum_of_squares`]).
pub fn global_grad_norm<T: Float>(grads: &Gradients<T>, params: &[Var<T>]) -> f64 {
    let mut sum = 0.0f64;
    for p in params {
        if let Some(g) = grads.get(p) {
            sum += match g.as_slice() {
                Some(s) => sum_of_squares(s),
                None => sum_of_squares(&g.to_vec()),
            };
        }
    }
    sum.sqrt()
}

/// `sum x^2` in f64 over eight interleaved running sums (element `i` goes to sum `i % 8`), added
/// together at the end: a fixed order, so the same bits every time, and eight independent
/// additions in flight instead of one long chain.
fn sum_of_squares<T: Float>(x: &[T]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            let v = c[k].to_f64();
            acc[k] += v * v;
        }
    }
    for (k, &v) in tail.iter().enumerate() {
        acc[k] += v.to_f64() * v.to_f64();
    }
    acc.iter().sum()
}

/// Scales every gradient by `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`.
/// Returns the norm before clipping.
pub fn clip_grad_norm<T: Float>(grads: &mut Gradients<T>, params: &[Var<T>], max_norm: f64) -> f64 {
    let norm = global_grad_norm(grads, params);
    if norm > max_norm {
        let scale = T::from_f64(max_norm / (norm + 1e-6));
        for p in params {
            if let Some(g) = grads.get_mut(p) {
                // In place (a copy first only if the gradient shares its storage).
                for x in g.data_mut() {
                    *x *= scale;
                }
            }
        }
    }
    norm
}
