//! Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.

use autograd::{Gradients, Var};
use rayon::prelude::*;
use tensor::{Float, Tensor};

use super::PAR_CHUNK;

/// The L2 norm of all parameters' gradients taken together, accumulated in f64 in parameter
/// order (deterministic: the order of the additions is fixed, see `sum_of_squares` in this file). Each
/// parameter's sum may run on its own thread; the sums are then added in parameter order, so
/// the result is the same bits on any number of threads.
pub fn global_grad_norm<T: Float>(grads: &Gradients<T>, params: &[Var<T>]) -> f64 {
    let present: Vec<&Tensor<T>> = params.iter().filter_map(|p| grads.get(p)).collect();
    let sums: Vec<f64> = present
        .par_iter()
        .map(|g| match g.as_slice() {
            Some(s) => sum_of_squares(s),
            None => sum_of_squares(&g.to_vec()),
        })
        .collect();
    sums.iter().fold(0.0f64, |acc, &s| acc + s).sqrt()
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
        // The gradients are taken out of the store for the scaling pass and put back: every
        // element is scaled on its own, in parallel over fixed chunks of all of them.
        let mut taken: Vec<(&Var<T>, Tensor<T>)> =
            params.iter().filter_map(|p| grads.remove(p).map(|g| (p, g))).collect();
        // In place (`data_mut` copies first only if a gradient shares its storage).
        let mut chunks: Vec<&mut [T]> = Vec::new();
        for (_, g) in taken.iter_mut() {
            chunks.extend(g.data_mut().chunks_mut(PAR_CHUNK));
        }
        chunks.into_par_iter().for_each(|c| {
            for x in c {
                *x *= scale;
            }
        });
        for (p, g) in taken {
            grads.insert(p, g);
        }
    }
    norm
}
