//! Inverted dropout: zero each element with probability `p`, scale the survivors by `1 / (1 - p)`.
//!
//! ```text
//! m_i = 1 / (1 - p) with probability 1 - p, else 0      y = x * m      dx = g * m
//! ```
//!
//! Scaling at training time ("inverted" dropout) keeps `E[y] = x`, so evaluation needs no
//! rescaling: in eval mode, simply don't call `dropout` (the transformer layers take a `train`
//! flag and skip it). The mask is drawn once in the forward and saved for the backward, so the
//! gradient flows exactly through the elements that were kept.

use rand::Rng;
use tensor::{Float, Tensor, TensorRng, op_panic};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// Inverted dropout with drop probability `p` in `[0, 1)`, drawing the mask from `rng`.
    /// Shape in = shape out. `p = 0` returns `self` unchanged (the same variable, no new node).
    ///
    /// Each element is kept when a uniform draw `u` in `[0, 1)` (in f64, one per element in
    /// row-major order, whatever `T` is) satisfies `u >= p`; so the same seed gives the same mask
    /// for f32 and f64. Dropout is applied whether or not gradients are recorded: evaluation is
    /// the caller's choice of not calling it.
    ///
    /// Backward: `dx = g * m`, with the saved mask `m` (`1 / (1 - p)` where kept, 0 where dropped).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::{Tensor, rng_from_seed};
    /// let x = Var::parameter(Tensor::<f64>::ones(&[1000]));
    /// let y = x.dropout(0.5, &mut rng_from_seed(0));
    /// let v = y.value().to_vec();
    /// assert!(v.iter().all(|&e| e == 0.0 || e == 2.0)); // dropped, or kept and scaled by 1 / (1 - p)
    /// let kept = v.iter().filter(|&&e| e != 0.0).count();
    /// assert!((400..600).contains(&kept));
    /// ```
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)` (NaN included).
    #[track_caller]
    pub fn dropout(&self, p: T, rng: &mut TensorRng) -> Var<T> {
        if !(T::ZERO..T::ONE).contains(&p) {
            op_panic("dropout", format!("drop probability p = {p} must be in [0, 1) (input shape {:?})", self.shape()));
        }
        if p == T::ZERO {
            return self.clone();
        }
        let (p64, scale) = (p.to_f64(), T::ONE / (T::ONE - p));
        let shape = self.shape();
        let mask: Vec<T> =
            (0..self.numel()).map(|_| if rng.random::<f64>() >= p64 { scale } else { T::ZERO }).collect();
        let mask = Tensor::from_vec(mask, &shape);
        let value = self.value_ref().mul(&mask);
        let mask = Var::constant(mask);
        Var::from_differentiable_op("dropout", value, &[self], move |a| vec![Some(a.grad.mul(&mask))])
    }
}
