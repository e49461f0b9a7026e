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
use crate::map::{build_vec, build_vec_pair};
use crate::{Float, Tensor};

/// sqrt(2 / pi), the scale inside the tanh approximation of GELU (the autograd op's backward
/// uses the same constant).
pub const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of GELU (Hendrycks & Gimpel).
pub const GELU_CUBIC: f64 = 0.044_715;
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

    /// [`Tensor::gelu_erf`] and, from the same pass, the normal CDF `Phi(x) = 0.5 (1 + erf(x /
    /// sqrt 2))` that its backward needs: with it saved, [`Tensor::gelu_erf_backward_with_cdf`]
    /// takes no erf at all (the autograd op does this; the erf is most of GELU's cost).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.0, 2.0], &[3]);
    /// let (y, cdf) = x.gelu_erf_with_cdf();
    /// assert_eq!(y.to_vec(), x.gelu_erf().to_vec());
    /// assert_eq!(cdf.to_vec()[1], 0.5);
    /// ```
    pub fn gelu_erf_with_cdf(&self) -> (Tensor<T>, Tensor<T>) {
        let x = self.contiguous();
        let xs = x.as_slice().expect("contiguous");
        let fill = |start: usize, y: &mut [MaybeUninit<T>], cdf: &mut [MaybeUninit<T>]| {
            gelu_erf_cdf_kernel(&xs[start..start + y.len()], y, cdf);
        };
        // SAFETY: the kernel writes every element of both outputs.
        let (y, cdf) = unsafe { build_vec_pair(xs.len(), fill) };
        (Tensor::from_vec(y, self.shape()), Tensor::from_vec(cdf, self.shape()))
    }

    /// The gradient of GELU from the saved CDF of [`Tensor::gelu_erf_with_cdf`]:
    /// `grad * (cdf + x phi(x))`, `phi(x) = exp(-x^2 / 2) / sqrt(2 pi)`, with `self` as `x`.
    ///
    /// # Panics
    /// If `cdf` or `grad` differs in shape from `self`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.0, 2.0], &[3]);
    /// let (_, cdf) = x.gelu_erf_with_cdf();
    /// let g = x.gelu_erf_backward_with_cdf(&cdf, &Tensor::ones(&[3]));
    /// assert!(g.allclose(&x.gelu_erf_backward(&Tensor::ones(&[3])), 1e-15, 1e-15));
    /// ```
    #[track_caller]
    pub fn gelu_erf_backward_with_cdf(&self, cdf: &Tensor<T>, grad: &Tensor<T>) -> Tensor<T> {
        if grad.shape() != self.shape() || cdf.shape() != self.shape() {
            op_panic(
                "gelu_erf_backward_with_cdf",
                format!(
                    "cdf {:?} and grad {:?} must have the input's shape {:?}",
                    cdf.shape(),
                    grad.shape(),
                    self.shape()
                ),
            );
        }
        let (x, c, g) = (self.contiguous(), cdf.contiguous(), grad.contiguous());
        let (xs, cs, gs) = (x.as_slice().unwrap(), c.as_slice().unwrap(), g.as_slice().unwrap());
        let fill = |start: usize, out: &mut [MaybeUninit<T>]| {
            let end = start + out.len();
            gelu_backward_from_cdf_kernel(&xs[start..end], &cs[start..end], &gs[start..end], out);
        };
        // SAFETY: the kernel writes every element of `out`.
        Tensor::from_vec(unsafe { build_vec(xs.len(), fill) }, self.shape())
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

/// Elements per block of the GELU kernels' stack scratch rows.
const GELU_BLOCK: usize = 64;

/// `gelu_erf` on a slice: `y = 0.5 x (1 + erf(x / sqrt 2))`, a block at a time: the scaled inputs
/// into a scratch row, [`Float::erf_in_place`] on it (vectorised for `f32`), then the product.
fn gelu_erf_kernel<T: Float>(x: &[T], out: &mut [MaybeUninit<T>]) {
    // Divide by sqrt 2 rather than multiply by 1/sqrt 2: the rounded constants differ, and the
    // division reproduces the correctly rounded gelu(1) in f64 (the product is one ulp off).
    let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
    let mut u = [T::ZERO; GELU_BLOCK];
    for (out, x) in out.chunks_mut(GELU_BLOCK).zip(x.chunks(GELU_BLOCK)) {
        let u = &mut u[..x.len()];
        for (ui, &v) in u.iter_mut().zip(x) {
            *ui = v / sqrt2;
        }
        T::erf_in_place(u);
        for ((o, &v), &e) in out.iter_mut().zip(x).zip(u.iter()) {
            o.write(half * v * (T::ONE + e));
        }
    }
}

/// `gelu_erf` and `Phi(x)` on a slice, a block at a time, with the operations of
/// [`gelu_erf_kernel`] (so `y` has the same bits).
fn gelu_erf_cdf_kernel<T: Float>(x: &[T], y: &mut [MaybeUninit<T>], cdf: &mut [MaybeUninit<T>]) {
    let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
    let mut u = [T::ZERO; GELU_BLOCK];
    for ((y, c), x) in y.chunks_mut(GELU_BLOCK).zip(cdf.chunks_mut(GELU_BLOCK)).zip(x.chunks(GELU_BLOCK)) {
        let u = &mut u[..x.len()];
        for (ui, &v) in u.iter_mut().zip(x) {
            *ui = v / sqrt2;
        }
        T::erf_in_place(u);
        for (((y, c), &v), &e) in y.iter_mut().zip(c.iter_mut()).zip(x).zip(u.iter()) {
            y.write(half * v * (T::ONE + e));
            c.write(half * (T::ONE + e));
        }
    }
}

/// `g (cdf + x phi(x))` on slices, a block at a time: `exp(-x^2 / 2)` by [`Float::exp_in_place`].
fn gelu_backward_from_cdf_kernel<T: Float>(x: &[T], cdf: &[T], g: &[T], out: &mut [MaybeUninit<T>]) {
    let (inv_sqrt_2pi, half) = (T::from_f64(INV_SQRT_2PI), T::from_f64(0.5));
    let mut ex = [T::ZERO; GELU_BLOCK];
    for (((out, x), c), g) in
        out.chunks_mut(GELU_BLOCK).zip(x.chunks(GELU_BLOCK)).zip(cdf.chunks(GELU_BLOCK)).zip(g.chunks(GELU_BLOCK))
    {
        let ex = &mut ex[..x.len()];
        for (ex, &v) in ex.iter_mut().zip(x) {
            *ex = -(half * v * v);
        }
        T::exp_in_place(ex);
        for ((((o, &v), &c), &g), &ex) in out.iter_mut().zip(x).zip(c).zip(g).zip(ex.iter()) {
            let pdf = inv_sqrt_2pi * ex;
            o.write(g * (c + v * pdf));
        }
    }
}

/// [`Tensor::gelu_erf_backward`] on slices, a block at a time: `erf(x / sqrt 2)` and
/// `exp(-x^2 / 2)` into scratch rows by [`Float::erf_in_place`] and [`Float::exp_in_place`]
/// (vectorised for `f32`), then `g (cdf + x pdf)`.
fn gelu_erf_backward_kernel<T: Float>(x: &[T], g: &[T], out: &mut [MaybeUninit<T>]) {
    let (inv_sqrt2, inv_sqrt_2pi, half) =
        (T::from_f64(std::f64::consts::FRAC_1_SQRT_2), T::from_f64(INV_SQRT_2PI), T::from_f64(0.5));
    let (mut e, mut ex) = ([T::ZERO; GELU_BLOCK], [T::ZERO; GELU_BLOCK]);
    for ((out, x), g) in out.chunks_mut(GELU_BLOCK).zip(x.chunks(GELU_BLOCK)).zip(g.chunks(GELU_BLOCK)) {
        let (e, ex) = (&mut e[..x.len()], &mut ex[..x.len()]);
        for ((e, ex), &v) in e.iter_mut().zip(ex.iter_mut()).zip(x) {
            *e = v * inv_sqrt2;
            *ex = -(half * v * v);
        }
        T::erf_in_place(e);
        T::exp_in_place(ex);
        for ((((o, &v), &g), &e), &ex) in out.iter_mut().zip(x).zip(g).zip(e.iter()).zip(ex.iter()) {
            let cdf = half * (T::ONE + e);
            let pdf = inv_sqrt_2pi * ex;
            o.write(g * (cdf + v * pdf));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Float, Tensor};

    /// Every `step`-th bit pattern of the positive floats below `limit`, and their negatives.
    fn sweep_f32(limit: f32, step: u32) -> Vec<f32> {
        (0..limit.to_bits()).step_by(step as usize).map(f32::from_bits).flat_map(|x| [x, -x]).collect()
    }

    /// The crate's erf (libm for f64, the vectorised kernel for f32), one element at a time.
    fn erf1<T: Float>(x: T) -> T {
        let mut a = [x];
        T::erf_in_place(&mut a);
        a[0]
    }

    /// The crate's exp, one element at a time.
    fn exp1<T: Float>(x: T) -> T {
        let mut a = [x];
        T::exp_in_place(&mut a);
        a[0]
    }

    /// The reference: the scalar formula, with the crate's erf.
    fn gelu_ref<T: Float>(x: T) -> T {
        let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
        half * x * (T::ONE + erf1(x / sqrt2))
    }

    /// A dense sweep plus tiny, huge and special values.
    fn gelu_inputs() -> Vec<f32> {
        let mut xs = sweep_f32(10.0, 997);
        xs.extend([0.0, -0.0, 1e-30, f32::MIN_POSITIVE, 1e-45, 7.0, 1e30, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        xs
    }

    #[test]
    fn gelu_erf_matches_the_scalar_formula_bit_for_bit() {
        fn check<T: Float>(xs: &[T]) {
            let y = Tensor::from_vec(xs.to_vec(), &[xs.len()]).gelu_erf().to_vec();
            for (&x, &y) in xs.iter().zip(&y) {
                let want = gelu_ref(x);
                let same = y.to_f64().to_bits() == want.to_f64().to_bits() || (y.is_nan() && want.is_nan());
                assert!(same, "gelu_erf({x:e}) = {y:e}, want {want:e}");
            }
        }
        let xs = gelu_inputs();
        check(&xs);
        // In f64 the reference is libm's erf itself.
        check(&xs.iter().map(|&x| x as f64 * 1.000_000_3).collect::<Vec<_>>());
    }

    #[test]
    fn f32_gelu_erf_is_close_to_f64() {
        let xs: Vec<f32> = gelu_inputs().into_iter().filter(|x| x.is_finite() && x.abs() < 1e6).collect();
        let y32 = Tensor::from_vec(xs.clone(), &[xs.len()]).gelu_erf().to_vec();
        let x64: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
        let y64 = Tensor::from_vec(x64.clone(), &[xs.len()]).gelu_erf().to_vec();
        for ((&x, &a), &b) in x64.iter().zip(&y32).zip(&y64) {
            // A few f32 roundings of the result, plus erf's absolute error (2.5e-7) times x / 2:
            // about one ulp of 1 + erf, the quantity GELU uses. Subnormal results carry an
            // absolute precision of their own.
            let tol = 4.0 * f32::EPSILON as f64 * b.abs() + 1.25e-7 * x.abs() + f32::MIN_POSITIVE as f64;
            assert!((a as f64 - b).abs() <= tol, "gelu_erf({x}) = {a} in f32, {b} in f64");
        }
    }

    #[test]
    fn gelu_with_cdf_gives_gelu_bits_and_a_backward_close_to_the_erf_one() {
        fn check<T: Float>(xs: &[f64], tol: f64) {
            let x = Tensor::<T>::from_vec(xs.iter().map(|&v| T::from_f64(v)).collect(), &[xs.len()]);
            let (y, cdf) = x.gelu_erf_with_cdf();
            assert_eq!(y.to_vec(), x.gelu_erf().to_vec());
            let g = x.map(|v| v * T::from_f64(0.75) - T::ONE);
            let from_cdf = x.gelu_erf_backward_with_cdf(&cdf, &g);
            // The same formula with the forward's Phi (erf of x / sqrt 2 rather than x * (1 / sqrt 2)).
            let half = T::from_f64(0.5);
            for (((&x, &c), &g), &got) in x.to_vec().iter().zip(&cdf.to_vec()).zip(&g.to_vec()).zip(&from_cdf.to_vec())
            {
                let want = g * (c + x * (T::from_f64(super::INV_SQRT_2PI) * exp1(-(half * x * x))));
                assert!(got.to_f64().to_bits() == want.to_f64().to_bits() || (got.is_nan() && want.is_nan()));
            }
            assert!(from_cdf.allclose(&x.gelu_erf_backward(&g), tol, tol));
        }
        // Large enough to run in parallel chunks (more than `map::PAR_MIN` elements).
        let xs: Vec<f64> = (0..300_000).map(|k| (k as f64 - 150_000.0) * 3.4e-5).collect();
        assert!(xs.len() > crate::map::PAR_MIN);
        check::<f32>(&xs, 1e-6);
        check::<f64>(&xs, 1e-15);
    }

    #[test]
    fn gelu_erf_backward_matches_the_scalar_formula_bit_for_bit() {
        fn check<T: Float>(xs: &[f64]) {
            let (inv_sqrt2, inv_sqrt_2pi, half) =
                (T::from_f64(std::f64::consts::FRAC_1_SQRT_2), T::from_f64(super::INV_SQRT_2PI), T::from_f64(0.5));
            let x = Tensor::<T>::from_vec(xs.iter().map(|&v| T::from_f64(v)).collect(), &[xs.len()]);
            let g = x.map(|v| v * T::from_f64(0.75) - T::ONE);
            let got = x.gelu_erf_backward(&g).to_vec();
            for ((&x, &g), &got) in x.to_vec().iter().zip(&g.to_vec()).zip(&got) {
                let cdf = half * (T::ONE + erf1(x * inv_sqrt2));
                let pdf = inv_sqrt_2pi * exp1(-(half * x * x));
                let want = g * (cdf + x * pdf);
                let same = got.to_f64().to_bits() == want.to_f64().to_bits() || (got.is_nan() && want.is_nan());
                assert!(same, "x = {x}: {got:e}, want {want:e}");
            }
        }
        let mut xs: Vec<f64> = (-4000..4000).map(|k| k as f64 * 1e-3).collect();
        xs.extend([1.767766952966369, -1.767766952966369, 1e-12, 30.0, -30.0, f64::INFINITY, f64::NAN]);
        check::<f32>(&xs);
        check::<f64>(&xs);
    }
}
