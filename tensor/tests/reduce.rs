//! Reductions against a naive index-by-index reference (every multi-index read with
//! `Tensor::get`), on random shapes, layouts (contiguous, permuted, narrowed, broadcast with stride
//! 0) and axis subsets (negative axes included), for f32 and f64.
//!
//! Tolerances are forward error bounds for the computation done in `T`, with `eps = T::EPSILON`:
//! a sequential sum of `n` terms is within `n * eps * sum|x|` of the exact sum; max, min and argmax
//! are exact.

use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Float, Tensor};

mod common;
use common::{Input, build, indices, input_with, input_with_shape};

/// Mostly reals in [-10, 10], with small integers mixed in so that ties happen.
fn value() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![-10.0f64..10.0, (-3i32..=3).prop_map(f64::from)]
}

fn any_input() -> impl Strategy<Value = Input> {
    input_with(value())
}

/// A random subset of the axes, in random order, each named positively or negatively.
fn axes_of(nd: usize) -> impl Strategy<Value = Vec<isize>> {
    (vec(any::<bool>(), nd), vec(any::<bool>(), nd))
        .prop_map(move |(pick, neg)| {
            (0..nd).filter(|&i| pick[i]).map(|i| if neg[i] { i as isize - nd as isize } else { i as isize }).collect()
        })
        .prop_shuffle()
}

/// An input, a set of axes to reduce, and `keepdim`.
fn case() -> impl Strategy<Value = (Input, Vec<isize>, bool)> {
    any_input().prop_flat_map(|inp| {
        let nd = inp.shape.len();
        (Just(inp), axes_of(nd), any::<bool>())
    })
}

/// The reference reduction: for each output element, gathers its group of input values (reduced
/// multi-index in row-major order) with `Tensor::get` and applies `f`, which returns the expected
/// value and its tolerance. Returns the expected shape, values and tolerances.
fn reference<T: Float>(
    t: &Tensor<T>,
    axes: &[isize],
    keepdim: bool,
    f: impl Fn(&[f64]) -> (f64, f64),
) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
    let nd = t.ndim();
    let reduced: Vec<bool> = (0..nd).map(|i| axes.iter().any(|&a| (a + nd as isize) as usize % nd == i)).collect();
    let kept_shape: Vec<usize> = (0..nd).map(|i| if reduced[i] { 1 } else { t.shape()[i] }).collect();
    let red_shape: Vec<usize> = (0..nd).filter(|&i| reduced[i]).map(|i| t.shape()[i]).collect();
    let (mut want, mut tol) = (vec![], vec![]);
    for k in indices(&kept_shape) {
        let group: Vec<f64> = indices(&red_shape)
            .iter()
            .map(|r| {
                let mut r = r.iter();
                let full: Vec<usize> = (0..nd).map(|i| if reduced[i] { *r.next().unwrap() } else { k[i] }).collect();
                t.get(&full).to_f64()
            })
            .collect();
        let (w, e) = f(&group);
        want.push(w);
        tol.push(e);
    }
    let shape = if keepdim { kept_shape } else { (0..nd).filter(|&i| !reduced[i]).map(|i| t.shape()[i]).collect() };
    (shape, want, tol)
}

#[track_caller]
fn assert_matches<T: Float>(op: &str, got: &Tensor<T>, (shape, want, tol): (Vec<usize>, Vec<f64>, Vec<f64>)) {
    assert_eq!(got.shape(), &shape[..], "{op}: shape");
    let got = got.to_vec();
    for (i, ((g, w), e)) in got.iter().zip(&want).zip(&tol).enumerate() {
        let g = g.to_f64();
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= *e;
        assert!(ok, "{op} ({}): element {i} is {g}, expected {w} within {e}", T::NAME);
    }
}

fn eps<T: Float>() -> f64 {
    T::EPSILON.to_f64()
}

fn sum_ref<T: Float>(g: &[f64]) -> (f64, f64) {
    let n = g.len() as f64;
    (g.iter().sum(), n * eps::<T>() * g.iter().map(|x| x.abs()).sum::<f64>())
}

fn mean_ref<T: Float>(g: &[f64]) -> (f64, f64) {
    let n = g.len() as f64;
    let (s, e) = sum_ref::<T>(g);
    // The division adds one rounding.
    (s / n, e / n + eps::<T>() * (s / n).abs())
}

/// Two-pass variance. With `m' = m + delta` the computed mean, `sum (x - m')^2 = S + n delta^2`
/// exactly; each squared term carries about 1.5 eps of rounding and the sum `n/2 eps` more.
fn var_ref<T: Float>(g: &[f64], unbiased: bool) -> (f64, f64) {
    let n = g.len() as f64;
    let d = if unbiased { n - 1.0 } else { n };
    let (m, delta) = mean_ref::<T>(g);
    let s: f64 = g.iter().map(|x| (x - m) * (x - m)).sum();
    let e = eps::<T>();
    (s / d, ((n / 2.0 + 3.0) * e * (s + n * delta * delta) + n * delta * delta) / d + e * s / d)
}

fn max_ref(g: &[f64]) -> (f64, f64) {
    (g.iter().copied().fold(f64::NEG_INFINITY, f64::max), 0.0)
}

fn min_ref(g: &[f64]) -> (f64, f64) {
    (g.iter().copied().fold(f64::INFINITY, f64::min), 0.0)
}

fn argmax_ref(g: &[f64]) -> (f64, f64) {
    let mut at = 0;
    for (i, &x) in g.iter().enumerate() {
        if x > g[at] {
            at = i;
        }
    }
    (at as f64, 0.0)
}

fn check_sum<T: Float>(inp: &Input, axes: &[isize], keepdim: bool) {
    let t = build::<T>(inp);
    assert_matches("sum", &t.sum(axes, keepdim), reference(&t, axes, keepdim, sum_ref::<T>));
    assert_matches("mean", &t.mean(axes, keepdim), reference(&t, axes, keepdim, mean_ref::<T>));
}

fn check_max_min<T: Float>(inp: &Input, axes: &[isize], keepdim: bool) {
    let t = build::<T>(inp);
    assert_matches("max", &t.max(axes, keepdim), reference(&t, axes, keepdim, max_ref));
    assert_matches("min", &t.min(axes, keepdim), reference(&t, axes, keepdim, min_ref));
}

fn check_var<T: Float>(inp: &Input, axes: &[isize], keepdim: bool) {
    let t = build::<T>(inp);
    for unbiased in [false, true] {
        let want = reference(&t, axes, keepdim, |g| var_ref::<T>(g, unbiased));
        assert_matches("var", &t.var(axes, keepdim, unbiased), want);
    }
}

fn check_argmax<T: Float>(inp: &Input, axis: isize, keepdim: bool) {
    let t = build::<T>(inp);
    assert_matches("argmax", &t.argmax(axis, keepdim), reference(&t, &[axis], keepdim, argmax_ref));
}

/// Bitwise equality, NaN equal to NaN.
#[track_caller]
fn assert_same_bits<T: Float>(op: &str, a: &Tensor<T>, b: &Tensor<T>) {
    assert_eq!(a.shape(), b.shape(), "{op}: shape");
    for (x, y) in a.to_vec().into_iter().zip(b.to_vec()) {
        assert!(x == y || (x.is_nan() && y.is_nan()), "{op} ({}): {x:e} differs from {y:e}", T::NAME);
    }
}

/// The row, block and strided walks fold in the same order: a strided input and its contiguous copy
/// (and a contiguous input and a strided view of a permuted copy) reduce to the same bits.
fn check_same_bits_any_layout<T: Float>(inp: &Input, axes: &[isize], keepdim: bool) {
    let t = build::<T>(inp);
    let c = t.contiguous();
    // Same logical values over storage in reversed axis order: never contiguous when 2+ axes are > 1.
    let rev: Vec<isize> = (0..t.ndim() as isize).rev().collect();
    let s = t.permute(&rev).contiguous().permute(&rev);
    for other in [&c, &s] {
        assert_same_bits("sum", &t.sum(axes, keepdim), &other.sum(axes, keepdim));
        assert_same_bits("max", &t.max(axes, keepdim), &other.max(axes, keepdim));
        assert_same_bits("var", &t.var(axes, keepdim, true), &other.var(axes, keepdim, true));
        assert_same_bits("argmax", &t.argmax(-1, keepdim), &other.argmax(-1, keepdim));
        assert_same_bits("argmax", &t.argmax(0, keepdim), &other.argmax(0, keepdim));
    }
}

/// A target shape and a shape it broadcasts to (extra leading axes, 1s stretched).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (vec(prop_oneof![Just(1usize), 2..=4usize], 0..=3), vec(1..=4usize, 0..=2)).prop_flat_map(|(target, lead)| {
        let stretch: Vec<BoxedStrategy<usize>> =
            target.iter().map(|&d| if d == 1 { (1..=4usize).boxed() } else { Just(d).boxed() }).collect();
        (Just(target), Just(lead), stretch).prop_map(|(target, lead, mid)| (target, [lead, mid].concat()))
    })
}

fn sum_to_shape_case() -> impl Strategy<Value = (Vec<usize>, Input)> {
    broadcast_pair().prop_flat_map(|(target, big)| (Just(target), input_with_shape(big, value())))
}

fn check_sum_to_shape<T: Float>(target: &[usize], inp: &Input) {
    let t = build::<T>(inp);
    let lead = t.ndim() - target.len();
    let n_out: usize = target.iter().product();
    let (mut want, mut abs, mut count) = (vec![0.0; n_out], vec![0.0; n_out], vec![0.0; n_out]);
    for big in indices(t.shape()) {
        // Position in `target` (row-major) that this element was broadcast from.
        let j = big[lead..].iter().zip(target).fold(0, |j, (&i, &d)| j * d + if d == 1 { 0 } else { i });
        let x = t.get(&big).to_f64();
        want[j] += x;
        abs[j] += x.abs();
        count[j] += 1.0;
    }
    let tol: Vec<f64> = abs.iter().zip(&count).map(|(a, n)| n * eps::<T>() * a).collect();
    assert_matches("sum_to_shape", &t.sum_to_shape(target), (target.to_vec(), want, tol));
}

macro_rules! reduction_properties {
    ($name:ident, $t:ty) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]

                #[test]
                fn sum_and_mean_match_reference((inp, axes, keepdim) in case()) {
                    check_sum::<$t>(&inp, &axes, keepdim);
                }

                #[test]
                fn max_and_min_match_reference((inp, axes, keepdim) in case()) {
                    check_max_min::<$t>(&inp, &axes, keepdim);
                }

                #[test]
                fn var_matches_reference((inp, axes, keepdim) in case()) {
                    check_var::<$t>(&inp, &axes, keepdim);
                }

                #[test]
                fn argmax_matches_reference(
                    (inp, axis) in any_input().prop_flat_map(|inp| {
                        let nd = inp.shape.len() as isize;
                        (Just(inp), -nd..nd)
                    }),
                    keepdim in any::<bool>(),
                ) {
                    check_argmax::<$t>(&inp, axis, keepdim);
                }

                #[test]
                fn every_walk_gives_the_same_bits((inp, axes, keepdim) in case()) {
                    check_same_bits_any_layout::<$t>(&inp, &axes, keepdim);
                }

                #[test]
                fn sum_to_shape_matches_reference((target, inp) in sum_to_shape_case()) {
                    check_sum_to_shape::<$t>(&target, &inp);
                }
            }
        }
    };
}

reduction_properties!(f32_props, f32);
reduction_properties!(f64_props, f64);

fn arange(n: usize, shape: &[usize]) -> Tensor<f32> {
    Tensor::arange(0.0, n as f32, 1.0).reshape(shape)
}

#[test]
fn small_examples() {
    let x = arange(24, &[2, 3, 4]);
    let s = x.sum(&[0, 2], false);
    assert_eq!(s.to_vec(), vec![60.0, 92.0, 124.0]);
    let s = x.sum(&[-1, 0], true);
    assert_eq!(s.shape(), &[1, 3, 1]);
    assert_eq!(s.to_vec(), vec![60.0, 92.0, 124.0]);
    assert_eq!(x.sum_all().shape(), &[] as &[usize]);
    assert_eq!(x.sum_all().item(), 276.0);
    assert_eq!(x.mean_all().item(), 11.5);
    assert_eq!(x.max(&[1], false).to_vec(), vec![8.0, 9.0, 10.0, 11.0, 20.0, 21.0, 22.0, 23.0]);
    assert_eq!(x.min(&[0, 1, 2], false).item(), 0.0);
    assert_eq!(x.argmax(1, false).to_vec(), vec![2.0; 8]);
}

#[test]
fn leading_axis_sum_of_a_gradient_accumulates_rows() {
    // (B*T, C) -> (C), the bias-gradient case.
    let g = Tensor::<f64>::from_vec((0..12).map(f64::from).collect(), &[4, 3]);
    assert_eq!(g.sum(&[0], false).to_vec(), vec![18.0, 22.0, 26.0]);
    assert_eq!(g.sum_to_shape(&[3]).to_vec(), vec![18.0, 22.0, 26.0]);
    assert_eq!(g.sum_to_shape(&[1, 3]).shape(), &[1, 3]);
    assert_eq!(g.sum_to_shape(&[4, 1]).to_vec(), vec![3.0, 12.0, 21.0, 30.0]);
    assert_eq!(g.sum_to_shape(&[]).item(), 66.0);
}

#[test]
fn empty_axis_list_reduces_nothing() {
    let x = arange(6, &[2, 3]).transpose(0, 1);
    for y in [x.sum(&[], false), x.mean(&[], true), x.max(&[], false), x.min(&[], false)] {
        assert_eq!(y.shape(), x.shape());
        assert_eq!(y.to_vec(), x.to_vec());
    }
    assert!(x.sum(&[], false).shares_storage_with(&x));
    assert!(x.sum_to_shape(&[3, 2]).shares_storage_with(&x));
    // The variance of one element alone.
    assert_eq!(x.var(&[], false, false).to_vec(), vec![0.0; 6]);
    assert!(x.var(&[], false, true).to_vec().iter().all(|v| v.is_nan()));
}

#[test]
fn empty_reductions_follow_torch() {
    let x = Tensor::<f32>::zeros(&[0, 3]);
    assert_eq!(x.sum(&[0], false).to_vec(), vec![0.0; 3]);
    assert!(x.mean(&[0], false).to_vec().iter().all(|v| v.is_nan()));
    assert!(x.var(&[0], true, false).to_vec().iter().all(|v| v.is_nan()));
    assert_eq!(x.sum(&[1], false).shape(), &[0]);
    assert_eq!(x.max(&[1], true).shape(), &[0, 1]);
    assert!(x.mean_all().item().is_nan());
    assert_eq!(x.sum_all().item(), 0.0);
    // One element, unbiased: 0 / 0.
    assert!(Tensor::<f64>::ones(&[1]).var(&[0], false, true).item().is_nan());
}

#[test]
#[should_panic(expected = "tensor op 'max': cannot reduce over axes [0] of shape [0, 3]")]
fn max_of_nothing_panics() {
    Tensor::<f32>::zeros(&[0, 3]).max(&[0], false);
}

#[test]
#[should_panic(expected = "tensor op 'argmax'")]
fn argmax_of_nothing_panics() {
    Tensor::<f32>::zeros(&[2, 0]).argmax(-1, false);
}

#[test]
fn nan_propagates_through_max_and_min_and_wins_argmax() {
    let x = Tensor::<f32>::from_vec(vec![1.0, f32::NAN, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    for t in [x.clone(), x.mt().contiguous().mt()] {
        let (mx, mn) = (t.max(&[1], false).to_vec(), t.min(&[1], false).to_vec());
        assert!(mx[0].is_nan() && mn[0].is_nan());
        assert_eq!((mx[1], mn[1]), (6.0, 4.0));
        assert!(t.max(&[0], false).to_vec()[1].is_nan());
        assert_eq!(t.argmax(1, false).to_vec(), vec![1.0, 2.0]);
        assert_eq!(t.argmax(0, false).to_vec(), vec![1.0, 0.0, 1.0]);
    }
    // The first NaN wins, and a later larger value does not displace it.
    let y = Tensor::<f64>::from_vec(vec![f64::NAN, 9.0, f64::NAN], &[3]);
    assert_eq!(y.argmax(0, false).item(), 0.0);
}

#[test]
fn argmax_takes_the_first_of_ties_on_every_walk() {
    let x = Tensor::<f64>::from_vec(vec![2.0, 2.0, 1.0, 2.0, 0.0, 2.0], &[3, 2]);
    assert_eq!(x.argmax(0, false).to_vec(), vec![0.0, 0.0]); // block walk
    assert_eq!(x.argmax(1, false).to_vec(), vec![0.0, 1.0, 1.0]); // row walk
    assert_eq!(x.mt().argmax(1, false).to_vec(), vec![0.0, 0.0]); // strided walk
    assert_eq!(Tensor::<f32>::full(&[5], -1.0).argmax(0, false).item(), 0.0);
    assert_eq!(Tensor::<f32>::full(&[5], f32::NEG_INFINITY).argmax(0, false).item(), 0.0);
}

#[test]
#[should_panic(expected = "tensor op 'sum_to_shape': shape [2, 3] does not broadcast to the tensor's shape [4, 3]")]
fn sum_to_shape_rejects_a_shape_that_does_not_broadcast() {
    Tensor::<f32>::zeros(&[4, 3]).sum_to_shape(&[2, 3]);
}

#[test]
#[should_panic(expected = "tensor op 'sum_to_shape': shape [1, 4, 3] does not broadcast to the tensor's shape [4, 3]")]
fn sum_to_shape_rejects_more_dimensions() {
    Tensor::<f32>::zeros(&[4, 3]).sum_to_shape(&[1, 4, 3]);
}

#[test]
#[should_panic(expected = "tensor op 'sum': axes [0, -2] name the same axis twice")]
fn repeated_axes_panic() {
    Tensor::<f32>::zeros(&[2, 3]).sum(&[0, -2], false);
}

#[test]
#[should_panic(expected = "tensor op 'mean': axis 2 is out of range")]
fn out_of_range_axis_panics() {
    Tensor::<f32>::zeros(&[2, 3]).mean(&[2], false);
}
