//! Optimizers, gradient clipping and learning-rate schedules.
//!
//! An optimizer owns the list of parameters it updates and their per-parameter state; `step`
//! reads one [`Gradients`] store (from `backward`, or accumulated over micro-batches with
//! [`Gradients::accumulate`]) and updates every parameter in place. Parameters that received no
//! gradient are left alone, as PyTorch does for `grad is None`.

mod adam;
mod clip;
mod schedule;
mod sgd;

pub use adam::{AdamW, ParamGroup};
pub use clip::{clip_grad_norm, global_grad_norm};
pub use schedule::LrSchedule;
pub use sgd::Sgd;

use autograd::Gradients;
use tensor::Float;

/// Elements per parallel task of the optimizers and clipping: fixed, never the thread count
/// (each element is updated on its own, so the split changes nothing but the speed). Small
/// parameters are one task each.
const PAR_CHUNK: usize = 1 << 15;

/// Something that updates parameters from gradients.
pub trait Optimizer<T: Float> {
    /// One update of every parameter from `grads`.
    fn step(&mut self, grads: &Gradients<T>);
    /// The current learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (schedules call this before each step).
    fn set_learning_rate(&mut self, lr: f64);
}
