//! The softmax family along one axis: softmax, log_softmax and logsumexp, as fused ops.
//!
//! For a lane `x` along the axis (any axis, negative allowed):
//!
//! ```text
//! y = softmax(x)_i     = exp(x_i) / sum_j exp(x_j)        dx = y * (g - sum(g * y))
//! y = log_softmax(x)_i = x_i - ln(sum_j exp(x_j))         dx = g - softmax(x) * sum(g)
//! y = logsumexp(x)     = ln(sum_j exp(x_j))               dx = g * softmax(x)
//! ```
//!
//! The forwards are the tensor crate's stable kernels (they subtract the lane's maximum first, so
//! inputs around ±1e4 stay finite). The backwards need only the saved output: the softmax Jacobian
//! is `diag(y) - y y^T`, whose product with `g` is the first line, and it is never built.
//!
//! Each op has a readable composed twin in [`crate::composed`], built from exp, sum, log and sub;
//! the tests check that the two agree in value and gradient.

use tensor::{Float, Tensor, normalize_axis};

use crate::composed;
use crate::var::Var;
use crate::{OpName, profile};

impl<T: Float> Var<T> {
    /// Softmax along `axis`: `y_i = exp(x_i) / sum_j exp(x_j)`, non-negative and summing to 1 along
    /// the axis. Shape in = shape out.
    ///
    /// Backward: `dx = y * (g - sum(g * y, axis, keepdim))` (the Jacobian `diag(y) - y y^T` applied
    /// to `g`), from the saved output alone.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![0.0, 0.0, 1e4, 1e4], &[2, 2]));
    /// let y = x.softmax(0); // columns: softmax([0, 1e4]) = [0, 1]
    /// assert_eq!(y.value().to_vec(), vec![0.0, 0.0, 1.0, 1.0]);
    /// // Each column of y sums to 1 whatever x is, so the gradient of sum(y) is 0.
    /// let g = y.sum_all().backward();
    /// assert!(g.get(&x).unwrap().to_vec().iter().all(|v| v.abs() < 1e-12));
    /// ```
    #[track_caller]
    pub fn softmax(&self, axis: isize) -> Var<T> {
        let y = self.value_ref().softmax(axis);
        let saved = y.clone();
        let fast = move |g: &Tensor<T>| {
            let gy_sum = g.mul(&saved).sum(&[axis], true);
            vec![Some(saved.mul(&g.sub(&gy_sum)))]
        };
        Var::from_fused_op(OpName::new("softmax", profile::SOFTMAX), y, &[self], fast, move |v| {
            composed::softmax(&v[0], axis)
        })
    }

    /// Log of the softmax along `axis`: `y_i = x_i - ln(sum_j exp(x_j))`, computed directly (finite
    /// where softmax underflows to 0). Shape in = shape out.
    ///
    /// Backward: `dx = g - softmax(x) * sum(g, axis, keepdim)`, with `softmax(x) = exp(y)` recomputed
    /// from the saved output.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2]));
    /// let y = x.log_softmax(-1);
    /// assert_eq!(y.value().to_vec(), vec![-(2.0f64.ln()); 2]);
    /// ```
    #[track_caller]
    pub fn log_softmax(&self, axis: isize) -> Var<T> {
        let y = self.value_ref().log_softmax(axis);
        let saved = y.clone();
        let fast = move |g: &Tensor<T>| {
            let g_sum = g.sum(&[axis], true);
            vec![Some(g.sub(&saved.exp().mul(&g_sum)))]
        };
        Var::from_fused_op(OpName::new("log_softmax", profile::SOFTMAX), y, &[self], fast, move |v| {
            composed::log_softmax(&v[0], axis)
        })
    }

    /// `ln(sum(exp(x)))` along `axis`, without overflow: `(.., n, ..) -> (.., ..)`, or `(.., 1, ..)`
    /// with `keepdim`.
    ///
    /// Backward: `dx = g * softmax(x)` (`g` gets back its size-1 axis first when `keepdim` is false).
    /// The softmax is recomputed from the saved input with the stable kernel rather than as
    /// `exp(x - y)`: with `x` around 1e4 in f32, `y` carries a rounding error of about 1e-3 that
    /// `exp(x - y)` would turn into a 1e-3 relative error in every gradient.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f32>::from_vec(vec![1e4, 1e4], &[2]));
    /// let y = x.logsumexp(0, false);
    /// assert_eq!(y.item(), 1e4 + 2.0f32.ln());
    /// let g = y.backward();
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![0.5, 0.5]);
    /// ```
    #[track_caller]
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Var<T> {
        let x = self.value();
        let a = normalize_axis("logsumexp", axis, x.ndim()) as isize;
        let y = x.logsumexp(a, keepdim);
        let fast = move |g: &Tensor<T>| {
            let g_keep = if keepdim { g.clone() } else { g.unsqueeze(a) };
            vec![Some(x.softmax(a).mul(&g_keep))]
        };
        Var::from_fused_op(OpName::new("logsumexp", profile::SOFTMAX), y, &[self], fast, move |v| {
            composed::logsumexp(&v[0], a, keepdim)
        })
    }
}
