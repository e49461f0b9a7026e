//! Elementwise functions of one tensor, and the ops that combine a tensor with one scalar.
//!
//! Each op computes `y[i] = f(x[i])` for every element: the output has the input's shape and is
//! contiguous, whatever the input's strides (a permuted, sliced or broadcast view works as is).
//! All of them are built on [`Tensor::map`], which walks contiguous inputs as a plain slice and
//! anything else with the crate's one strided walker; except the exact GELU and its gradient, whose
//! erf is costly enough to earn a hand-shaped slice kernel (at the end of this file) that gives the
//! same bits as the one-line formula.
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

use std::mem::MaybeUninit;

use crate::error::op_panic;
use crate::map::build_vec;
use crate::{Float, Tensor};

/// sqrt(2 / pi), the scale inside the tanh approximation of GELU.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of GELU (Hendrycks & Gimpel).
const GELU_CUBIC: f64 = 0.044_715;
/// 1 / sqrt(2 pi), the standard normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

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

    /// GELU, tanh approximation (GPT-2's `gelu_new`, PyTorch's `approximate='tanh'`):
    ///
    /// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    ///
    /// ```
    /// use tensor::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![1.0], &[1]).gelu_tanh().item();
    /// assert!((y - 0.8411919906082768).abs() < 1e-15);
    /// ```
    pub fn gelu_tanh(&self) -> Tensor<T> {
        let (c, k, half) = (T::from_f64(SQRT_2_OVER_PI), T::from_f64(GELU_CUBIC), T::from_f64(0.5));
        self.map(|x| half * x * (T::ONE + (c * (x + k * x * x * x)).tanh()))
    }

    /// GELU, exact form (PyTorch's default `approximate='none'`):
    ///
    /// y = 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x), with Phi the standard normal CDF.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![1.0], &[1]).gelu_erf().item();
    /// assert_eq!(y, 0.8413447460685429);
    /// ```
    pub fn gelu_erf(&self) -> Tensor<T> {
        // SAFETY: `gelu_erf_kernel` writes every element of `out`.
        unsafe { self.map_slices(gelu_erf_kernel) }
    }

    /// The gradient of [`Tensor::gelu_erf`]: `grad * gelu'(x)` with `self` as `x`, where
    ///
    /// gelu'(x) = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x e^(-x^2 / 2) / sqrt(2 pi).
    ///
    /// Computed per element as `g * (0.5 (1 + erf(x * (1/sqrt 2))) + x * ((1/sqrt(2 pi)) *
    /// exp(-(0.5 x x))))`, in that order, with the erf of [`Float::erf`]: the same bits as that
    /// scalar formula, but with erf's common branches vectorised as in `gelu_erf`.
    ///
    /// # Panics
    /// If `grad`'s shape differs from `self`'s.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.0, 2.0], &[3]);
    /// let g = x.gelu_erf_backward(&Tensor::ones(&[3])).to_vec();
    /// assert_eq!(g[1], 0.5); // Phi(0)
    /// assert!((g[2] - 1.085_231_801_078_197).abs() < 1e-12); // Phi(2) + 2 phi(2)
    /// ```
    #[track_caller]
    pub fn gelu_erf_backward(&self, grad: &Tensor<T>) -> Tensor<T> {
        if grad.shape() != self.shape() {
            op_panic(
                "gelu_erf_backward",
                format!("grad shape {:?} differs from input shape {:?}", grad.shape(), self.shape()),
            );
        }
        let (x, g) = (self.contiguous(), grad.contiguous());
        let (xs, gs) = (x.as_slice().unwrap(), g.as_slice().unwrap());
        let fill = |start: usize, out: &mut [MaybeUninit<T>]| {
            let end = start + out.len();
            gelu_erf_backward_kernel(&xs[start..end], &gs[start..end], out);
        };
        // SAFETY: the kernel writes every element of `out`.
        Tensor::from_vec(unsafe { build_vec(xs.len(), fill) }, self.shape())
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

/// `gelu_erf` on a slice: `y = 0.5 x (1 + erf(x / sqrt 2))`, bit for bit as [`Float::erf`] (libm)
/// gives it, but fast where it matters.
///
/// In a network, almost every GELU input has `|x / sqrt 2| < 1.25`, where libm's `erf` and `erff`
/// are rational functions with no call inside (see [`NearErf`]). The first pass computes those
/// branches for every element, with the same operations in the same order as libm (so the same
/// bits: Rust never fuses a multiply and an add), in a loop the compiler vectorises, and notes
/// whether any element of the block fell outside. Only then does a second pass redo those rare
/// elements (and NaN) with `Float::erf` itself.
///
/// The first pass is four divisions and two dozen multiply-adds per element: on x86-64 CPUs with
/// AVX2 it is compiled a second time for 8-wide vectors (the baseline target has only 4-wide SSE2)
/// and picked at run time. Both versions do the same IEEE operations, so they agree bit for bit.
fn gelu_erf_kernel<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { gelu_erf_avx2(x, out) };
    }
    gelu_erf_body(x, out)
}

/// [`gelu_erf_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_erf_avx2<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
    gelu_erf_body(x, out)
}

/// The two passes of [`gelu_erf_kernel`], a block of elements at a time.
#[inline(always)]
fn gelu_erf_body<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
    // Divide by sqrt 2 rather than multiply by 1/sqrt 2: the rounded constants differ, and the
    // division reproduces the correctly rounded gelu(1) in f64 (the product is one ulp off).
    let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
    let erf = NearErf::<T>::new();
    // |v| below `sure` implies |v / sqrt 2| < 1.25 after rounding: the second pass skips those
    // without a division.
    let sure = T::from_f64(ERF_NEAR * std::f64::consts::SQRT_2 * (1.0 - 1e-6));
    for (out, x) in out.chunks_mut(64).zip(x.chunks(64)) {
        let mut outside = false;
        for (o, &v) in out.iter_mut().zip(x) {
            let u = v / sqrt2;
            outside |= !erf.covers(u);
            o.write(half * v * (T::ONE + erf.eval(u)));
        }
        if outside {
            for (o, &v) in out.iter_mut().zip(x) {
                if v.abs() < sure {
                    continue;
                }
                let u = v / sqrt2;
                if !erf.covers(u) {
                    o.write(half * v * (T::ONE + u.erf()));
                }
            }
        }
    }
}

/// [`Tensor::gelu_erf_backward`] on slices; AVX2 when the CPU has it, as [`gelu_erf_kernel`].
fn gelu_erf_backward_kernel<T: Float>(x: &[T], g: &[T], out: &mut [MaybeUninit<T>]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { gelu_erf_backward_avx2(x, g, out) };
    }
    gelu_erf_backward_body(x, g, out)
}

/// [`gelu_erf_backward_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gelu_erf_backward_avx2<T: Float>(x: &[T], g: &[T], out: &mut [MaybeUninit<T>]) {
    gelu_erf_backward_body(x, g, out)
}

/// Per block of 64: erf of every `x * (1/sqrt 2)` and `exp(-x^2 / 2)` in vectorised passes (the
/// latter by [`Float::exp_in_place`]), the combination `g (cdf + x pdf)` in a third; then, only if
/// the block had any, the elements outside [`NearErf`]'s range again with `Float::erf`.
#[inline(always)]
fn gelu_erf_backward_body<T: Float>(x: &[T], g: &[T], out: &mut [MaybeUninit<T>]) {
    let (inv_sqrt2, inv_sqrt_2pi, half) =
        (T::from_f64(std::f64::consts::FRAC_1_SQRT_2), T::from_f64(INV_SQRT_2PI), T::from_f64(0.5));
    let erf = NearErf::<T>::new();
    let (mut e, mut ex) = ([T::ZERO; 64], [T::ZERO; 64]);
    for ((out, x), g) in out.chunks_mut(64).zip(x.chunks(64)).zip(g.chunks(64)) {
        let (e, ex) = (&mut e[..x.len()], &mut ex[..x.len()]);
        for ((e, ex), &v) in e.iter_mut().zip(ex.iter_mut()).zip(x) {
            *e = erf.eval(v * inv_sqrt2);
            *ex = -(half * v * v);
        }
        T::exp_in_place(ex);
        let mut outside = false;
        for ((((o, &v), &g), &e), &ex) in out.iter_mut().zip(x).zip(g).zip(e.iter()).zip(ex.iter()) {
            outside |= !erf.covers(v * inv_sqrt2);
            let cdf = half * (T::ONE + e);
            let pdf = inv_sqrt_2pi * ex;
            o.write(g * (cdf + v * pdf));
        }
        if outside {
            for ((((o, &v), &g), &ex), _) in out.iter_mut().zip(x).zip(g).zip(ex.iter()).zip(e.iter()) {
                let u = v * inv_sqrt2;
                if !erf.covers(u) {
                    let cdf = half * (T::ONE + u.erf());
                    let pdf = inv_sqrt_2pi * ex;
                    o.write(g * (cdf + v * pdf));
                }
            }
        }
    }
}

/// 2^-28: below it libm's erf returns `0.125 * (8 x + efx8 x)` (avoiding underflow).
const ERF_TINY: f64 = 3.725_290_298_461_914e-9;
/// Below it (and above 2^-28) libm's erf returns `x + x * P(x^2) / Q(x^2)`.
const ERF_SMALL: f64 = 0.84375;
/// Below it (and from 0.84375) libm's erf returns `±(1 - (1 - erx - P(|x| - 1) / Q(|x| - 1)))`.
/// Above it, libm calls its `exp` twice: those elements take the scalar path.
const ERF_NEAR: f64 = 1.25;

/// libm's erf on `|x| < 1.25`, for `f32` (`erff`) or `f64` (`erf`): the two share their branches
/// and polynomial degrees. The coefficients are libm's decimal literals, so they round to the
/// same bits.
struct NearErf<T> {
    efx8: T,
    erx: T,
    /// Numerator and denominator of the small branch (`pp0..pp4`, `qq1..qq5`).
    pp: [T; 5],
    qq: [T; 5],
    /// Numerator and denominator of the middle branch (`pa0..pa6`, `qa1..qa6`).
    pa: [T; 7],
    qa: [T; 6],
}

impl<T: Float> NearErf<T> {
    // libm's literals, digit for digit, so each rounds to libm's bits.
    #[allow(clippy::excessive_precision)]
    fn new() -> Self {
        fn arr<T: Float, const K: usize>(v: [f64; K]) -> [T; K] {
            v.map(T::from_f64)
        }
        if T::NAME == "f32" {
            // libm 0.2 `erff.rs`. Each f32 literal widens exactly to f64 and back.
            fn f<T: Float, const K: usize>(v: [f32; K]) -> [T; K] {
                v.map(|x| T::from_f64(x as f64))
            }
            NearErf {
                efx8: f([1.0270333290e+00])[0],
                erx: f([8.4506291151e-01])[0],
                pp: f([1.2837916613e-01, -3.2504209876e-01, -2.8481749818e-02, -5.7702702470e-03, -2.3763017452e-05]),
                qq: f([3.9791721106e-01, 6.5022252500e-02, 5.0813062117e-03, 1.3249473704e-04, -3.9602282413e-06]),
                pa: f([
                    -2.3621185683e-03,
                    4.1485610604e-01,
                    -3.7220788002e-01,
                    3.1834661961e-01,
                    -1.1089469492e-01,
                    3.5478305072e-02,
                    -2.1663755178e-03,
                ]),
                qa: f([
                    1.0642088205e-01,
                    5.4039794207e-01,
                    7.1828655899e-02,
                    1.2617121637e-01,
                    1.3637083583e-02,
                    1.1984500103e-02,
                ]),
            }
        } else {
            // libm 0.2 `erf.rs`.
            NearErf {
                efx8: T::from_f64(1.02703333676410069053e+00),
                erx: T::from_f64(8.45062911510467529297e-01),
                pp: arr([
                    1.28379167095512558561e-01,
                    -3.25042107247001499370e-01,
                    -2.84817495755985104766e-02,
                    -5.77027029648944159157e-03,
                    -2.37630166566501626084e-05,
                ]),
                qq: arr([
                    3.97917223959155352819e-01,
                    6.50222499887672944485e-02,
                    5.08130628187576562776e-03,
                    1.32494738004321644526e-04,
                    -3.96022827877536812320e-06,
                ]),
                pa: arr([
                    -2.36211856075265944077e-03,
                    4.14856118683748331666e-01,
                    -3.72207876035701323847e-01,
                    3.18346619901161753674e-01,
                    -1.10894694282396677476e-01,
                    3.54783043256182359371e-02,
                    -2.16637559486879084300e-03,
                ]),
                qa: arr([
                    1.06420880400844228286e-01,
                    5.40397917702171048937e-01,
                    7.18286544141962662868e-02,
                    1.26171219808761642112e-01,
                    1.36370839120290507362e-02,
                    1.19844998467991074170e-02,
                ]),
            }
        }
    }

    /// True when `eval(x)` is libm's erf(x): |x| < 1.25 (false for NaN).
    #[inline(always)]
    fn covers(&self, x: T) -> bool {
        x.abs() < T::from_f64(ERF_NEAR)
    }

    /// libm's erf(x) for |x| < 1.25, operation for operation; meaningless (but harmless) elsewhere.
    /// Every branch is computed and one is selected, so the loop calling it has no jumps.
    #[inline(always)]
    fn eval(&self, x: T) -> T {
        let (pp, qq, pa, qa) = (&self.pp, &self.qq, &self.pa, &self.qa);
        let ax = x.abs();
        let (tiny, small) = (ax < T::from_f64(ERF_TINY), ax < T::from_f64(ERF_SMALL));
        // 2^-28 <= |x| < 0.84375: `x + x * r / s` with r, s polynomials in z = x^2.
        let z = x * x;
        let r = pp[0] + z * (pp[1] + z * (pp[2] + z * (pp[3] + z * pp[4])));
        let s = T::ONE + z * (qq[0] + z * (qq[1] + z * (qq[2] + z * (qq[3] + z * qq[4]))));
        // 0.84375 <= |x| < 1.25: libm's `1 - erfc1(x)` = `1 - (1 - erx - p / q)`, p, q polynomials in
        // |x| - 1, then the sign of x.
        let t = ax - T::ONE;
        let p = pa[0] + t * (pa[1] + t * (pa[2] + t * (pa[3] + t * (pa[4] + t * (pa[5] + t * pa[6])))));
        let q = T::ONE + t * (qa[0] + t * (qa[1] + t * (qa[2] + t * (qa[3] + t * (qa[4] + t * qa[5])))));
        // One division serves both branches: each lane divides the pair its branch needs.
        let (num, den) = if small { (r, s) } else { (p, q) };
        let ratio = num / den;
        let near = T::ONE - (T::ONE - self.erx - ratio);
        let (eighth, eight) = (T::from_f64(0.125), T::from_f64(8.0));
        if tiny {
            eighth * (eight * x + self.efx8 * x)
        } else if small {
            x + x * ratio
        } else if x < T::ZERO {
            -near
        } else {
            near
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;

    use super::NearErf;
    use crate::{Float, Tensor};

    /// Every `step`-th bit pattern of the positive floats below `limit`, and their negatives.
    fn sweep_f32(limit: f32, step: u32) -> Vec<f32> {
        (0..limit.to_bits()).step_by(step as usize).map(f32::from_bits).flat_map(|x| [x, -x]).collect()
    }

    #[test]
    fn near_erf_is_libm_bit_for_bit_f32() {
        let e = NearErf::<f32>::new();
        for x in sweep_f32(1.25, 97) {
            assert!(e.covers(x));
            assert_eq!(e.eval(x).to_bits(), Float::erf(x).to_bits(), "erff({x:e})");
        }
        assert!(!e.covers(1.25) && !e.covers(-1.25) && !e.covers(f32::NAN));
    }

    #[test]
    fn near_erf_is_libm_bit_for_bit_f64() {
        let e = NearErf::<f64>::new();
        let mut x = 1e-300f64;
        while x < 1.25 {
            for v in [x, -x, x * 1.000_000_1] {
                if e.covers(v) {
                    assert_eq!(e.eval(v).to_bits(), Float::erf(v).to_bits(), "erf({v:e})");
                }
            }
            x *= 1.0001;
        }
    }

    /// The reference: the scalar formula `gelu_erf` had before its slice kernel.
    fn gelu_ref<T: Float>(x: T) -> T {
        let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
        half * x * (T::ONE + (x / sqrt2).erf())
    }

    #[test]
    fn gelu_erf_matches_the_scalar_formula_bit_for_bit() {
        // Dense around the branch points |x / sqrt 2| = 0.84375 and 1.25, plus wide, tiny and special values.
        let mut xs: Vec<f32> = [0.84375f32, 1.25]
            .iter()
            .flat_map(|e| {
                (-3000..3000).map(move |k| f32::from_bits(((e * std::f32::consts::SQRT_2).to_bits() as i64 + k) as u32))
            })
            .collect();
        xs.extend(xs.clone().iter().map(|x| -x));
        xs.extend(sweep_f32(10.0, 9973));
        xs.extend([0.0, -0.0, 1e-30, f32::MIN_POSITIVE, 1e-45, 7.0, 1e30, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        check_gelu(&xs);
        check_gelu(&xs.iter().map(|&x| x as f64 * 1.000_000_3).collect::<Vec<_>>());
    }

    /// `gelu_erf`, and the kernel body as compiled for the baseline target (the path of CPUs
    /// without AVX2), against the scalar formula.
    fn check_gelu<T: Float>(xs: &[T]) {
        let y = Tensor::from_vec(xs.to_vec(), &[xs.len()]).gelu_erf().to_vec();
        let mut base = vec![MaybeUninit::uninit(); xs.len()];
        super::gelu_erf_body(xs, &mut base);
        for ((&x, &y), b) in xs.iter().zip(&y).zip(&base) {
            // SAFETY: `gelu_erf_body` wrote every element.
            let b = unsafe { b.assume_init() };
            let want = gelu_ref(x);
            let same = |v: T| v.to_f64().to_bits() == want.to_f64().to_bits() || (v.is_nan() && want.is_nan());
            assert!(same(y) && same(b), "gelu_erf({x:e}) = {y:e} / {b:e}, want {want:e}");
        }
    }

    #[test]
    fn gelu_erf_backward_matches_the_scalar_formula_bit_for_bit() {
        fn check<T: Float>(xs: &[f64]) {
            let (inv_sqrt2, inv_sqrt_2pi, half) =
                (T::from_f64(std::f64::consts::FRAC_1_SQRT_2), T::from_f64(super::INV_SQRT_2PI), T::from_f64(0.5));
            let x = Tensor::<T>::from_vec(xs.iter().map(|&v| T::from_f64(v)).collect(), &[xs.len()]);
            let g = x.map(|v| v * T::from_f64(0.75) - T::ONE);
            let got = x.gelu_erf_backward(&g).to_vec();
            let mut base = vec![MaybeUninit::uninit(); xs.len()];
            super::gelu_erf_backward_body(x.as_slice().unwrap(), g.as_slice().unwrap(), &mut base);
            // SAFETY: `gelu_erf_backward_body` wrote every element.
            let base: Vec<T> = base.iter().map(|b| unsafe { b.assume_init() }).collect();
            for (((&x, &g), &got), &b) in x.to_vec().iter().zip(&g.to_vec()).zip(&got).zip(&base) {
                let cdf = half * (T::ONE + (x * inv_sqrt2).erf());
                // The crate's exp (vectorised for f32), one element at a time.
                let mut ex = [-(half * x * x)];
                T::exp_in_place(&mut ex);
                let pdf = inv_sqrt_2pi * ex[0];
                let want = g * (cdf + x * pdf);
                let same = |v: T| v.to_f64().to_bits() == want.to_f64().to_bits() || (v.is_nan() && want.is_nan());
                assert!(same(got) && same(b), "x = {x}: {got:e} / {b:e}, want {want:e}");
            }
        }
        let mut xs: Vec<f64> = (-4000..4000).map(|k| k as f64 * 1e-3).collect();
        xs.extend([1.767766952966369, -1.767766952966369, 1e-12, 30.0, -30.0, f64::INFINITY, f64::NAN]);
        check::<f32>(&xs);
        check::<f64>(&xs);
    }
}
