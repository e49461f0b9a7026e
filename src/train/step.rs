//! One optimizer step, in the two halves the training loop and the benchmark share: the
//! gradients of a step (forward and backward over each micro-batch, averaged), then the update
//! (clip, AdamW). The training loop checks the loss between the two halves.

use autograd::Gradients;
use autograd::profile;
use tensor::TensorRng;
use transformer::Gpt;
use transformer::optim::{AdamW, Optimizer, clip_grad_norm};

use crate::data::{Dataset, Split};
use crate::train::batch_loss;

/// Where a step's batches come from and how large they are.
pub struct StepBatches<'a> {
    /// The data.
    pub data: &'a Dataset,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Tokens per sequence.
    pub block_size: usize,
    /// Micro-batches whose gradients are averaged into one step (gradient accumulation).
    pub micro_batches: usize,
}

/// Forward and backward over `batches.micro_batches` training batches drawn with `rng`: the mean
/// loss and the mean gradients. Each micro-batch's graph is freed before the next one is built
/// (and before the update, so the optimizer owns the parameters' storage alone and updates it in
/// place).
pub fn step_gradients(model: &Gpt<f32>, batches: &StepBatches, rng: &mut TensorRng) -> (f32, Gradients<f32>) {
    let mut grads = Gradients::new();
    let mut loss_sum = 0.0f32;
    for _ in 0..batches.micro_batches {
        let batch = batches.data.batch(Split::Train, batches.batch_size, batches.block_size, rng);
        let loss = batch_loss(model, &batch);
        loss_sum += loss.item();
        let step_grads = loss.backward();
        profile::scope(profile::GRAPH, || grads.accumulate(step_grads));
        drop(loss); // frees the graph (timed as allocation when profiling)
    }
    if batches.micro_batches > 1 {
        grads.scale(1.0 / batches.micro_batches as f32);
    }
    (loss_sum / batches.micro_batches as f32, grads)
}

/// Clips the gradients' global norm to `grad_clip` (when positive) and takes one optimizer step.
pub fn apply_update(opt: &mut AdamW<f32>, grads: Gradients<f32>, params: &[autograd::Var<f32>], grad_clip: f64) {
    let mut grads = grads;
    if grad_clip > 0.0 {
        profile::scope(profile::OPTIMIZER, || clip_grad_norm(&mut grads, params, grad_clip));
    }
    opt.step(&grads);
    profile::scope(profile::ALLOCATION, || drop(grads));
}
