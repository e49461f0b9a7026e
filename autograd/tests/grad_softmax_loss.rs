//! The softmax family, cross-entropy and dropout: finite-difference gradient checks (f64), fused
//! ops against their composed twins in `autograd::composed`, stability with logits around 1e4
//! against an independent index-by-index reference, and dropout's mask.

use autograd::{GradCheck, Var, composed};
use proptest::prelude::*;
use tensor::{Float, Tensor, assert_allclose, rng_from_seed};

mod common;
use common::{SOFTMAX_FAMILY, ignore_for, largest, shape_and_axis, targets};

/// An op of one variable.
type UnaryOp<T> = fn(&Var<T>) -> Var<T>;
/// An op, the weights of its output's gradient, and the reference value and input gradient.
type StabilityCase<'a, T> = (&'a str, UnaryOp<T>, &'a Tensor<T>, &'a [f64], &'a [f64]);
/// A loss of logits against targets.
type LossOp<T> = fn(&Var<T>, &[usize]) -> Var<T>;

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// A random f64 input of logical shape `shape`, laid out as `kind` says: 0 contiguous, 1 a view
/// with every axis reversed (strides decreasing the wrong way), 2 a view narrowed along axis 0.
/// The gradient checker keeps the layout, so the ops see the strided input.
fn input(shape: &[usize], kind: u8, seed: u64, scale: f64) -> Tensor<f64> {
    match kind {
        0 => Tensor::rand_uniform(shape, -scale, scale, seed),
        1 => {
            let reversed: Vec<usize> = shape.iter().rev().copied().collect();
            let axes: Vec<isize> = (0..shape.len() as isize).rev().collect();
            Tensor::rand_uniform(&reversed, -scale, scale, seed).permute(&axes)
        }
        _ => {
            let mut bigger = shape.to_vec();
            bigger[0] += 2;
            Tensor::rand_uniform(&bigger, -scale, scale, seed).narrow(0, 1, shape[0])
        }
    }
}

/// `a` against the reference `b`: within `rel` of `b`'s largest magnitude, elementwise and
/// norm-wise. The norm-wise part is needed because gradients like `y * (g - sum(g y))` are
/// differences that cancel to near 0 in some entries, where an elementwise relative error says
/// nothing about the computation's accuracy.
#[track_caller]
fn assert_close<T: Float>(a: &Tensor<T>, b: &Tensor<T>, rel: f64) {
    assert_allclose(a, b, rel, rel * largest(b));
}

/// A gradient `a` against the reference `b`, where both are backwards of `sum(f(x) * w)` with the
/// weights `w` drawn from [-1, 1] (as [`value_and_grad`] draws them): within `rel` of the larger
/// of `b`'s largest magnitude and 1. A backward subtracts terms the size of `w` from each other
/// (softmax's `y * (w - sum(w y))`, cross-entropy's `p - 1`), so its rounding error is a few ulps
/// of 1 however small the difference comes out: a 2-way softmax of logits 8.8 apart, `w` = (0.17,
/// 0.57), has gradient 6.044178441353026e-5 (50-digit arithmetic); the fused op gives it within
/// 3e-18, the composed twin 1.4e-16 away (a quarter of an ulp of 0.57, so a correct result), which
/// is 2e-12 of the gradient itself. Scaled by `b` alone, the bound would fail on such inputs.
#[track_caller]
fn assert_grad_close<T: Float>(a: &Tensor<T>, b: &Tensor<T>, rel: f64) {
    assert_allclose(a, b, rel, rel * largest(b).max(1.0));
}

/// The gradient of `sum(f(x) * w)` with respect to `x`, and `f(x)`; `w` uniform in [-1, 1].
fn value_and_grad<T: Float>(x: &Tensor<T>, w_seed: u64, f: impl Fn(&Var<T>) -> Var<T>) -> (Tensor<T>, Tensor<T>) {
    let xv = Var::parameter(x.clone());
    let y = f(&xv);
    let w = Tensor::rand_uniform(&y.shape(), T::from_f64(-1.0), T::from_f64(1.0), w_seed);
    let g = y.backward_with_grad(&w);
    (y.value(), g.get(&xv).expect("the input receives a gradient").clone())
}

// ---------------------------------------------------------------------------------------------
// Softmax, log_softmax, logsumexp
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn fused_softmax_family_passes_gradcheck((shape, axis) in shape_and_axis(4), kind in 0u8..3, seed in 0u64..1000) {
        let x = input(&shape, kind, seed, 3.0);
        let check = GradCheck::default();
        for (_, fused, _) in SOFTMAX_FAMILY {
            check.assert(std::slice::from_ref(&x), |v| fused(&v[0], axis));
        }
    }

    #[test]
    fn composed_softmax_family_passes_gradcheck((shape, axis) in shape_and_axis(4), kind in 0u8..3, seed in 0u64..1000) {
        let x = input(&shape, kind, seed, 3.0);
        let check = GradCheck::default();
        for (_, _, twin) in SOFTMAX_FAMILY {
            check.assert(std::slice::from_ref(&x), |v| twin(&v[0], axis));
        }
    }

    #[test]
    fn fused_softmax_family_equals_composed((shape, axis) in shape_and_axis(4), kind in 0u8..3, seed in 0u64..1000) {
        let x = input(&shape, kind, seed, 5.0);
        for (name, fused, reference) in SOFTMAX_FAMILY {
            let (y, gx) = value_and_grad(&x, seed + 1, |v| fused(v, axis));
            let (y_ref, gx_ref) = value_and_grad(&x, seed + 1, |v| reference(v, axis));
            prop_assert_eq!(y.shape(), y_ref.shape(), "{}", name);
            assert_close(&y, &y_ref, 1e-12);
            assert_grad_close(&gx, &gx_ref, 1e-12);
        }
    }
}

#[test]
fn softmax_rows_sum_to_one_along_a_middle_axis() {
    let x = Var::parameter(input(&[2, 5, 3], 1, 9, 4.0));
    let sums = x.softmax(1).value().sum(&[1], false);
    assert_close(&sums, &Tensor::ones(&[2, 3]), 1e-15);
    let lse = x.logsumexp(-2, false).value();
    assert_eq!(lse.shape(), &[2, 3]);
    assert_close(&x.log_softmax(1).value().exp(), &x.softmax(1).value(), 1e-15);
}

/// Softmax, log-softmax and logsumexp of the rows of `x: (N, C)` and the gradients of
/// `sum(w * y)` for each, in f64, one element at a time: the reference for the stability tests.
struct RowReference {
    softmax: Vec<f64>,
    log_softmax: Vec<f64>,
    logsumexp: Vec<f64>,
    d_softmax: Vec<f64>,
    d_log_softmax: Vec<f64>,
    d_logsumexp: Vec<f64>,
}

fn row_reference(x: &[f64], w_full: &[f64], w_row: &[f64], c: usize) -> RowReference {
    let mut r = RowReference {
        softmax: vec![],
        log_softmax: vec![],
        logsumexp: vec![],
        d_softmax: vec![],
        d_log_softmax: vec![],
        d_logsumexp: vec![],
    };
    for (i, row) in x.chunks(c).enumerate() {
        let w = &w_full[i * c..(i + 1) * c];
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
        let p: Vec<f64> = row.iter().map(|&v| (v - m).exp() / s).collect();
        let wp: f64 = w.iter().zip(&p).map(|(a, b)| a * b).sum();
        let wsum: f64 = w.iter().sum();
        for j in 0..c {
            r.softmax.push(p[j]);
            r.log_softmax.push(row[j] - m - s.ln());
            r.d_softmax.push(p[j] * (w[j] - wp));
            r.d_log_softmax.push(w[j] - p[j] * wsum);
            r.d_logsumexp.push(w_row[i] * p[j]);
        }
        r.logsumexp.push(m + s.ln());
    }
    r
}

/// Logits near ±1e4 with O(1) differences within most rows (where a naive `exp` overflows but the
/// softmax is far from one-hot), and one row spread over [-1e4, 1e4].
fn large_logits(n: usize, c: usize, seed: u64) -> Tensor<f64> {
    let noise = Tensor::<f64>::rand_uniform(&[n, c], -3.0, 3.0, seed).to_vec();
    let spread = Tensor::<f64>::rand_uniform(&[c], -1e4, 1e4, seed + 1).to_vec();
    let data = (0..n * c)
        .map(|k| match k / c {
            0 => spread[k % c],
            r if r % 2 == 1 => 1e4 + noise[k],
            _ => -1e4 + noise[k],
        })
        .collect();
    Tensor::from_vec(data, &[n, c])
}

/// Checks the fused softmax family in `T` on logits around 1e4 against the f64 reference built on
/// the very same (rounded to `T`) inputs: finite, and within `rel` of the reference.
fn check_softmax_family_at_1e4<T: Float>(rel: f64) {
    let (n, c) = (5, 6);
    let x = large_logits(n, c, 21).cast::<T>();
    let x64 = x.cast::<f64>().to_vec();
    let w = Tensor::<T>::rand_uniform(&[n, c], T::from_f64(-1.0), T::from_f64(1.0), 5);
    let w_row = Tensor::<T>::rand_uniform(&[n], T::from_f64(-1.0), T::from_f64(1.0), 6);
    let r = row_reference(&x64, &w.cast::<f64>().to_vec(), &w_row.cast::<f64>().to_vec(), c);
    let reference = |v: &[f64], shape: &[usize]| Tensor::from_vec(v.to_vec(), shape);

    let cases: [StabilityCase<T>; 3] = [
        ("softmax", |v| v.softmax(-1), &w, &r.softmax, &r.d_softmax),
        ("log_softmax", |v| v.log_softmax(1), &w, &r.log_softmax, &r.d_log_softmax),
        ("logsumexp", |v| v.logsumexp(-1, false), &w_row, &r.logsumexp, &r.d_logsumexp),
    ];
    for (name, op, weights, y_ref, g_ref) in cases {
        let xv = Var::parameter(x.clone());
        let y = op(&xv);
        let g = y.backward_with_grad(weights).get(&xv).unwrap().cast::<f64>();
        let y = y.value().cast::<f64>();
        assert!(y.to_vec().iter().chain(&g.to_vec()).all(|v| v.is_finite()), "{name} in {}: not finite", T::NAME);
        assert_close(&y, &reference(y_ref, y.shape()), rel);
        assert_close(&g, &reference(g_ref, &[n, c]), rel);
    }
}

#[test]
fn softmax_family_is_stable_and_accurate_at_1e4_in_f64() {
    check_softmax_family_at_1e4::<f64>(1e-12);
}

#[test]
fn softmax_family_is_stable_and_accurate_at_1e4_in_f32() {
    // About 100 f32 epsilons of the largest magnitude (values 1e4, gradients 1).
    check_softmax_family_at_1e4::<f32>(1e-5);
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn cross_entropy_passes_gradcheck(n in 1usize..=6, c in 2usize..=5, mode in 0u8..3, transposed: bool, seed in 0u64..1000) {
        let ignore = ignore_for(mode, c);
        let t = targets(n, c, ignore, &mut rng_from_seed(seed));
        let logits = if transposed { input(&[c, n], 0, seed, 3.0).mt() } else { input(&[n, c], 0, seed, 3.0) };
        let check = GradCheck::default();
        check.assert(std::slice::from_ref(&logits), |v| v[0].cross_entropy(&t, ignore));
        check.assert(std::slice::from_ref(&logits), |v| composed::cross_entropy(&v[0], &t, ignore));
    }

    #[test]
    fn cross_entropy_of_3d_logits_passes_gradcheck(b in 1usize..=3, tt in 1usize..=3, c in 2usize..=4, mode in 0u8..3, kind in 0u8..3, seed in 0u64..1000) {
        let ignore = ignore_for(mode, c);
        let t = targets(b * tt, c, ignore, &mut rng_from_seed(seed));
        let logits = input(&[b, tt, c], kind, seed, 3.0);
        GradCheck::default().assert(std::slice::from_ref(&logits), |v| v[0].cross_entropy(&t, ignore));
    }

    #[test]
    fn fused_cross_entropy_equals_composed(n in 1usize..=8, c in 2usize..=7, mode in 0u8..3, seed in 0u64..1000) {
        let ignore = ignore_for(mode, c);
        let t = targets(n, c, ignore, &mut rng_from_seed(seed));
        let logits = input(&[n, c], 0, seed, 6.0);
        let (loss, g) = value_and_grad(&logits, seed, |v| v.cross_entropy(&t, ignore));
        let (loss_ref, g_ref) = value_and_grad(&logits, seed, |v| composed::cross_entropy(v, &t, ignore));
        prop_assert_eq!(loss.shape(), &[] as &[usize]);
        prop_assert_eq!(loss_ref.shape(), &[] as &[usize]);
        assert_close(&loss, &loss_ref, 1e-12);
        assert_grad_close(&g, &g_ref, 1e-12);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Label smoothing: the fused op and its composed twin pass the gradient check, on plain and
    /// transposed logits, with and without ignored rows, for smoothing from 0 to 1.
    #[test]
    fn smoothed_cross_entropy_passes_gradcheck(n in 1usize..=6, c in 2usize..=5, mode in 0u8..3, transposed: bool, eps in 0.0f64..=1.0, seed in 0u64..1000) {
        let ignore = ignore_for(mode, c);
        let t = targets(n, c, ignore, &mut rng_from_seed(seed));
        let logits = if transposed { input(&[c, n], 0, seed, 3.0).mt() } else { input(&[n, c], 0, seed, 3.0) };
        let check = GradCheck::default();
        check.assert(std::slice::from_ref(&logits), |v| v[0].cross_entropy_smoothed(&t, ignore, eps));
        check.assert(std::slice::from_ref(&logits), |v| composed::cross_entropy_smoothed(&v[0], &t, ignore, eps));
    }

    #[test]
    fn fused_smoothed_cross_entropy_equals_composed(b in 1usize..=3, tt in 1usize..=3, c in 2usize..=7, mode in 0u8..3, eps in 0.0f64..=1.0, seed in 0u64..1000) {
        let ignore = ignore_for(mode, c);
        let t = targets(b * tt, c, ignore, &mut rng_from_seed(seed));
        let logits = input(&[b, tt, c], 0, seed, 6.0);
        let (loss, g) = value_and_grad(&logits, seed, |v| v.cross_entropy_smoothed(&t, ignore, eps));
        let (loss_ref, g_ref) = value_and_grad(&logits, seed, |v| composed::cross_entropy_smoothed(v, &t, ignore, eps));
        assert_close(&loss, &loss_ref, 1e-12);
        assert_grad_close(&g, &g_ref, 1e-12);
    }
}

/// Smoothing 0 is plain cross-entropy, bit for bit, even with a `-inf` logit (where a `0 * -inf`
/// term would turn the loss into NaN).
#[test]
fn zero_smoothing_is_plain_cross_entropy() {
    let mut x = input(&[3, 4], 0, 5, 2.0);
    x = x.masked_fill(
        &Tensor::from_vec(vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[3, 4]),
        f64::NEG_INFINITY,
    );
    let t = [2, 0, 9];
    let (loss, g) = value_and_grad(&x, 1, |v| v.cross_entropy_smoothed(&t, Some(9), 0.0));
    let (plain, g_plain) = value_and_grad(&x, 1, |v| v.cross_entropy(&t, Some(9)));
    assert!(loss.item().is_finite());
    assert_eq!(loss.item(), plain.item());
    assert_eq!(g.to_vec(), g_plain.to_vec());
}

/// Against the definition, element by element: `q = (1 - eps) one_hot + eps / C`, loss
/// `-mean sum q log p`, gradient `(p - q) / N`.
#[test]
fn smoothed_cross_entropy_matches_its_definition() {
    let (n, c, eps) = (3, 5, 0.1);
    let x = input(&[n, c], 0, 11, 2.0);
    let t = [4, 0, 2];
    let xv = Var::parameter(x.clone());
    let loss = xv.cross_entropy_smoothed(&t, None, eps);
    let g = loss.backward().get(&xv).unwrap().clone();
    let log_p = x.log_softmax(-1).to_vec();
    let (mut expected_loss, mut expected_grad) = (0.0, vec![0.0; n * c]);
    for i in 0..n {
        for j in 0..c {
            let q = eps / c as f64 + if j == t[i] { 1.0 - eps } else { 0.0 };
            expected_loss -= q * log_p[i * c + j] / n as f64;
            expected_grad[i * c + j] = (log_p[i * c + j].exp() - q) / n as f64;
        }
    }
    assert!((loss.item() - expected_loss).abs() < 1e-14, "{} vs {expected_loss}", loss.item());
    assert!(g.to_vec().iter().zip(&expected_grad).all(|(a, b)| (a - b).abs() < 1e-15));
}

#[test]
#[should_panic(expected = "label smoothing must be in [0, 1], got 1.5")]
fn smoothing_outside_zero_one_is_refused() {
    let x = Var::parameter(input(&[2, 3], 0, 1, 1.0));
    let _ = x.cross_entropy_smoothed(&[0, 1], None, 1.5);
}

#[test]
fn cross_entropy_of_3d_logits_equals_the_flattened_2d_loss() {
    let x = input(&[2, 3, 4], 0, 3, 2.0);
    let t = [0, 3, 9, 1, 2, 9];
    let (loss3, g3) = value_and_grad(&x, 1, |v| v.cross_entropy(&t, Some(9)));
    let (loss2, g2) = value_and_grad(&x.reshape(&[6, 4]), 1, |v| v.cross_entropy(&t, Some(9)));
    assert_eq!(loss3.item(), loss2.item());
    assert_eq!(g3.shape(), &[2, 3, 4]);
    assert_eq!(g3.to_vec(), g2.to_vec());
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_one_hot_over_kept_rows() {
    let x = input(&[4, 3], 0, 8, 2.0);
    let t = [2, 7, 0, 1]; // row 1 is ignored
    let xv = Var::parameter(x.clone());
    let loss = xv.cross_entropy(&t, Some(7));
    let g = loss.backward().get(&xv).unwrap().to_vec();
    let p = x.softmax(-1).to_vec();
    let mut expected = vec![0.0; 12];
    let mut loss_ref = 0.0;
    for i in [0, 2, 3] {
        for j in 0..3 {
            expected[i * 3 + j] = (p[i * 3 + j] - if j == t[i] { 1.0 } else { 0.0 }) / 3.0;
        }
        loss_ref -= p[i * 3 + t[i]].ln() / 3.0;
    }
    assert_close(&Tensor::from_vec(g.clone(), &[4, 3]), &Tensor::from_vec(expected, &[4, 3]), 1e-14);
    assert_eq!(&g[3..6], &[0.0; 3], "the ignored row gets no gradient");
    assert!((loss.item() - loss_ref).abs() < 1e-14 * loss_ref.abs());
}

#[test]
fn cross_entropy_scales_with_the_incoming_gradient() {
    let x = input(&[3, 4], 0, 2, 2.0);
    let t = [1, 0, 3];
    let grad_of = |upstream: f64| {
        let xv = Var::parameter(x.clone());
        xv.cross_entropy(&t, None).mul_scalar(upstream).backward().get(&xv).unwrap().clone()
    };
    assert_close(&grad_of(2.5), &grad_of(1.0).mul_scalar(2.5), 1e-15);
}

#[test]
fn cross_entropy_with_every_row_ignored_is_nan() {
    let x = Var::parameter(Tensor::<f64>::zeros(&[2, 3]));
    assert!(x.cross_entropy(&[5, 5], Some(5)).item().is_nan());
    assert!(composed::cross_entropy(&x, &[5, 5], Some(5)).item().is_nan());
}

/// The f64 reference for cross-entropy, one element at a time: the mean over kept rows of
/// `lse_i - x[i, t_i]`, and `(softmax - one_hot) / n_valid`.
fn cross_entropy_reference(x: &[f64], c: usize, t: &[usize], ignore: Option<usize>) -> (f64, Vec<f64>) {
    let n_valid = t.iter().filter(|&&ti| Some(ti) != ignore).count() as f64;
    let (mut loss, mut grad) = (0.0, vec![0.0; x.len()]);
    for (i, row) in x.chunks(c).enumerate() {
        if Some(t[i]) == ignore {
            continue;
        }
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
        loss += (m - row[t[i]] + s.ln()) / n_valid;
        for j in 0..c {
            let one_hot = if j == t[i] { 1.0 } else { 0.0 };
            grad[i * c + j] = ((row[j] - m).exp() / s - one_hot) / n_valid;
        }
    }
    (loss, grad)
}

/// A language model's loss (many rows, so the fused backward splits them into parallel tasks):
/// the f32 gradient is the same bits on 1 and 3 threads, and matches the f64 reference.
#[test]
fn a_large_cross_entropy_gradient_is_the_same_on_any_thread_count_and_right() {
    let (n, c) = (700, 65); // 45 500 logits: several tasks of whole rows
    let x = input(&[n, c], 0, 21, 3.0);
    let t: Vec<usize> = (0..n).map(|i| if i % 13 == 5 { usize::MAX } else { (i * 7) % c }).collect();
    let (_, grad_ref) = cross_entropy_reference(&x.to_vec(), c, &t, Some(usize::MAX));
    let x32 = x.cast::<f32>();
    let grad_on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let xv = Var::parameter(x32.clone());
            xv.cross_entropy(&t, Some(usize::MAX)).backward().get(&xv).unwrap().to_vec()
        })
    };
    let (one, three) = (grad_on(1), grad_on(3));
    assert_eq!(
        one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        three.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "the gradient depends on the thread count"
    );
    for (i, (&g, &want)) in one.iter().zip(&grad_ref).enumerate() {
        // f32 rounding of the logits, the log-softmax and the exp, relative to 1 / n_valid.
        assert!((g as f64 - want).abs() <= 1e-6 / n as f64 + 1e-5 * want.abs(), "element {i}: {g} vs {want}");
    }
    let ignored = 5 * c..6 * c;
    assert!(one[ignored].iter().all(|&g| g == 0.0), "an ignored row gets no gradient");
}

/// Fused and composed cross-entropy in `T` on logits around 1e4, against the f64 reference on the
/// same (rounded to `T`) logits.
fn check_cross_entropy_at_1e4<T: Float>(rel: f64) {
    let (n, c) = (7, 5);
    let x = large_logits(n, c, 33).cast::<T>();
    let t = [1, 4, 0, 9, 2, 3, 9];
    let (loss_ref, grad_ref) = cross_entropy_reference(&x.cast::<f64>().to_vec(), c, &t, Some(9));
    let losses: [(&str, LossOp<T>); 2] =
        [("fused", |v, t| v.cross_entropy(t, Some(9))), ("composed", |v, t| composed::cross_entropy(v, t, Some(9)))];
    for (name, f) in losses {
        let xv = Var::parameter(x.clone());
        let loss = f(&xv, &t);
        let g = loss.backward().get(&xv).unwrap().cast::<f64>();
        let loss = loss.item().to_f64();
        assert!(loss.is_finite() && g.to_vec().iter().all(|v| v.is_finite()), "{name} in {}: not finite", T::NAME);
        assert!((loss - loss_ref).abs() <= rel * loss_ref.abs(), "{name} in {}: {loss} vs {loss_ref}", T::NAME);
        assert_close(&g, &Tensor::from_vec(grad_ref.clone(), &[n, c]), rel);
    }
}

#[test]
fn cross_entropy_is_stable_and_accurate_at_1e4_in_f64() {
    check_cross_entropy_at_1e4::<f64>(1e-12);
}

#[test]
fn cross_entropy_is_stable_and_accurate_at_1e4_in_f32() {
    check_cross_entropy_at_1e4::<f32>(1e-5);
}

#[test]
#[should_panic(
    expected = "tensor op 'cross_entropy': target 3 (row 1) is out of range for 3 classes (logits shape [2, 3]"
)]
fn cross_entropy_rejects_a_target_out_of_range() {
    Var::parameter(Tensor::<f64>::zeros(&[2, 3])).cross_entropy(&[0, 3], None);
}

#[test]
#[should_panic(expected = "tensor op 'cross_entropy': target 3 (row 0) is out of range")]
fn cross_entropy_rejects_a_target_out_of_range_that_is_not_the_ignore_index() {
    Var::parameter(Tensor::<f64>::zeros(&[2, 3])).cross_entropy(&[3, 100], Some(100));
}

#[test]
#[should_panic(
    expected = "tensor op 'cross_entropy': logits of shape [2, 2, 3] have 4 rows of 3 classes, but 3 targets"
)]
fn cross_entropy_rejects_a_wrong_number_of_targets() {
    Var::parameter(Tensor::<f64>::zeros(&[2, 2, 3])).cross_entropy(&[0, 1, 2], None);
}

#[test]
#[should_panic(expected = "tensor op 'cross_entropy': logits must have shape (N, C) or (.., C), got [3]")]
fn cross_entropy_rejects_1d_logits() {
    Var::parameter(Tensor::<f64>::zeros(&[3])).cross_entropy(&[0, 1, 2], None);
}

#[test]
#[should_panic(expected = "tensor op 'cross_entropy': target 5 (row 0)")]
fn composed_cross_entropy_rejects_a_target_out_of_range() {
    composed::cross_entropy(&Var::parameter(Tensor::<f64>::zeros(&[1, 3])), &[5], None);
}

// ---------------------------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------------------------

#[test]
fn dropout_keeps_about_one_minus_p_and_scales_the_survivors() {
    let p = 0.3f32;
    let x = Var::parameter(Tensor::<f32>::ones(&[400, 500]));
    let y = x.dropout(p, &mut rng_from_seed(1)).value().to_vec();
    let scale = 1.0 / (1.0 - p);
    assert!(y.iter().all(|&v| v == 0.0 || v == scale), "every element is dropped or scaled by 1 / (1 - p)");
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
    // The kept fraction has standard deviation sqrt(p (1 - p) / n) ~ 0.001 here: 5 of them.
    assert!((kept - 0.7).abs() < 0.005, "kept fraction {kept}");
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
    assert!((mean - 1.0).abs() < 0.01, "inverted dropout keeps the mean: {mean}");
}

#[test]
fn dropout_gradient_is_the_scaled_mask() {
    let p = 0.25;
    let x = Var::parameter(input(&[30, 40], 1, 4, 2.0)); // a strided input
    let y = x.dropout(p, &mut rng_from_seed(7));
    // The same seed on ones gives the scaled mask itself.
    let mask = Var::parameter(Tensor::<f64>::ones(&[30, 40])).dropout(p, &mut rng_from_seed(7)).value();
    assert!(mask.to_vec().iter().all(|&m| m == 0.0 || m == 1.0 / (1.0 - p)));
    assert_eq!(y.value().to_vec(), x.value().mul(&mask).to_vec());
    let w = Tensor::<f64>::rand_uniform(&[30, 40], -1.0, 1.0, 3);
    let g = y.backward_with_grad(&w);
    assert_eq!(g.get(&x).unwrap().to_vec(), w.mul(&mask).to_vec());
}

#[test]
fn dropout_with_a_fixed_seed_passes_gradcheck() {
    let x = input(&[6, 7], 2, 11, 1.0);
    GradCheck::default().assert(&[x], |v| v[0].dropout(0.4, &mut rng_from_seed(3)));
}

#[test]
fn dropout_masks_repeat_with_the_seed_and_differ_across_seeds() {
    let x = Var::constant(Tensor::<f64>::ones(&[1000]));
    let a = x.dropout(0.5, &mut rng_from_seed(42)).value().to_vec();
    let b = x.dropout(0.5, &mut rng_from_seed(42)).value().to_vec();
    let c = x.dropout(0.5, &mut rng_from_seed(43)).value().to_vec();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // The mask does not depend on the element type: f32 drops the same elements.
    let x32 = Var::constant(Tensor::<f32>::ones(&[1000]));
    let a32 = x32.dropout(0.5, &mut rng_from_seed(42)).value().to_vec();
    assert!(a.iter().zip(&a32).all(|(u, v)| (*u == 0.0) == (*v == 0.0)));
    // One generator advances: two calls in a row give two different masks.
    let mut rng = rng_from_seed(42);
    let first = x.dropout(0.5, &mut rng).value().to_vec();
    let second = x.dropout(0.5, &mut rng).value().to_vec();
    assert_eq!(first, a);
    assert_ne!(first, second);
}

#[test]
fn dropout_with_p_zero_is_the_identity() {
    let x = Var::parameter(input(&[3, 4], 0, 1, 1.0));
    let y = x.dropout(0.0, &mut rng_from_seed(0));
    assert_eq!(y.id(), x.id(), "no new node is recorded");
    assert_eq!(y.value().to_vec(), x.value().to_vec());
}

#[test]
#[should_panic(expected = "tensor op 'dropout': drop probability p = 1 must be in [0, 1) (input shape [2])")]
fn dropout_rejects_p_one() {
    Var::parameter(Tensor::<f64>::ones(&[2])).dropout(1.0, &mut rng_from_seed(0));
}

#[test]
#[should_panic(expected = "tensor op 'dropout': drop probability p = -0.1 must be in [0, 1)")]
fn dropout_rejects_negative_p() {
    Var::parameter(Tensor::<f64>::ones(&[2])).dropout(-0.1, &mut rng_from_seed(0));
}

#[test]
#[should_panic(expected = "tensor op 'dropout': drop probability p = NaN")]
fn dropout_rejects_nan_p() {
    Var::parameter(Tensor::<f32>::ones(&[2])).dropout(f32::NAN, &mut rng_from_seed(0));
}
