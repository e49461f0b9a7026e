//! Token embedding: a lookup table from token ids to vectors.
//!
//! Shapes: `ids: (B, T)` (given as a flat row-major slice plus its shape) `-> (B, T, d)`,
//! table `W: (vocab, d)`. Backward scatters the gradient rows back into the table (`index_add`):
//! a token that appears twice receives the sum of both rows' gradients.

use autograd::Var;
use tensor::{Float, TensorRng};

use crate::init;
use crate::module::{Module, named};

/// A `(vocab, d)` table of learned vectors, optionally scaled by `sqrt(d)` on lookup as in
/// "Attention Is All You Need" (section 3.4).
pub struct Embedding<T: Float> {
    /// `(vocab, d)`.
    pub weight: Var<T>,
    /// Multiply looked-up rows by `sqrt(d)`.
    pub scale_by_sqrt_d: bool,
}

impl<T: Float> Embedding<T> {
    /// A table with Normal(0, std) entries.
    pub fn new(vocab: usize, d: usize, std: f64, rng: &mut TensorRng) -> Self {
        Embedding { weight: init::normal(&[vocab, d], std, rng), scale_by_sqrt_d: false }
    }

    /// Builder: scale lookups by `sqrt(d)`.
    pub fn scaled(mut self) -> Self {
        self.scale_by_sqrt_d = true;
        self
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Vector size.
    pub fn dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Looks up `ids` (row-major, with shape `ids_shape`, e.g. `[B, T]`) giving `(*ids_shape, d)`.
    ///
    /// # Panics
    /// If an id is not below the vocabulary size.
    #[track_caller]
    pub fn forward(&self, ids: &[usize], ids_shape: &[usize]) -> Var<T> {
        let _scope = autograd::profile::enter(autograd::profile::EMBEDDING);
        if ids.len() != ids_shape.iter().product::<usize>() {
            tensor::layer_panic("Embedding", format!("{} ids given for shape {ids_shape:?}", ids.len()));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i >= self.vocab()) {
            tensor::layer_panic(
                "Embedding",
                format!(
                    "token id {bad} is outside the vocabulary of {} (table shape {:?})",
                    self.vocab(),
                    self.weight.shape()
                ),
            );
        }
        let rows = self.weight.index_select(0, ids); // (N, d)
        let mut shape = ids_shape.to_vec();
        shape.push(self.dim());
        let out = rows.reshape(&shape);
        if self.scale_by_sqrt_d { out.mul_scalar(T::from_usize(self.dim()).sqrt()) } else { out }
    }
}

impl<T: Float> Module<T> for Embedding<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        vec![named("weight", &self.weight)]
    }
}
