//! Elementwise functions of one tensor, and the ops that combine a tensor with one scalar.
//!
//! Each op computes `y[i] = f(x[i])` for every element: the output has the input's shape and is
//! contiguous, whatever the input's strides (a permuted, sliced or broadcast view works as is).
//! All of them are built on [`Tensor::map`], which walks contiguous inputs as a plain slice and
//! anything else with the crate's one strided walker. (The two GELUs, whose exact form has a
//! hand-shaped slice kernel, are in `gelu.rs`.)
//!
//! NaN goes in, NaN comes out: no op here hides a NaN (relu, clamp and the comparisons included,
//! where a comparison with NaN is simply false).
//!
//! ```
//! use tensor::Tensor;
//! let x = Tensor::<f64>::from_vec(vec![-2.0, 0.0, 3.0], &[3]);
//! assert_eq!(x.relu().to_vec(), vec![0.0, 0.0, 3.0]);
//! assert_eq!(x.mul_scalar(2.0).add_scalar(1.0).to_vec(), vec![-3.0, 1.0, 7.0]);
//! ```

use crate::error::op_panic;
use crate::{Float, Tensor};

/// 1.0 for true, 0.0 for false: how comparisons report their result as a tensor of `T`.
#[inline]
pub(crate) fn indicator<T: Float>(b: bool) -> T {
    if b { T::ONE } else { T::ZERO }
}

impl<T: Float> Tensor<T> {
    /// y = -x
    pub fn neg(&self) -> Tensor<T> {
        self.map(|x| -x)
    }

    /// y = e^x. Overflows to +inf above about 88.7 (f32) or 709.8 (f64); e^x for very negative x is 0.
    pub fn exp(&self) -> Tensor<T> {
        self.map(T::exp)
    }

    /// y = ln x (natural logarithm): -inf at 0, NaN for x < 0.
    pub fn log(&self) -> Tensor<T> {
        self.map(T::ln)
    }

    /// y = sqrt x: NaN for x < 0.
    pub fn sqrt(&self) -> Tensor<T> {
        self.map(T::sqrt)
    }

    /// y = 1 / sqrt x (as used by layer norm: `(var + eps).rsqrt()`): +inf at 0.
    pub fn rsqrt(&self) -> Tensor<T> {
        self.map(|x| T::ONE / x.sqrt())
    }

    /// y = x^p for a real exponent `p` (NaN for x < 0 unless `p` is an integer).
    pub fn powf(&self, p: T) -> Tensor<T> {
        self.map(|x| x.powf(p))
    }

    /// y = x * x
    pub fn square(&self) -> Tensor<T> {
        self.map(|x| x * x)
    }

    /// y = 1 / x: ±inf at ±0.
    pub fn recip(&self) -> Tensor<T> {
        self.map(|x| T::ONE / x)
    }

    /// y = |x|
    pub fn abs(&self) -> Tensor<T> {
        self.map(T::abs)
    }

    /// y = tanh x = (e^x - e^-x) / (e^x + e^-x), in (-1, 1); ±1 for large |x|, never NaN for finite x.
    pub fn tanh(&self) -> Tensor<T> {
        self.map(T::tanh)
    }

    /// y = 1 / (1 + e^-x), the logistic sigmoid, in (0, 1).
    ///
    /// Computed as `1 / (1 + e^-x)` for x >= 0 and `e^x / (1 + e^x)` for x < 0, so the
    /// exponential never overflows: sigmoid(1e4) is exactly 1 and sigmoid(-1e4) is exactly 0.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![-1e4, 0.0, 1e4], &[3]);
    /// assert_eq!(x.sigmoid().to_vec(), vec![0.0, 0.5, 1.0]);
    /// ```
    pub fn sigmoid(&self) -> Tensor<T> {
        self.map(|x| {
            if x >= T::ZERO {
                T::ONE / (T::ONE + (-x).exp())
            } else {
                let e = x.exp();
                e / (T::ONE + e)
            }
        })
    }

    /// y = max(x, 0). relu(NaN) is NaN and relu(-0.0) is +0.0.
    pub fn relu(&self) -> Tensor<T> {
        self.map(|x| if x > T::ZERO || x.is_nan() { x } else { T::ZERO })
    }

    /// y = min(max(x, min), max), elementwise. NaN stays NaN.
    ///
    /// # Panics
    /// If `min > max` or either bound is NaN.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![-3.0, 0.5, 9.0], &[3]);
    /// assert_eq!(x.clamp(-1.0, 1.0).to_vec(), vec![-1.0, 0.5, 1.0]);
    /// ```
    #[track_caller]
    pub fn clamp(&self, min: T, max: T) -> Tensor<T> {
        if min.is_nan() || max.is_nan() || min > max {
            op_panic("clamp", format!("needs min <= max, got min {min} and max {max} (shape {:?})", self.shape()));
        }
        self.map(|x| x.max_nan(min).min_nan(max))
    }

    /// y = x + s
    pub fn add_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x + s)
    }

    /// y = x - s
    pub fn sub_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x - s)
    }

    /// y = x * s
    pub fn mul_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x * s)
    }

    /// y = x / s
    pub fn div_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| x / s)
    }

    /// y = 1 where x == s, else 0 (a mask of type `T`).
    pub fn eq_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| indicator(x == s))
    }

    /// y = 1 where x < s, else 0.
    pub fn lt_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| indicator(x < s))
    }

    /// y = 1 where x <= s, else 0.
    pub fn le_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| indicator(x <= s))
    }

    /// y = 1 where x > s, else 0 (e.g. relu's derivative: `x.gt_scalar(0.0)`).
    pub fn gt_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| indicator(x > s))
    }

    /// y = 1 where x >= s, else 0.
    pub fn ge_scalar(&self, s: T) -> Tensor<T> {
        self.map(|x| indicator(x >= s))
    }
}
