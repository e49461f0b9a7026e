//! Evaluation: mean loss over batches, and exact-match accuracy on a task's held-out prompts.

use autograd::no_grad;
use tensor::{TensorRng, rng_from_seed};
use transformer::Gpt;

use crate::data::{Batch, Dataset, IGNORE, Split, Task, TaskData};
use crate::sample::{SampleConfig, generate};

/// Mean next-token cross-entropy of one batch (ignored targets excluded).
pub fn batch_loss(model: &Gpt<f32>, batch: &Batch) -> autograd::Var<f32> {
    let [b, t] = batch.shape();
    let logits = model.forward(&batch.x, [b, t]); // (B, T, vocab)
    logits.reshape(&[b * t, model.config.vocab_size]).cross_entropy(&batch.y, Some(IGNORE))
}

/// nanoGPT's `estimate_loss`: the mean loss of `eval_iters` random batches of each split, in
/// evaluation mode under no_grad. Batches come from their own generator seeded by `seed`, so an
/// evaluation never disturbs the training batches (and a resumed run evaluates identically).
pub fn estimate_loss(
    model: &Gpt<f32>,
    data: &Dataset,
    batch_size: usize,
    block_size: usize,
    eval_iters: usize,
    seed: u64,
) -> (f64, f64) {
    model.set_training(false);
    let mut rng = rng_from_seed(seed);
    let mean = |split: Split, rng: &mut TensorRng| {
        let total: f64 = (0..eval_iters)
            .map(|_| {
                let batch = data.batch(split, batch_size, block_size, rng);
                no_grad(|| batch_loss(model, &batch).item() as f64)
            })
            .sum();
        total / eval_iters as f64
    };
    let train = mean(Split::Train, &mut rng);
    let val = mean(Split::Val, &mut rng);
    model.set_training(true);
    (train, val)
}

/// One graded example: the prompt, the model's greedy answer, and the correct one.
#[derive(Clone, Debug)]
pub struct Graded {
    /// The prompt text.
    pub prompt: String,
    /// What the model wrote.
    pub output: String,
    /// The correct answer.
    pub expected: String,
}

/// The share of `graded` answered exactly right, or `None` when nothing was graded.
pub fn exact_match(graded: &[Graded]) -> Option<f64> {
    (!graded.is_empty()).then(|| graded.iter().filter(|g| g.correct()).count() as f64 / graded.len() as f64)
}

impl Graded {
    /// True when the output equals the answer exactly.
    pub fn correct(&self) -> bool {
        self.output == self.expected
    }
}

/// Greedy answers to `n` held-out prompts (never trained on), for exact-match accuracy.
pub fn grade_task(model: &Gpt<f32>, data: &TaskData, n: usize, seed: u64) -> Vec<Graded> {
    model.set_training(false);
    let task: Task = data.task;
    let cfg = SampleConfig {
        max_new_tokens: task.answer(&vec![0; task.digits()]).len(),
        temperature: 0.0,
        top_k: None,
        top_p: None,
    };
    let mut rng = rng_from_seed(seed);
    let graded = data
        .held_out_examples(n, &mut rng)
        .into_iter()
        .map(|digits| {
            let prompt = task.prompt(&digits);
            let ids = data.tokenizer.encode(&prompt).expect("task alphabet covers its prompts");
            let out = generate(model, &ids, &cfg, &mut rng);
            Graded { prompt, output: data.tokenizer.decode(&out), expected: task.answer(&digits) }
        })
        .collect();
    model.set_training(true);
    graded
}
