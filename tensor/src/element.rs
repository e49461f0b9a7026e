//! The element types a tensor can hold: `f32` and `f64`.
//!
//! Every kernel in the crate is written once, generic over [`Float`]; the trait supplies the
//! scalar math and the matching GEMM (the project's own [`crate::gemm::sgemm`] for `f32`,
//! `matrixmultiply::dgemm` for `f64`).

use std::fmt::{Debug, Display, LowerExp};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: implemented for `f32` (training) and `f64` (gradient checks).
///
/// ```
/// use tensor::Float;
/// fn half<T: Float>(x: T) -> T { x * T::from_f64(0.5) }
/// assert_eq!(half(3.0f32), 1.5);
/// assert_eq!(half(3.0f64), 1.5);
/// ```
pub trait Float:
    Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + LowerExp
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Not a number.
    const NAN: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// The type's name, `"f32"` or `"f64"` (used in printing and checkpoints).
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Converts a count or index to this type.
    fn from_usize(v: usize) -> Self {
        Self::from_f64(v as f64)
    }
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// x^p for a real exponent.
    fn powf(self, p: Self) -> Self;
    /// The error function, accurate to about one ulp (from `libm`).
    fn erf(self) -> Self;
    /// `e^x` for every element of `xs`, in place: for `f64` [`Float::exp`] one element at a
    /// time, for `f32` a vectorised polynomial within 2 ulp of the correctly rounded value (the
    /// kernels' softmax, cross-entropy and GELU use it).
    ///
    /// ```
    /// use tensor::Float;
    /// let mut x = [0.0f32, 1.0, f32::NEG_INFINITY];
    /// f32::exp_in_place(&mut x);
    /// assert_eq!(x[0], 1.0);
    /// assert!((x[1] - std::f32::consts::E).abs() < 1e-6);
    /// assert_eq!(x[2], 0.0);
    /// ```
    fn exp_in_place(xs: &mut [Self]);
    /// The error function of every element of `xs`, in place: for `f64` [`Float::erf`] one
    /// element at a time, for `f32` a vectorised formula with an absolute error below 2.5e-7
    /// (about one ulp of `1 + erf`, the quantity the exact GELU uses; see `fast_erf.rs`).
    ///
    /// ```
    /// use tensor::Float;
    /// let mut x = [0.5f32, 3.0, -10.0];
    /// f32::erf_in_place(&mut x);
    /// assert!((x[0] - 0.5f32.erf()).abs() < 2.5e-7);
    /// assert!((x[1] - 0.999_977_9).abs() < 2.5e-7);
    /// assert_eq!(x[2], -1.0);
    /// ```
    fn erf_in_place(xs: &mut [Self]);
    /// The larger of two values; NaN if either is NaN (as `torch.maximum`).
    fn max_nan(self, other: Self) -> Self {
        if self.is_nan() || other.is_nan() {
            Self::NAN
        } else if self >= other {
            self
        } else {
            other
        }
    }
    /// The smaller of two values; NaN if either is NaN (as `torch.minimum`).
    fn min_nan(self, other: Self) -> Self {
        if self.is_nan() || other.is_nan() {
            Self::NAN
        } else if self <= other {
            self
        } else {
            other
        }
    }
    /// True for NaN.
    fn is_nan(self) -> bool;
    /// True unless NaN or infinite.
    fn is_finite(self) -> bool;

    /// General matrix multiply `C = alpha * A B + beta * C` over strided operands
    /// (f32: the project's own [`crate::gemm::sgemm`]; f64: `matrixmultiply::dgemm`).
    ///
    /// # Safety
    /// `a`, `b` and `c` must be valid for every element their shape and strides address;
    /// `c` must address `m * n` distinct elements that no other thread writes meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_float {
    ($t:ty, $gemm:path, $erf:path, $exp_in_place:path, $erf_in_place:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const NAN: Self = <$t>::NAN;
            const EPSILON: Self = <$t>::EPSILON;
            const NAME: &'static str = stringify!($t);

            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn powf(self, p: Self) -> Self {
                <$t>::powf(self, p)
            }
            #[inline]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline]
            fn exp_in_place(xs: &mut [Self]) {
                $exp_in_place(xs)
            }
            #[inline]
            fn erf_in_place(xs: &mut [Self]) {
                $erf_in_place(xs)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded; the caller upholds the contract documented on the trait.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(f32, crate::gemm::sgemm, libm::erff, crate::fast_exp::exp_in_place_f32, crate::fast_erf::erf_in_place_f32);
impl_float!(f64, matrixmultiply::dgemm, libm::erf, exp_in_place_f64, erf_in_place_f64);

/// libm's `erf`, one element at a time.
fn erf_in_place_f64(xs: &mut [f64]) {
    for x in xs {
        *x = libm::erf(*x);
    }
}

/// libm's `exp`, one element at a time.
fn exp_in_place_f64(xs: &mut [f64]) {
    for x in xs {
        *x = x.exp();
    }
}
