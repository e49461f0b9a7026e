//! softmax, log_softmax and logsumexp along every axis against a naive f64 reference (log-sum-exp
//! with max subtraction, each lane gathered with `Tensor::get`), on random shapes and layouts
//! (contiguous, permuted, narrowed, broadcast), for f32 and f64; plus inputs around ±1e4 and the
//! special values (-inf, NaN, empty axes).
//!
//! Tolerances are forward error bounds for the computation in `T` (`eps = T::EPSILON`), per lane
//! of `n` elements with maximum `m`: `x - m` is one rounding of at most `eps/2 * |x - m|`, which
//! becomes a relative error of that size in `exp(x - m)`; the sum of `n` terms adds `n * eps`
//! relative; the final division, log or subtraction one rounding more.

use proptest::prelude::*;
use tensor::{Float, Tensor};

mod common;
use common::{Input, Kind, build, indices, input_with};

/// An input and an axis (positive or negative) to work along.
fn case(value: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = (Input, isize)> {
    input_with(value).prop_flat_map(|inp| {
        let nd = inp.shape.len() as isize;
        (Just(inp), -nd..nd)
    })
}

/// Values around ±1e4, where a naive `exp` overflows: the lanes mix near-ties and huge gaps.
fn large() -> impl Strategy<Value = f64> + Clone {
    (prop_oneof![Just(1e4), Just(-1e4)], -3.0f64..0.0).prop_map(|(big, d)| big + d)
}

/// One lane along the axis: its values (as f64) and the index of each in the full tensor.
struct Lane {
    at: Vec<Vec<usize>>,
    x: Vec<f64>,
}

/// All lanes along `axis`, in row-major order of the other axes.
fn lanes<T: Float>(t: &Tensor<T>, axis: usize) -> Vec<Lane> {
    let mut outer = t.shape().to_vec();
    outer[axis] = 1;
    indices(&outer)
        .into_iter()
        .map(|k| {
            let at: Vec<Vec<usize>> = (0..t.shape()[axis])
                .map(|i| {
                    let mut full = k.clone();
                    full[axis] = i;
                    full
                })
                .collect();
            let x = at.iter().map(|ix| t.get(ix).to_f64()).collect();
            Lane { at, x }
        })
        .collect()
}

/// The f64 reference: the lane's max and `ln(sum exp(x - max))`.
fn max_and_ln_sum(x: &[f64]) -> (f64, f64) {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m, x.iter().map(|v| (v - m).exp()).sum::<f64>().ln())
}

fn eps<T: Float>() -> f64 {
    T::EPSILON.to_f64()
}

/// Below the smallest normal `T`, relative error bounds no longer hold (subnormals, underflow to 0).
fn tiny<T: Float>() -> f64 {
    if T::NAME == "f32" { f32::MIN_POSITIVE as f64 } else { f64::MIN_POSITIVE }
}

#[track_caller]
fn assert_within(op: &str, name: &str, at: &[usize], got: f64, want: f64, tol: f64) {
    assert!(got.is_finite(), "{op} ({name}) at {at:?}: got {got}, expected {want}");
    assert!((got - want).abs() <= tol, "{op} ({name}) at {at:?}: got {got}, expected {want} within {tol:e}");
}

fn check_all<T: Float>(inp: &Input, axis: isize) {
    let t = build::<T>(inp);
    let a = axis.rem_euclid(t.ndim() as isize) as usize;
    let (p, lp) = (t.softmax(axis), t.log_softmax(axis));
    let (lse, lse_keep) = (t.logsumexp(axis, false), t.logsumexp(axis, true));
    assert_eq!(p.shape(), t.shape());
    assert_eq!(lp.shape(), t.shape());
    let mut keep_shape = t.shape().to_vec();
    keep_shape[a] = 1;
    assert_eq!(lse_keep.shape(), &keep_shape[..]);
    let mut drop_shape = t.shape().to_vec();
    drop_shape.remove(a);
    assert_eq!(lse.shape(), &drop_shape[..]);

    let (e, name) = (eps::<T>(), T::NAME);
    let (lse_values, lse_keep_values) = (lse.to_vec(), lse_keep.to_vec());
    for (lane_i, lane) in lanes(&t, a).iter().enumerate() {
        let n = lane.x.len() as f64;
        let (m, ln_s) = max_and_ln_sum(&lane.x);
        let mut total = (0.0, 0.0); // (sum of the softmax row, its error bound)
        for (ix, &x) in lane.at.iter().zip(&lane.x) {
            let want = (x - m - ln_s).exp();
            let rel = 2.0 * (x - m).abs() * e + (n + 3.0) * e;
            let got = p.get(ix).to_f64();
            assert_within("softmax", name, ix, got, want, rel * want + tiny::<T>());
            total = (total.0 + got, total.1 + rel * want + tiny::<T>());

            let want = x - m - ln_s;
            let tol = 2.0 * e * ((x - m).abs() + want.abs() + 2.0 * n + 4.0);
            assert_within("log_softmax", name, ix, lp.get(ix).to_f64(), want, tol);
        }
        assert_within("softmax row sum", name, &lane.at[0], total.0, 1.0, total.1 + n * f64::EPSILON);

        let want = m + ln_s;
        let tol = 2.0 * e * (want.abs() + 2.0 * n + 4.0);
        assert_within("logsumexp", name, &lane.at[0], lse_values[lane_i].to_f64(), want, tol);
        assert_within("logsumexp keepdim", name, &lane.at[0], lse_keep_values[lane_i].to_f64(), want, tol);
    }
}

/// The row path (axis last) and the block path (any other axis) do the same operations per lane:
/// moving the axis last must give the same bits.
fn check_paths_agree<T: Float>(inp: &Input, axis: isize) {
    let t = build::<T>(inp);
    let moved = t.transpose(axis, -1);
    let same = |a: Tensor<T>, b: Tensor<T>| {
        assert_eq!(a.shape(), b.shape());
        assert!(a.to_vec() == b.to_vec(), "{:?} != {:?}", a.to_vec(), b.to_vec());
    };
    same(t.softmax(axis), moved.softmax(-1).transpose(axis, -1));
    same(t.log_softmax(axis), moved.log_softmax(-1).transpose(axis, -1));
    same(t.logsumexp(axis, true), moved.logsumexp(-1, true).transpose(axis, -1));
}

macro_rules! softmax_properties {
    ($name:ident, $t:ty) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]

                #[test]
                fn match_f64_reference_along_every_axis((inp, axis) in case(-10.0f64..10.0)) {
                    check_all::<$t>(&inp, axis);
                }

                #[test]
                fn stay_finite_and_accurate_around_1e4((inp, axis) in case(large())) {
                    check_all::<$t>(&inp, axis);
                }

                #[test]
                fn row_and_block_paths_agree_bitwise((inp, axis) in case(-10.0f64..10.0)) {
                    check_paths_agree::<$t>(&inp, axis);
                }
            }
        }
    };
}

softmax_properties!(f32_props, f32);
softmax_properties!(f64_props, f64);

fn fixed_large<T: Float>() {
    let x = Tensor::<T>::from_vec([1e4, 1e4 - 1.0, -1e4].map(T::from_f64).to_vec(), &[3]);
    let input = Input { shape: vec![3], kind: Kind::Contiguous, data: vec![1e4, 1e4 - 1.0, -1e4] };
    check_all::<T>(&input, 0);
    // Two copies of the lane along a leading axis (block path).
    let data = input.data.iter().flat_map(|&v| [v, v]).collect();
    let col = Input { shape: vec![3, 2], kind: Kind::Contiguous, data };
    check_all::<T>(&col, 0);
    assert!(x.softmax(0).to_vec().iter().chain(&x.log_softmax(0).to_vec()).all(|v| v.is_finite()));
    assert!(x.logsumexp(0, false).item().is_finite());
}

#[test]
fn magnitude_1e4_stays_finite() {
    fixed_large::<f32>();
    fixed_large::<f64>();
}

#[test]
fn all_neg_inf_lane_follows_torch() {
    let ninf = f32::NEG_INFINITY;
    let x = Tensor::<f32>::from_vec(vec![ninf, ninf, 0.0, ninf], &[2, 2]);
    // Row 0 is all -inf; row 1 has one finite entry.
    let p = x.softmax(1).to_vec();
    assert!(p[0].is_nan() && p[1].is_nan());
    assert_eq!((p[2], p[3]), (1.0, 0.0));
    let lp = x.log_softmax(1).to_vec();
    assert!(lp[0].is_nan() && lp[1].is_nan());
    assert_eq!((lp[2], lp[3]), (0.0, ninf));
    assert_eq!(x.logsumexp(1, false).to_vec(), vec![ninf, 0.0]);
    // Column 0 is [-inf, 0], column 1 all -inf (block path).
    assert_eq!(x.logsumexp(0, false).to_vec(), vec![0.0, ninf]);
    let p = x.softmax(0).to_vec();
    assert_eq!((p[0], p[2]), (0.0, 1.0));
    assert!(p[1].is_nan() && p[3].is_nan());
}

#[test]
fn nan_and_inf_lanes() {
    let x = Tensor::<f64>::from_vec(vec![1.0, f64::NAN, 2.0, f64::INFINITY], &[2, 2]);
    assert!(x.softmax(1).to_vec()[..2].iter().all(|v| v.is_nan()));
    assert!(x.logsumexp(1, false).to_vec()[0].is_nan());
    assert_eq!(x.logsumexp(1, false).to_vec()[1], f64::INFINITY);
}

#[test]
fn empty_axis_and_empty_lanes() {
    let x = Tensor::<f32>::zeros(&[2, 0]);
    assert_eq!(x.logsumexp(1, false).to_vec(), vec![f32::NEG_INFINITY; 2]);
    assert_eq!(x.softmax(1).shape(), &[2, 0]);
    assert_eq!(x.log_softmax(0).shape(), &[2, 0]);
    assert_eq!(x.logsumexp(0, true).shape(), &[1, 0]);
    assert_eq!(Tensor::<f32>::zeros(&[0, 3, 2]).logsumexp(1, false).shape(), &[0, 2]);
}

#[test]
fn softmax_of_a_transposed_view_is_contiguous_in_the_logical_shape() {
    let x = Tensor::<f64>::from_vec(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3]).mt(); // (3, 2)
    let p = x.softmax(-1);
    assert!(p.is_contiguous());
    assert_eq!(p.shape(), &[3, 2]);
    let e = (3.0f64).exp();
    let want = [1.0 / (1.0 + e), e / (1.0 + e)];
    for (g, w) in p.to_vec().iter().zip(want.iter().cycle()) {
        assert!((g - w).abs() < 1e-15, "{g} vs {w}");
    }
}

#[test]
#[should_panic(expected = "tensor op 'softmax': axis 2 is out of range")]
fn bad_axis_names_the_op() {
    Tensor::<f32>::zeros(&[2, 3]).softmax(2);
}
