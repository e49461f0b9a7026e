//! The error function over a whole slice of `f32`, in a loop the compiler vectorises: the heart of
//! the exact-form GELU `0.5 x (1 + erf(x / sqrt 2))`, forward and backward.
//!
//! libm's `erff` picks one of five formulas by the size of `|x|` and calls `expf` twice in the
//! outer ranges, so a loop calling it runs one element at a time. Here every element takes the
//! same path, Abramowitz and Stegun's formula 7.1.26,
//!
//! ```text
//! erf(|x|) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2),   t = 1 / (1 + p |x|)
//! ```
//!
//! with the exponential from the vectorised [`crate::fast_exp`], and below `|x| = 1`, where
//! that formula is `1` minus almost `1`, a polynomial fitted to erf there. The error is at most
//! 2.5e-7 in absolute terms (tested over a sweep of the whole range against `f64` erf): about one
//! ulp of `1 + erf(x)`, which is the quantity GELU uses, so GELU keeps f32 accuracy. (For erf on
//! its own, where tiny values need their relative precision, call [`Float::erf`](crate::Float::erf).)
//! PyTorch's vectorised CPU `erf`, which its `nn.GELU` runs on, uses the same 7.1.26 formula.
//!
//! `f64` keeps libm's `erf` one element at a time: `f64` is the gradient-checking type.

use crate::fast_exp::exp_in_place_f32;

/// Elements per block: `exp(-x^2)` goes through a scratch row this long. The GELU kernels call
/// erf on rows of this length too (their `GELU_BLOCK` is this constant), so one block covers a
/// whole call.
pub(crate) const BLOCK: usize = 128;

/// Below this `|x|`, the Taylor series (the formula above cancels there: `1 - 0.97...`).
const SERIES_BELOW: f32 = 1.0;
/// `erf(x) = x (c0 + c1 x^2 + ... + c5 x^10)` for `|x| < 1`: a degree-5 polynomial in `x^2`
/// fitted to `erf(x) / x` on `[0, 1]` (weighted least squares towards minimax; largest error of
/// `erf` 1.9e-8 in exact arithmetic).
#[allow(clippy::excessive_precision)]
const SERIES: [f32; 6] = [
    1.1283789214307351,
    -0.3761193827112319,
    0.11278061209498184,
    -0.026663760391809177,
    0.004870668035164315,
    -0.0005462842818156491,
];

/// Abramowitz and Stegun 7.1.26: `p` and `a1..a5`.
const P: f32 = 0.327_591_1;
const A: [f32; 5] = [0.254_829_6, -0.284_496_72, 1.421_413_8, -1.453_152_1, 1.061_405_4];

/// erf of every element of `xs`, in place (absolute error below 2.5e-7).
pub(crate) fn erf_in_place_f32(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { erf_avx2(xs) };
    }
    erf_body(xs)
}

/// [`erf_body`] compiled for AVX2 with FMA instructions. `mul_add` is a fused multiply-add, one
/// rounding, on every target (without FMA hardware it is a libm call, slow but the same bits), so
/// both versions agree bit for bit.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn erf_avx2(xs: &mut [f32]) {
    erf_body(xs)
}

#[inline(always)]
fn erf_body(xs: &mut [f32]) {
    let mut e = [0.0f32; BLOCK];
    for block in xs.chunks_mut(BLOCK) {
        let e = &mut e[..block.len()];
        for (e, &x) in e.iter_mut().zip(block.iter()) {
            *e = -(x * x);
        }
        exp_in_place_f32(e);
        for (x, &e) in block.iter_mut().zip(e.iter()) {
            let ax = x.abs();
            let t = 1.0 / P.mul_add(ax, 1.0);
            let poly = t.mul_add(t.mul_add(t.mul_add(t.mul_add(A[4], A[3]), A[2]), A[1]), A[0]);
            let y = (-t * poly).mul_add(e, 1.0);
            // NaN stays NaN through `y`; the sign comes back last.
            let far = if *x < 0.0 { -y } else { y };
            let z = *x * *x;
            let mut series = SERIES[5];
            for &c in SERIES[..5].iter().rev() {
                series = series.mul_add(z, c);
            }
            *x = if ax < SERIES_BELOW { *x * series } else { far };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_2_5e_7_of_erf_everywhere() {
        // Every 31st f32 below 12 in magnitude (erf is 1 to f32 precision beyond 4), both signs.
        let xs: Vec<f32> = (0..12.0f32.to_bits()).step_by(31).map(f32::from_bits).flat_map(|x| [x, -x]).collect();
        let mut got = xs.clone();
        erf_in_place_f32(&mut got);
        let mut worst = (0.0f64, 0.0f32);
        for (&x, &y) in xs.iter().zip(&got) {
            let err = (y as f64 - libm::erf(x as f64)).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 <= 2.5e-7, "erf({}) is off by {:e}", worst.1, worst.0);
        let mut special = [0.0f32, -0.0, 30.0, -30.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        erf_in_place_f32(&mut special);
        assert_eq!(special[..6], [0.0, 0.0, 1.0, -1.0, 1.0, -1.0]);
        assert!(special[6].is_nan());
    }

    #[test]
    fn the_vector_and_scalar_loops_agree_bit_for_bit() {
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.0173).collect();
        let (mut fast, mut base) = (xs.clone(), xs);
        erf_in_place_f32(&mut fast);
        erf_body(&mut base);
        assert_eq!(
            fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            base.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
