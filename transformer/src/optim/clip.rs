//! Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.

use autograd::{Gradients, Var};
use tensor::Float;

/// The L2 norm of all parameters' gradients taken together, accumulated in f64 in parameter
/// order (deterministic).
pub fn global_grad_norm<T: Float>(grads: &Gradients<T>, params: &[Var<T>]) -> f64 {
    let mut sum = 0.0f64;
    for p in params {
        if let Some(g) = grads.get(p) {
            g.for_each(|x| sum += x.to_f64() * x.to_f64());
        }
    }
    sum.sqrt()
}

/// Scales every gradient by `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`.
/// Returns the norm before clipping.
pub fn clip_grad_norm<T: Float>(grads: &mut Gradients<T>, params: &[Var<T>], max_norm: f64) -> f64 {
    let norm = global_grad_norm(grads, params);
    if norm > max_norm {
        let scale = T::from_f64(max_norm / (norm + 1e-6));
        for p in params {
            if let Some(g) = grads.get(p) {
                let scaled = g.mul_scalar(scale);
                grads.insert(p, scaled);
            }
        }
    }
    norm
}
