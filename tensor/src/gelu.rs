//! GELU, the activation of GPT-2's MLP, in its two forms:
//!
//! ```text
//! exact (erf):  gelu(x) = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),   Phi the standard normal CDF
//! tanh form:    gelu(x) ~ 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//! ```
//!
//! The exact form at one point, with its derivative, is [`gelu_erf_scalar`]: the formula to read,
//! and the reference the tensor kernels below reproduce bit for bit. On tensors:
//!
//! - [`Tensor::gelu_erf`] is the forward, and [`Tensor::gelu_erf_with_cdf`] the same forward that
//!   also returns `Phi(x)`. Both run one block routine (`forward_block`), so there is one place
//!   that computes the exact GELU.
//! - [`Tensor::gelu_erf_backward_with_cdf`] is the backward, `g (Phi(x) + x phi(x))`, from the
//!   saved `Phi(x)`: it takes no erf, which is most of GELU's cost. The autograd op
//!   (`Var::gelu_erf`) runs the forward with the CDF and saves it for this.
//! - [`Tensor::gelu_tanh`] is the tanh form, a plain [`Tensor::map`] (its derivative is in the
//!   autograd op `Var::gelu_tanh`).
//!
//! The exact form's kernels work a block of [`GELU_BLOCK`] elements at a time: the scaled inputs go
//! into a scratch row on the stack, [`Float::erf_in_place`] (or [`Float::exp_in_place`] in the
//! backward) runs on the whole row, vectorised for `f32`, and a second loop forms the results. Each
//! element is computed on its own, so the result does not depend on the blocks, the parallel chunks
//! or the number of threads.

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

/// The exact GELU at one point and its derivative, `(gelu(x), gelu'(x))`:
///
/// ```text
/// gelu(x)  = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
/// gelu'(x) = Phi(x) + x phi(x),    phi(x) = Phi'(x) = exp(-x^2 / 2) / sqrt(2 pi)
/// ```
///
/// The derivative is the product rule on `x Phi(x)`; `Phi' = phi` because
/// `d/dz erf(z) = 2/sqrt(pi) e^(-z^2)`, taken at `z = x / sqrt 2` and times `1/2 * 1/sqrt 2`.
///
/// This is the reference for the tensor kernels: [`Tensor::gelu_erf`] gives the first value bit
/// for bit, and [`Tensor::gelu_erf_backward_with_cdf`] gives `g` times the second, because they do
/// these operations in this order with the crate's erf and exp ([`Float::erf_in_place`],
/// [`Float::exp_in_place`]). For `f64` those are libm's; for `f32` they are the crate's vectorised
/// approximations (erf within 2.5e-7, exp within 2 ulp), so the `f32` values are not libm's `erff`.
///
/// ```
/// use tensor::gelu_erf_scalar;
/// let (y, dy) = gelu_erf_scalar(1.0f64);
/// assert_eq!(y, 0.8413447460685429); // Phi(1), correctly rounded
/// assert!((dy - 1.0833154705876864).abs() < 1e-15); // Phi(1) + phi(1)
/// assert_eq!(gelu_erf_scalar(0.0f32), (0.0, 0.5));
/// ```
pub fn gelu_erf_scalar<T: Float>(x: T) -> (T, T) {
    let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
    let mut e = [x / sqrt2];
    T::erf_in_place(&mut e); // erf(x / sqrt 2)
    let mut ex = [-(half * x * x)];
    T::exp_in_place(&mut ex); // exp(-x^2 / 2)
    let y = half * x * (T::ONE + e[0]);
    let cdf = half * (T::ONE + e[0]);
    let pdf = T::from_f64(INV_SQRT_2PI) * ex[0];
    (y, cdf + x * pdf)
}

impl<T: Float> Tensor<T> {
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
    /// Per element, the bits of [`gelu_erf_scalar`]`(x).0`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let y = Tensor::<f64>::from_vec(vec![1.0], &[1]).gelu_erf().item();
    /// assert_eq!(y, 0.8413447460685429);
    /// ```
    pub fn gelu_erf(&self) -> Tensor<T> {
        // SAFETY: `forward` writes every element of `out`.
        unsafe { self.map_slices(|x, out| forward(x, out, None)) }
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
        let xs = x.as_slice().expect("contiguous() returns a contiguous tensor");
        let fill = |start: usize, y: &mut [MaybeUninit<T>], cdf: &mut [MaybeUninit<T>]| {
            forward(&xs[start..start + y.len()], y, Some(cdf));
        };
        // SAFETY: `forward` writes every element of both outputs.
        let (y, cdf) = unsafe { build_vec_pair(xs.len(), fill) };
        (Tensor::from_vec(y, self.shape()), Tensor::from_vec(cdf, self.shape()))
    }

    /// The gradient of [`Tensor::gelu_erf`], from the CDF saved by [`Tensor::gelu_erf_with_cdf`]:
    /// `grad * (cdf + x phi(x))`, `phi(x) = exp(-x^2 / 2) / sqrt(2 pi)`, with `self` as `x`.
    ///
    /// With the saved CDF, per element the bits of `grad * gelu_erf_scalar(x).1` (see
    /// [`gelu_erf_scalar`]).
    ///
    /// # Panics
    /// If `cdf` or `grad` differs in shape from `self`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.0, 2.0], &[3]);
    /// let (_, cdf) = x.gelu_erf_with_cdf();
    /// let g = x.gelu_erf_backward_with_cdf(&cdf, &Tensor::ones(&[3])).to_vec();
    /// assert_eq!(g[1], 0.5); // Phi(0)
    /// assert!((g[2] - 1.085_231_801_078_197).abs() < 1e-12); // Phi(2) + 2 phi(2)
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
            backward(&xs[start..end], &cs[start..end], &gs[start..end], out);
        };
        // SAFETY: `backward` writes every element of `out`.
        Tensor::from_vec(unsafe { build_vec(xs.len(), fill) }, self.shape())
    }
}

/// Elements per block of the GELU kernels' stack scratch rows. Each block pays a few calls (the
/// erf, and the exp inside it, each choosing its instruction set) and zeroes its scratch rows:
/// at 64 elements that overhead was a fifth of the forward (on a 768 x 512 tensor, one thread,
/// best of 200: 271-277 µs at 64, 212-221 at 128, 211-216 at 256, 214-216 at 512; backward
/// 134-139, 120-127, 129-134, 136-142; docs/benchmarks.md). The `f32` erf's own block, so
/// each GELU row is one erf block (a GELU row of 128 with an erf block of 256 was slower).
const GELU_BLOCK: usize = crate::fast_erf::BLOCK;

/// The exact GELU forward on a slice: `y = 0.5 x (1 + erf(x / sqrt 2))` and, when `cdf` is given,
/// `Phi(x) = 0.5 (1 + erf(x / sqrt 2))` from the same erf, [`GELU_BLOCK`] elements at a time by
/// [`forward_block`]. Without `cdf`, a block's `Phi` goes to a scratch row on the stack.
fn forward<T: Float>(x: &[T], y: &mut [MaybeUninit<T>], cdf: Option<&mut [MaybeUninit<T>]>) {
    match cdf {
        Some(cdf) => {
            assert!(x.len() == y.len() && cdf.len() == y.len(), "gelu_erf: slices of different lengths");
            for ((xb, yb), cb) in x.chunks(GELU_BLOCK).zip(y.chunks_mut(GELU_BLOCK)).zip(cdf.chunks_mut(GELU_BLOCK)) {
                forward_block(xb, yb, cb);
            }
        }
        None => {
            assert!(x.len() == y.len(), "gelu_erf: slices of different lengths");
            let mut unused = [MaybeUninit::uninit(); GELU_BLOCK];
            for (xb, yb) in x.chunks(GELU_BLOCK).zip(y.chunks_mut(GELU_BLOCK)) {
                forward_block(xb, yb, &mut unused[..xb.len()]);
            }
        }
    }
}

/// The exact GELU forward on one block of at most [`GELU_BLOCK`] elements, the one place it is
/// computed: the scaled inputs into a scratch row, [`Float::erf_in_place`] on it, then `y` and
/// `Phi(x)` with the operations of [`gelu_erf_scalar`], in its order.
#[inline(always)]
fn forward_block<T: Float>(x: &[T], y: &mut [MaybeUninit<T>], cdf: &mut [MaybeUninit<T>]) {
    // Divide by sqrt 2 rather than multiply by 1/sqrt 2: the rounded constants differ, and the
    // division reproduces the correctly rounded gelu(1) in f64 (the product is one ulp off).
    let (sqrt2, half) = (T::from_f64(std::f64::consts::SQRT_2), T::from_f64(0.5));
    let mut erf = [T::ZERO; GELU_BLOCK];
    let e = &mut erf[..x.len()];
    for (ei, &v) in e.iter_mut().zip(x) {
        *ei = v / sqrt2;
    }
    T::erf_in_place(e);
    for (((o, c), &v), &ei) in y.iter_mut().zip(cdf).zip(x).zip(e.iter()) {
        o.write(half * v * (T::ONE + ei));
        c.write(half * (T::ONE + ei));
    }
}

/// The exact GELU backward on slices, `g (cdf + x phi(x))`, [`GELU_BLOCK`] elements at a time: `exp(-x^2 / 2)`
/// into a scratch row by [`Float::exp_in_place`], then the products, in the order of
/// [`gelu_erf_scalar`].
fn backward<T: Float>(x: &[T], cdf: &[T], g: &[T], out: &mut [MaybeUninit<T>]) {
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

#[cfg(test)]
mod tests {
    use super::gelu_erf_scalar;
    use crate::{Float, Tensor};

    /// Bit-identical, except that any NaN matches any NaN.
    fn same<T: Float>(a: T, b: T) -> bool {
        a.to_f64().to_bits() == b.to_f64().to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Every `step`-th bit pattern of the positive floats below `limit`, and their negatives.
    fn sweep_f32(limit: f32, step: u32) -> Vec<f32> {
        (0..limit.to_bits()).step_by(step as usize).map(f32::from_bits).flat_map(|x| [x, -x]).collect()
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
            let x = Tensor::from_vec(xs.to_vec(), &[xs.len()]);
            let (y2, cdf) = x.gelu_erf_with_cdf();
            let (y, y2, cdf) = (x.gelu_erf().to_vec(), y2.to_vec(), cdf.to_vec());
            for (((&x, &y), &y2), &c) in xs.iter().zip(&y).zip(&y2).zip(&cdf) {
                let want = gelu_erf_scalar(x).0;
                assert!(same(y, want), "gelu_erf({x:e}) = {y:e}, want {want:e}");
                assert!(same(y2, want), "gelu_erf_with_cdf({x:e}) = {y2:e}, want {want:e}");
                // Phi(x), from the same erf: gelu(x) = x Phi(x) up to the rounding of the product.
                let half = T::from_f64(0.5);
                let mut e = [x / T::from_f64(std::f64::consts::SQRT_2)];
                T::erf_in_place(&mut e);
                assert!(same(c, half * (T::ONE + e[0])), "Phi({x:e}) = {c:e}");
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
    fn gelu_backward_from_the_cdf_matches_the_scalar_derivative_bit_for_bit() {
        fn check<T: Float>(xs: &[f64]) {
            let x = Tensor::<T>::from_vec(xs.iter().map(|&v| T::from_f64(v)).collect(), &[xs.len()]);
            let (_, cdf) = x.gelu_erf_with_cdf();
            let g = x.map(|v| v * T::from_f64(0.75) - T::ONE);
            let got = x.gelu_erf_backward_with_cdf(&cdf, &g).to_vec();
            for ((&x, &g), &got) in x.to_vec().iter().zip(&g.to_vec()).zip(&got) {
                let want = g * gelu_erf_scalar(x).1;
                assert!(same(got, want), "x = {x}: {got:e}, want {want:e}");
            }
        }
        // Large enough to run in parallel chunks (more than `map::PAR_MIN` elements), plus
        // special values.
        let mut xs: Vec<f64> = (0..300_000).map(|k| (k as f64 - 150_000.0) * 3.4e-5).collect();
        assert!(xs.len() > crate::map::PAR_MIN);
        xs.extend([1.767766952966369, -1.767766952966369, 1e-12, 30.0, -30.0, f64::INFINITY, f64::NAN]);
        check::<f32>(&xs);
        check::<f64>(&xs);
    }

    #[test]
    fn gelu_erf_derivative_matches_its_closed_form() {
        // gelu'(x) = Phi(x) + x phi(x), to 17 digits (mpmath): at 1 and 2, and its symmetric
        // partner gelu'(-x) = 1 - gelu'(x).
        for (x, want) in [(1.0, 1.0833154705876864), (2.0, 1.085_231_801_078_197), (0.0, 0.5)] {
            let (_, d) = gelu_erf_scalar::<f64>(x);
            assert!((d - want).abs() < 4e-16, "gelu'({x}) = {d}, want {want}");
            let (_, d) = gelu_erf_scalar::<f64>(-x);
            assert!((d - (1.0 - want)).abs() < 4e-16, "gelu'({}) = {d}, want {}", -x, 1.0 - want);
            let (_, d) = gelu_erf_scalar::<f32>(x as f32);
            assert!((d as f64 - want).abs() < 1e-6, "f32 gelu'({x}) = {d}, want {want}");
        }
    }
}
