//! Layer normalisation over the last axis.
//!
//! `y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta`, with the biased variance and `eps`
//! inside the square root, as PyTorch's `nn.LayerNorm`. Shapes: `x: (..., d) -> (..., d)`,
//! `gamma, beta: (d)`. The forward is the fused op [`Var::layer_norm`], whose module doc derives
//! its backward; [`autograd::composed::layer_norm`] is the same function from primitives (mean,
//! sub, var, rsqrt, mul, add), tested to agree with it in value and gradient.

use autograd::Var;
use tensor::Float;

use crate::init;
use crate::module::{Module, named};

/// Layer norm with a learned gain (`weight`, starts at 1) and optional shift (`bias`, starts at 0).
///
/// ```
/// use transformer::LayerNorm;
/// use autograd::Var;
/// use tensor::Tensor;
/// let ln = LayerNorm::<f64>::new(4, true);
/// let y = ln.forward(&Var::constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4])));
/// let v = y.value().to_vec();
/// assert!(v.iter().sum::<f64>().abs() < 1e-12); // zero mean
/// assert!((v.iter().map(|x| x * x).sum::<f64>() / 4.0 - 1.0).abs() < 1e-4); // unit variance (up to eps)
/// ```
pub struct LayerNorm<T: Float> {
    /// Gain `gamma`, `(d)`.
    pub weight: Var<T>,
    /// Shift `beta`, `(d)`, if present.
    pub bias: Option<Var<T>>,
    /// Added to the variance inside the square root (PyTorch default 1e-5).
    pub eps: f64,
}

impl<T: Float> LayerNorm<T> {
    /// A layer norm over `d` features, `eps = 1e-5`.
    pub fn new(d: usize, bias: bool) -> Self {
        LayerNorm { weight: init::ones(&[d]), bias: bias.then(|| init::zeros(&[d])), eps: 1e-5 }
    }

    /// `x: (..., d) -> (..., d)`.
    pub fn forward(&self, x: &Var<T>) -> Var<T> {
        x.layer_norm(&self.weight, self.bias.as_ref(), self.eps)
    }
}

impl<T: Float> Module<T> for LayerNorm<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = vec![named("weight", &self.weight)];
        if let Some(b) = &self.bias {
            v.push(named("bias", b));
        }
        v
    }
}
