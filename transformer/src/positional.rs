//! Positional information: the fixed sinusoidal encoding of "Attention Is All You Need"
//! (section 3.5) and learned positional embeddings (GPT-2).
//!
//! Attention by itself is blind to order (permuting the tokens permutes its outputs), so a
//! vector that depends on the position is added to each token's embedding.

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

use crate::init;
use crate::module::{Module, named};

/// The table `PE(pos, 2i) = sin(pos / 10000^(2i/d))`, `PE(pos, 2i+1) = cos(pos / 10000^(2i/d))`
/// for `pos < max_len`, shape `(max_len, d)`. Nothing to learn.
///
/// ```
/// use transformer::SinusoidalEncoding;
/// let pe = SinusoidalEncoding::<f64>::new(50, 8);
/// let t = pe.table();
/// assert_eq!(t.get(&[0, 0]), 0.0);          // sin(0)
/// assert_eq!(t.get(&[0, 1]), 1.0);          // cos(0)
/// assert!((t.get(&[3, 2]) - (3.0f64 / 10f64).sin()).abs() < 1e-12); // sin(3 / 10000^(2/8))
/// ```
pub struct SinusoidalEncoding<T: Float> {
    table: Tensor<T>,
}

impl<T: Float> SinusoidalEncoding<T> {
    /// The table for positions `0..max_len` and model width `d` (even).
    pub fn new(max_len: usize, d: usize) -> Self {
        let mut data = vec![T::ZERO; max_len * d];
        for pos in 0..max_len {
            for i in 0..d.div_ceil(2) {
                // Computed in f64 so f32 and f64 tables agree to f32 rounding.
                let angle = pos as f64 / 10000f64.powf(2.0 * i as f64 / d as f64);
                data[pos * d + 2 * i] = T::from_f64(angle.sin());
                if 2 * i + 1 < d {
                    data[pos * d + 2 * i + 1] = T::from_f64(angle.cos());
                }
            }
        }
        SinusoidalEncoding { table: Tensor::from_vec(data, &[max_len, d]) }
    }

    /// The whole `(max_len, d)` table.
    pub fn table(&self) -> &Tensor<T> {
        &self.table
    }

    /// The longest sequence the table covers.
    pub fn max_len(&self) -> usize {
        self.table.shape()[0]
    }

    /// `x: (B, T, d) -> x + PE[start..start + T]` (broadcast over the batch).
    #[track_caller]
    pub fn forward(&self, x: &Var<T>, start: usize) -> Var<T> {
        let t = x.shape()[x.ndim() - 2];
        if start + t > self.max_len() {
            tensor::layer_panic(
                "SinusoidalEncoding",
                format!("positions {start}..{} exceed max_len {}", start + t, self.max_len()),
            );
        }
        x.add(&Var::constant(self.table.narrow(0, start, t)))
    }
}

/// Learned positional embeddings: a `(max_len, d)` parameter table, row `pos` added to the
/// token at position `pos` (GPT-2's `wpe`).
pub struct LearnedPositional<T: Float> {
    /// `(max_len, d)`.
    pub weight: Var<T>,
}

impl<T: Float> LearnedPositional<T> {
    /// A table with Normal(0, std) entries.
    pub fn new(max_len: usize, d: usize, std: f64, rng: &mut TensorRng) -> Self {
        LearnedPositional { weight: init::normal(&[max_len, d], std, rng) }
    }

    /// The longest sequence the table covers.
    pub fn max_len(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Rows `start..start + len` of the table, `(len, d)`: a view, whose gradient flows back
    /// into exactly those rows.
    #[track_caller]
    pub fn positions(&self, start: usize, len: usize) -> Var<T> {
        if start + len > self.max_len() {
            tensor::layer_panic(
                "LearnedPositional",
                format!("positions {start}..{} exceed max_len {}", start + len, self.max_len()),
            );
        }
        self.weight.narrow(0, start, len)
    }

    /// `x: (B, T, d) -> x + P[start..start + T]`.
    #[track_caller]
    pub fn forward(&self, x: &Var<T>, start: usize) -> Var<T> {
        let t = x.shape()[x.ndim() - 2];
        x.add(&self.positions(start, t))
    }
}

impl<T: Float> Module<T> for LearnedPositional<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        vec![named("weight", &self.weight)]
    }
}
