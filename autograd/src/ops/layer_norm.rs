//! Layer normalisation over the last axis as one fused op.
//!
//! ```text
//! mean = sum(x) / d      rstd = 1 / sqrt(sum((x - mean)^2) / d + eps)      x^ = (x - mean) rstd
//! y = x^ w + b
//!
//! dx = rstd (g w - mean(g w) - x^ mean(g w x^))      dw = sum_rows(g x^)      db = sum_rows(g)
//! ```
//!
//! Where `dx` comes from: `y` depends on `x` directly and through the mean and the variance. The
//! direct path gives `rstd g w`; the mean path subtracts its average, `rstd mean(g w)`; the
//! variance path gives `-rstd x^ mean(g w x^)`. [`crate::composed::layer_norm`] builds the same
//! function from `mean`, `sub`, `var`, `rsqrt`, `mul` and `add`, whose chained backwards add up
//! to these three terms; the tests check that both agree in value and gradient and check the
//! fused gradients against finite differences. The kernels are the tensor crate's
//! [`Tensor::layer_norm`] and [`Tensor::layer_norm_backward`].

use tensor::{Float, Tensor};

use crate::composed;
use crate::var::Var;
use crate::{OpName, profile};

impl<T: Float> Var<T> {
    /// Layer norm over the last axis: `(x - mean) / sqrt(var + eps) * weight + bias` with the
    /// biased variance, as PyTorch's `nn.LayerNorm`. `weight` and `bias` are `(d)` for
    /// `self: (..., d)`; the output has the shape of `self`.
    ///
    /// Backward: see the module doc; the per-row mean and `rstd` are saved.
    ///
    /// ```
    /// use autograd::{Var, composed};
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::rand_uniform(&[3, 5], -2.0, 2.0, 1));
    /// let w = Var::parameter(Tensor::<f64>::rand_uniform(&[5], 0.5, 1.5, 2));
    /// let fused = x.layer_norm(&w, None, 1e-5).value();
    /// let reference = composed::layer_norm(&x, &w, None, 1e-5).value();
    /// assert!(fused.allclose(&reference, 1e-12, 1e-12));
    /// ```
    #[track_caller]
    pub fn layer_norm(&self, weight: &Var<T>, bias: Option<&Var<T>>, eps: f64) -> Var<T> {
        let (x, w) = (self.value(), weight.value());
        let b = bias.map(|b| b.value());
        let (y, stats) = x.layer_norm(&w, b.as_ref(), T::from_f64(eps));
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let has_bias = bias.is_some();
        let fast = move |g: &Tensor<T>| {
            let (dx, dw, db) = Tensor::layer_norm_backward(&x, &w, &stats, g);
            let mut grads = vec![Some(dx), Some(dw)];
            if has_bias {
                grads.push(Some(db));
            }
            grads
        };
        Var::from_fused_op(OpName::new("layer_norm", profile::LAYER_NORM), y, &inputs, fast, move |v| {
            composed::layer_norm(&v[0], &v[1], v.get(2), eps)
        })
    }
}
