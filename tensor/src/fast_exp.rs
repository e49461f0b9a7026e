//! `e^x` over a whole slice of `f32`, in a loop the compiler turns into vector instructions.
//!
//! libm's `expf` is a scalar call with branches inside, so a loop calling it runs one element at a
//! time. Softmax, cross-entropy and the GELU backward call `exp` about three million times per
//! training step of the reference GPT; this kernel does the same job eight lanes at a time.
//!
//! The method is Cephes' `expf`: write `x = n ln 2 + r` with `n` an integer and `|r| <= ln 2 / 2`,
//! approximate `e^r` by a degree-7 polynomial, then multiply by `2^n` built from the exponent bits.
//! The error is within 2 ulp of the correctly rounded value (tested over every 97th f32 of the
//! whole range, against `f64::exp`). It is not libm's bits, but the same input gives the same
//! output on every run and any thread count.
//!
//! `f64` keeps libm's `exp` one element at a time: `f64` is the gradient-checking type, where
//! accuracy matters and speed does not.

/// Below this, `e^x` rounds to zero in `f32` (`expf(-103.98) < 2^-150`).
const ZERO_BELOW: f32 = -103.98;
/// Above this, `e^x` overflows `f32`; the clamped input still overflows to infinity below.
const CLAMP_HIGH: f32 = 88.8;
/// 1.5 * 2^23: adding and subtracting it rounds an `f32` below 2^22 to the nearest integer.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// ln 2 split in two: `C1` has few enough bits that `n * C1` is exact for `|n| <= 256`.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x` for every element of `xs`, in place.
pub(crate) fn exp_in_place_f32(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { exp_avx2(xs) };
    }
    exp_body(xs)
}

/// [`exp_body`] compiled for AVX2 (8 lanes; the baseline x86-64 target has 4-lane SSE2). Both do
/// the same IEEE operations (Rust never fuses a multiply and an add), so they agree bit for bit.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_avx2(xs: &mut [f32]) {
    exp_body(xs)
}

#[inline(always)]
fn exp_body(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = exp_one(*x);
    }
}

/// One lane of the kernel: no branches (every `if` is a select), so the loop vectorises.
#[inline(always)]
fn exp_one(x: f32) -> f32 {
    // NaN stays NaN through the clamp and flows through to a NaN polynomial.
    let xc = x.clamp(ZERO_BELOW, CLAMP_HIGH);
    // `t` holds round(x / ln 2) in its low mantissa bits; `n` is that integer as a float.
    let t = xc * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let z = r * r;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes' 5.0000001201e-1, which rounds to 0.5 in f32
    let er = p * z + r + 1.0;
    // 2^n as two normal powers of two (n is in [-150, 128]; each half is in [-75, 64]), so the
    // product underflows gradually and overflows to infinity exactly as a single scale would.
    // The integer from the bits (a saturating `n as i32` would not vectorise).
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    let y = er * s1 * s2;
    if x < ZERO_BELOW { 0.0 } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between `got` and the correctly rounded `e^x`.
    fn ulp_error(x: f32) -> f64 {
        let exact = (x as f64).exp();
        let mut got = [x];
        exp_in_place_f32(&mut got);
        let got = got[0] as f64;
        let rounded = exact as f32;
        // The spacing of f32 values at the exact result (subnormals share the smallest spacing).
        let ulp = if rounded == 0.0 || rounded.is_subnormal() {
            f32::from_bits(1) as f64
        } else {
            (f32::from_bits(rounded.to_bits() + 1) as f64 - rounded as f64).abs()
        };
        (got - exact).abs() / ulp
    }

    #[test]
    fn within_two_ulp_over_the_whole_range() {
        let mut worst = (0.0f64, 0.0f32);
        let (lo, hi) = ((-104.0f32).to_bits(), 88.7f32.to_bits());
        // Negative floats: bits from 0x8000_0000 (-0) up to -104; positive: 0 up to 88.7.
        for bits in (0x8000_0000u32..=lo).step_by(97).chain((0u32..=hi).step_by(97)) {
            let x = f32::from_bits(bits);
            let e = ulp_error(x);
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(worst.0 <= 2.0, "exp({}) is {} ulp off", worst.1, worst.0);
    }

    #[test]
    fn special_values() {
        let mut xs = [0.0f32, -0.0, f32::NEG_INFINITY, f32::INFINITY, f32::NAN, -200.0, 89.0, 88.72, 1.0];
        exp_in_place_f32(&mut xs);
        assert_eq!(xs[0], 1.0);
        assert_eq!(xs[1], 1.0);
        assert_eq!(xs[2].to_bits(), 0, "e^-inf is +0 (masked softmax entries must weigh exactly 0)");
        assert_eq!(xs[3], f32::INFINITY);
        assert!(xs[4].is_nan());
        assert_eq!(xs[5], 0.0);
        assert_eq!(xs[6], f32::INFINITY);
        assert!(xs[7].is_finite() && xs[7] > 3.3e38, "e^88.72 is just below f32::MAX, got {}", xs[7]);
        assert!((xs[8] - std::f32::consts::E).abs() <= f32::EPSILON * 3.0);
    }

    #[test]
    fn the_vector_and_scalar_loops_agree_bit_for_bit() {
        let xs: Vec<f32> = (0..4099).map(|i| (i as f32 - 2000.0) * 0.0537).collect();
        let mut fast = xs.clone();
        exp_in_place_f32(&mut fast);
        let scalar: Vec<f32> = xs.iter().map(|&x| exp_one(x)).collect();
        assert_eq!(
            fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            scalar.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
