//! Elementwise ops against a naive index-by-index reference, on random shapes and random views.
//!
//! Every test tensor is built from fresh random storage and then viewed: as is (contiguous),
//! narrowed (an offset and gaps between rows), permuted (non-contiguous strides), broadcast
//! (stride 0), or several of these at once. The reference reads each input element with
//! `Tensor::get` at its multi-index and applies the scalar function, so it shares no code with
//! the kernels' fast paths or the strided walker.
//!
//! Kernel and reference perform the same float operations in the same order, so results must be
//! bit-identical (NaN matching any NaN). Tolerances appear only where a test compares against an
//! independently computed value (known GELU points, the naive sigmoid formula).

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tensor::{Float, Tensor, gelu_erf_scalar};

// ---------------------------------------------------------------------------------------------
// Random tensors under random views
// ---------------------------------------------------------------------------------------------

/// A recipe for a tensor of shape `shape`: row-major `data` over `base_shape`, then each view.
#[derive(Clone, Debug)]
struct ViewSpec {
    shape: Vec<usize>,
    base_shape: Vec<usize>,
    data: Vec<f64>,
    /// `(start, len)` per base axis, when narrowed.
    narrow: Option<Vec<(usize, usize)>>,
    perm: Option<Vec<usize>>,
    /// Whether a final `broadcast_to(shape)` stretches size-1 (or missing leading) axes.
    broadcast: bool,
}

impl ViewSpec {
    fn build<T: Float>(&self) -> Tensor<T> {
        let data = self.data.iter().map(|&v| T::from_f64(v)).collect();
        let mut t = Tensor::<T>::from_vec(data, &self.base_shape);
        if let Some(ranges) = &self.narrow {
            for (axis, &(start, len)) in ranges.iter().enumerate() {
                t = t.narrow(axis as isize, start, len);
            }
        }
        if let Some(perm) = &self.perm {
            t = t.permute(&perm.iter().map(|&a| a as isize).collect::<Vec<_>>());
        }
        if self.broadcast {
            t = t.broadcast_to(&self.shape);
        }
        assert_eq!(t.shape(), &self.shape[..], "test bug: view recipe built the wrong shape");
        t
    }
}

/// Mostly ordinary values, some small integers (so comparisons meet ties), and a few specials.
fn values() -> BoxedStrategy<f64> {
    prop_oneof![
        6 => -4.0..4.0f64,
        2 => (-2i32..=2).prop_map(f64::from),
        1 => prop::sample::select(vec![0.0, -0.0, 1e4, -1e4, 50.0, -50.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
    ]
    .boxed()
}

/// Masks: mostly exact 0 and 1, sometimes any value (nonzero selects, NaN included).
fn mask_values() -> BoxedStrategy<f64> {
    prop_oneof![3 => Just(0.0), 3 => Just(1.0), 1 => values()].boxed()
}

/// Shapes with 0..=4 axes of size 1..5.
fn shapes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, 0..=4)
}

/// A tensor of exactly `shape`, reached through a random combination of views.
fn view_of(shape: Vec<usize>, vals: BoxedStrategy<f64>) -> impl Strategy<Value = ViewSpec> {
    let n = shape.len();
    let perm = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
    let narrow = prop::collection::vec((0usize..3, 0usize..3), n);
    let bcast = (prop::collection::vec(any::<bool>(), n), 0..=n);
    (any::<[bool; 3]>(), perm, narrow, bcast).prop_flat_map(
        move |([do_narrow, do_perm, do_bcast], perm, narrow, (ones, lead))| {
            // Broadcast stage: the tensor before `broadcast_to` lacks `lead` leading axes and has
            // size 1 wherever `ones` says so.
            let pre: Vec<usize> =
                if do_bcast { (lead..n).map(|i| if ones[i] { 1 } else { shape[i] }).collect() } else { shape.clone() };
            let m = pre.len();
            // Permute stage: `p.permute(perm)` has shape `pre`, so `p[perm[i]] = pre[i]`. A permutation
            // of 0..m is the permutation of 0..n with the entries >= m left out.
            let perm: Vec<usize> = perm.into_iter().filter(|&a| a < m).collect();
            let mut permuted = pre.clone();
            if do_perm {
                for (i, &a) in perm.iter().enumerate() {
                    permuted[a] = pre[i];
                }
            }
            // Narrow stage: each base axis is `extra` longer, and the view starts at `start <= extra`.
            let ranges: Vec<(usize, usize)> = (0..m).map(|i| (narrow[i].1 % (narrow[i].0 + 1), permuted[i])).collect();
            let base_shape: Vec<usize> =
                if do_narrow { (0..m).map(|i| permuted[i] + narrow[i].0).collect() } else { permuted };
            let spec = ViewSpec {
                shape: shape.clone(),
                base_shape,
                data: vec![],
                narrow: do_narrow.then_some(ranges),
                perm: do_perm.then_some(perm),
                broadcast: do_bcast,
            };
            let len: usize = spec.base_shape.iter().product();
            prop::collection::vec(vals.clone(), len).prop_map(move |data| ViewSpec { data, ..spec.clone() })
        },
    )
}

/// One random tensor of a random shape.
fn tensor_spec() -> impl Strategy<Value = ViewSpec> {
    shapes().prop_flat_map(|s| view_of(s, values()))
}

/// A shape derived from `full` that broadcasts to it: some leading axes dropped, some axes 1.
fn shrink_to_broadcast(full: &[usize]) -> impl Strategy<Value = Vec<usize>> + use<> {
    let full = full.to_vec();
    let n = full.len();
    (0..=n, prop::collection::vec(prop::bool::weighted(0.3), n))
        .prop_map(move |(lead, ones)| (lead..n).map(|i| if ones[i] { 1 } else { full[i] }).collect())
}

/// Two shapes that broadcast together: random ones derived from a common shape, or the
/// classic `[3, 1, 4]` with `[2, 1]` (either order).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop_oneof![
        4 => shapes().prop_flat_map(|s| (shrink_to_broadcast(&s), shrink_to_broadcast(&s))),
        1 => Just((vec![3, 1, 4], vec![2, 1])),
        1 => Just((vec![2, 1], vec![3, 1, 4])),
    ]
}

fn binary_specs() -> impl Strategy<Value = (ViewSpec, ViewSpec)> {
    broadcast_pair().prop_flat_map(|(a, b)| (view_of(a, values()), view_of(b, values())))
}

/// The generator must actually produce the layouts the properties claim to cover.
#[test]
fn view_generator_covers_every_kind_of_layout() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut strided, mut offset, mut stride0, mut scalar, mut plain) = (0, 0, 0, 0, 0);
    for _ in 0..500 {
        let t = tensor_spec().new_tree(&mut runner).unwrap().current().build::<f32>();
        let nontrivial = |i: usize| t.shape()[i] > 1;
        strided += usize::from(!t.is_contiguous());
        offset += usize::from(t.layout().offset() > 0);
        stride0 += usize::from((0..t.ndim()).any(|i| nontrivial(i) && t.strides()[i] == 0));
        scalar += usize::from(t.ndim() == 0);
        plain += usize::from(t.is_contiguous() && t.layout().offset() == 0);
    }
    for (what, n) in
        [("non-contiguous", strided), ("offset", offset), ("stride 0", stride0), ("0-d", scalar), ("plain", plain)]
    {
        assert!(n >= 25, "only {n} of 500 generated tensors were {what}");
    }
}

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

/// Every multi-index of `shape` in row-major order (one empty index for a 0-d tensor).
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for &d in shape {
        out = out.into_iter().flat_map(|prefix| (0..d).map(move |i| [prefix.clone(), vec![i]].concat())).collect();
    }
    out
}

/// NumPy's broadcast rule, written out independently of the crate's.
fn expected_shape(shapes: &[&[usize]]) -> Vec<usize> {
    let n = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            let sizes = shapes.iter().filter_map(|s| (i + s.len()).checked_sub(n).map(|j| s[j]));
            sizes.fold(1, |acc, d| if d == 1 { acc } else { d })
        })
        .collect()
}

/// The index into a tensor of `shape` that broadcasting reads for output index `out`.
fn project(out: &[usize], shape: &[usize]) -> Vec<usize> {
    let lead = out.len() - shape.len();
    shape.iter().enumerate().map(|(j, &d)| if d == 1 { 0 } else { out[lead + j] }).collect()
}

/// Bit-identical, except that any NaN matches any NaN.
fn same<T: Float>(a: T, b: T) -> bool {
    a.to_f64().to_bits() == b.to_f64().to_bits() || (a.is_nan() && b.is_nan())
}

fn check_unary<T: Float>(
    spec: &ViewSpec,
    name: &str,
    op: impl Fn(&Tensor<T>) -> Tensor<T>,
    f: impl Fn(T) -> T,
) -> Result<(), TestCaseError> {
    let x = spec.build::<T>();
    let y = op(&x);
    prop_assert_eq!(y.shape(), x.shape(), "{} ({}): shape", name, T::NAME);
    prop_assert!(y.is_contiguous(), "{} ({}): result not contiguous", name, T::NAME);
    for idx in indices(x.shape()) {
        let (xv, got) = (x.get(&idx), y.get(&idx));
        let want = f(xv);
        prop_assert!(
            same(got, want),
            "{} ({}) at {:?}: x = {:e}, got {:e}, want {:e}",
            name,
            T::NAME,
            idx,
            xv,
            got,
            want
        );
    }
    Ok(())
}

fn check_binary<T: Float>(
    (sa, sb): &(ViewSpec, ViewSpec),
    name: &str,
    op: impl Fn(&Tensor<T>, &Tensor<T>) -> Tensor<T>,
    f: impl Fn(T, T) -> T,
) -> Result<(), TestCaseError> {
    let (a, b) = (sa.build::<T>(), sb.build::<T>());
    let c = op(&a, &b);
    let shape = expected_shape(&[a.shape(), b.shape()]);
    prop_assert_eq!(c.shape(), &shape[..], "{} ({}): shape of {:?} with {:?}", name, T::NAME, a.shape(), b.shape());
    prop_assert!(c.is_contiguous(), "{} ({}): result not contiguous", name, T::NAME);
    for idx in indices(&shape) {
        let (av, bv) = (a.get(&project(&idx, a.shape())), b.get(&project(&idx, b.shape())));
        let (got, want) = (c.get(&idx), f(av, bv));
        prop_assert!(
            same(got, want),
            "{} ({}) at {:?}: a = {:e}, b = {:e}, got {:e}, want {:e}",
            name,
            T::NAME,
            idx,
            av,
            bv,
            got,
            want
        );
    }
    Ok(())
}

fn config() -> ProptestConfig {
    // No persistence file: integration tests have no lib.rs for proptest to place it beside.
    ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() }
}

/// `name => |t| op, |x| reference;` becomes one property, run in f32 and in f64. `T` is the
/// element type inside both expressions.
macro_rules! unary_properties {
    ($($name:ident => |$t:ident| $op:expr, |$x:ident| $reference:expr;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(spec in tensor_spec()) {
                    fn run<T: Float>(spec: &ViewSpec) -> Result<(), TestCaseError> {
                        check_unary::<T>(spec, stringify!($name), |$t: &Tensor<T>| $op, |$x: T| $reference)
                    }
                    run::<f32>(&spec)?;
                    run::<f64>(&spec)?;
                }
            )*
        }
    };
}

/// `name => |a, b| op, |x, y| reference;`, as [`unary_properties`] for two broadcast inputs.
macro_rules! binary_properties {
    ($($name:ident => |$a:ident, $b:ident| $op:expr, |$x:ident, $y:ident| $reference:expr;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(specs in binary_specs()) {
                    fn run<T: Float>(specs: &(ViewSpec, ViewSpec)) -> Result<(), TestCaseError> {
                        check_binary::<T>(specs, stringify!($name), |$a: &Tensor<T>, $b: &Tensor<T>| $op, |$x: T, $y: T| $reference)
                    }
                    run::<f32>(&specs)?;
                    run::<f64>(&specs)?;
                }
            )*
        }
    };
}

fn c<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

fn mask<T: Float>(b: bool) -> T {
    if b { T::ONE } else { T::ZERO }
}

// ---------------------------------------------------------------------------------------------
// One input
// ---------------------------------------------------------------------------------------------

unary_properties! {
    neg => |t| t.neg(), |x| -x;
    exp => |t| t.exp(), |x| x.exp();
    log => |t| t.log(), |x| x.ln();
    sqrt => |t| t.sqrt(), |x| x.sqrt();
    rsqrt => |t| t.rsqrt(), |x| T::ONE / x.sqrt();
    powf_fractional => |t| t.powf(c(1.5)), |x| x.powf(c(1.5));
    powf_negative_integer => |t| t.powf(c(-3.0)), |x| x.powf(c(-3.0));
    square => |t| t.square(), |x| x * x;
    recip => |t| t.recip(), |x| T::ONE / x;
    abs => |t| t.abs(), |x| x.abs();
    tanh => |t| t.tanh(), |x| x.tanh();
    sigmoid => |t| t.sigmoid(), |x| if x >= T::ZERO { T::ONE / (T::ONE + (-x).exp()) } else { x.exp() / (T::ONE + x.exp()) };
    relu => |t| t.relu(), |x| if x.is_nan() || x > T::ZERO { x } else { T::ZERO };
    gelu_tanh => |t| t.gelu_tanh(),
        |x| c::<T>(0.5) * x * (T::ONE + (c::<T>((2.0 / std::f64::consts::PI).sqrt()) * (x + c::<T>(0.044715) * x * x * x)).tanh());
    // The exact GELU's reference is the crate's scalar formula (with the crate's erf: for f32 the
    // vectorised one the kernel uses), which the kernels reproduce bit for bit.
    gelu_erf => |t| t.gelu_erf(), |x| gelu_erf_scalar(x).0;
    gelu_erf_with_cdf => |t| t.gelu_erf_with_cdf().0, |x| gelu_erf_scalar(x).0;
    clamp => |t| t.clamp(c(-1.5), c(2.0)),
        |x| if x.is_nan() { x } else if x < c(-1.5) { c(-1.5) } else if x > c(2.0) { c(2.0) } else { x };
    add_scalar => |t| t.add_scalar(c(0.75)), |x| x + c(0.75);
    sub_scalar => |t| t.sub_scalar(c(0.75)), |x| x - c(0.75);
    mul_scalar => |t| t.mul_scalar(c(-1.25)), |x| x * c(-1.25);
    div_scalar => |t| t.div_scalar(c(0.3)), |x| x / c(0.3);
    eq_scalar => |t| t.eq_scalar(c(1.0)), |x| mask(x == c(1.0));
    lt_scalar => |t| t.lt_scalar(c(0.0)), |x| mask(x < c(0.0));
    le_scalar => |t| t.le_scalar(c(1.0)), |x| mask(x <= c(1.0));
    gt_scalar => |t| t.gt_scalar(c(0.0)), |x| mask(x > c(0.0));
    ge_scalar => |t| t.ge_scalar(c(-1.0)), |x| mask(x >= c(-1.0));
    // Operators with a scalar on the right, borrowed and owned, and negation.
    op_add_scalar => |t| t + c::<T>(0.75), |x| x + c(0.75);
    op_sub_scalar_owned => |t| t.clone() - c::<T>(0.75), |x| x - c(0.75);
    op_mul_scalar => |t| t * c::<T>(-1.25), |x| x * c(-1.25);
    op_div_scalar_owned => |t| t.clone() / c::<T>(0.3), |x| x / c(0.3);
    op_neg => |t| -t, |x| -x;
    op_neg_owned => |t| -t.clone(), |x| -x;
}

// ---------------------------------------------------------------------------------------------
// Two inputs, broadcasting
// ---------------------------------------------------------------------------------------------

binary_properties! {
    add => |a, b| a.add(b), |x, y| x + y;
    sub => |a, b| a.sub(b), |x, y| x - y;
    mul => |a, b| a.mul(b), |x, y| x * y;
    div => |a, b| a.div(b), |x, y| x / y;
    maximum => |a, b| a.maximum(b), |x, y| if x.is_nan() || y.is_nan() { T::NAN } else if x >= y { x } else { y };
    minimum => |a, b| a.minimum(b), |x, y| if x.is_nan() || y.is_nan() { T::NAN } else if x <= y { x } else { y };
    eq_mask => |a, b| a.eq_mask(b), |x, y| mask(x == y);
    lt => |a, b| a.lt(b), |x, y| mask(x < y);
    le => |a, b| a.le(b), |x, y| mask(x <= y);
    gt => |a, b| a.gt(b), |x, y| mask(x > y);
    ge => |a, b| a.ge(b), |x, y| mask(x >= y);
    // Operators, in every owned/borrowed pairing.
    op_add => |a, b| a + b, |x, y| x + y;
    op_sub_owned_owned => |a, b| a.clone() - b.clone(), |x, y| x - y;
    op_mul_owned_ref => |a, b| a.clone() * b, |x, y| x * y;
    op_div_ref_owned => |a, b| a / b.clone(), |x, y| x / y;
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn where_mask(specs in broadcast_pair()
        .prop_flat_map(|(a, b)| (shrink_to_broadcast(&expected_shape(&[&a, &b])), Just(a), Just(b)))
        .prop_flat_map(|(m, a, b)| (view_of(m, mask_values()), view_of(a, values()), view_of(b, values()))))
    {
        fn run<T: Float>((sm, sa, sb): &(ViewSpec, ViewSpec, ViewSpec)) -> Result<(), TestCaseError> {
            let (m, a, b) = (sm.build::<T>(), sa.build::<T>(), sb.build::<T>());
            let c = Tensor::where_mask(&m, &a, &b);
            let shape = expected_shape(&[m.shape(), a.shape(), b.shape()]);
            prop_assert_eq!(c.shape(), &shape[..]);
            for idx in indices(&shape) {
                let mv = m.get(&project(&idx, m.shape()));
                let want = if mv != T::ZERO { a.get(&project(&idx, a.shape())) } else { b.get(&project(&idx, b.shape())) };
                prop_assert!(same(c.get(&idx), want), "where_mask ({}) at {:?}: mask {:e}", T::NAME, idx, mv);
            }
            Ok(())
        }
        run::<f32>(&specs)?;
        run::<f64>(&specs)?;
    }

    #[test]
    fn masked_fill(specs in shapes()
        .prop_flat_map(|s| (shrink_to_broadcast(&s), Just(s)))
        .prop_flat_map(|(m, s)| (view_of(s, values()), view_of(m, mask_values()), prop::sample::select(vec![-7.5, f64::NEG_INFINITY]))))
    {
        fn run<T: Float>((sx, sm, value): &(ViewSpec, ViewSpec, f64)) -> Result<(), TestCaseError> {
            let (x, m, value) = (sx.build::<T>(), sm.build::<T>(), T::from_f64(*value));
            let y = x.masked_fill(&m, value);
            prop_assert_eq!(y.shape(), x.shape());
            for idx in indices(x.shape()) {
                let mv = m.get(&project(&idx, m.shape()));
                let want = if mv != T::ZERO { value } else { x.get(&idx) };
                prop_assert!(same(y.get(&idx), want), "masked_fill ({}) at {:?}: mask {:e}", T::NAME, idx, mv);
            }
            Ok(())
        }
        run::<f32>(&specs)?;
        run::<f64>(&specs)?;
    }

    /// `s ∘ tensor` exists only for the concrete types, so each is spelled out.
    #[test]
    fn scalar_on_the_left(spec in tensor_spec()) {
        macro_rules! check {
            ($t:ty) => {{
                let s: $t = 0.75;
                check_unary::<$t>(&spec, "s + x", |t| s + t, |v| s + v)?;
                check_unary::<$t>(&spec, "s - x", |t| s - t.clone(), |v| s - v)?;
                check_unary::<$t>(&spec, "s * x", |t| s * t, |v| s * v)?;
                check_unary::<$t>(&spec, "s / x", |t| s / t.clone(), |v| s / v)?;
            }};
        }
        check!(f32);
        check!(f64);
    }
}

// ---------------------------------------------------------------------------------------------
// Known values and extremes
// ---------------------------------------------------------------------------------------------

fn apply<T: Float>(op: fn(&Tensor<T>) -> Tensor<T>, x: f64) -> f64 {
    op(&Tensor::from_vec(vec![T::from_f64(x)], &[1])).item().to_f64()
}

/// GELU at points computed to 40 digits with mpmath, rounded to f64. Tolerance: a few roundings of the type's
/// epsilon, scaled by |x| because `1 + erf(..)` / `1 + tanh(..)` is formed before the product
/// with x (and cancels for negative x, where the absolute error of erf/tanh is what remains).
fn check_gelu<T: Float>() {
    let eps = T::EPSILON.to_f64();
    let cases = [
        (1.0, 0.8413447460685429, 0.8411919906082767),
        (-1.0, -0.15865525393145705, -0.1588080093917233),
        (2.0, 1.9544997361036416, 1.954597694087775),
        (-3.0, -0.0040496940948902835, -0.003637392081773019),
        (0.5, 0.34573123063700656, 0.34571400982514394),
        (0.0, 0.0, 0.0),
    ];
    for (x, erf_form, tanh_form) in cases {
        let tol = 4.0 * eps * f64::max(1.0, x.abs());
        let (e, t) = (apply::<T>(Tensor::gelu_erf, x), apply::<T>(Tensor::gelu_tanh, x));
        assert!((e - erf_form).abs() <= tol, "gelu_erf({x}) in {}: {e} vs {erf_form}", T::NAME);
        assert!((t - tanh_form).abs() <= tol, "gelu_tanh({x}) in {}: {t} vs {tanh_form}", T::NAME);
    }
}

#[test]
fn gelu_matches_known_values() {
    check_gelu::<f32>();
    check_gelu::<f64>();
    // Both are the correctly rounded f64 values. erf comes from the pure-Rust `libm` crate, the
    // same on every platform, so it must match exactly; tanh is the platform's, allowed one ulp.
    assert_eq!(apply::<f64>(Tensor::gelu_erf, 1.0), 0.8413447460685429);
    assert!((apply::<f64>(Tensor::gelu_tanh, 1.0) - 0.8411919906082768).abs() <= f64::EPSILON / 2.0);
}

fn check_extremes<T: Float>() {
    let x = Tensor::<T>::from_vec(vec![c(-1e4), c(1e4)], &[2]);
    let v = |t: Tensor<T>| t.to_vec().into_iter().map(|v| v.to_f64()).collect::<Vec<_>>();
    assert_eq!(v(x.sigmoid()), vec![0.0, 1.0], "sigmoid in {}", T::NAME);
    assert_eq!(v(x.tanh()), vec![-1.0, 1.0], "tanh in {}", T::NAME);
    // e^-1e4 underflows to 0; e^1e4 is finite in exact arithmetic but beyond every float type.
    assert_eq!(v(x.exp()), vec![0.0, f64::INFINITY], "exp in {}", T::NAME);
    // GELU is exactly x for large x and 0 (here -0) for very negative x: no inf * 0 NaN.
    assert_eq!(v(x.gelu_tanh()), vec![0.0, 1e4], "gelu_tanh in {}", T::NAME);
    assert_eq!(v(x.gelu_erf()), vec![0.0, 1e4], "gelu_erf in {}", T::NAME);
    let huge = Tensor::<T>::from_vec(vec![T::NEG_INFINITY, T::INFINITY], &[2]);
    assert_eq!(v(huge.sigmoid()), vec![0.0, 1.0], "sigmoid(±inf) in {}", T::NAME);
}

#[test]
fn sigmoid_tanh_exp_gelu_stay_finite_at_extremes() {
    check_extremes::<f32>();
    check_extremes::<f64>();
}

/// The two-branch sigmoid agrees with the textbook `1 / (1 + e^-x)` where the latter is
/// accurate. Tolerance: each form rounds e^x and one add and one divide, a few ulps apart.
#[test]
fn sigmoid_agrees_with_textbook_formula() {
    let xs: Vec<f64> = (-200..=200).map(|i| f64::from(i) * 0.1).collect();
    let y = Tensor::<f64>::from_vec(xs.clone(), &[xs.len()]).sigmoid().to_vec();
    for (x, y) in xs.iter().zip(y) {
        let naive = 1.0 / (1.0 + (-x).exp());
        assert!((y - naive).abs() <= 4.0 * f64::EPSILON * naive, "sigmoid({x}) = {y} vs {naive}");
    }
}

#[test]
fn empty_tensors_keep_their_shape() {
    let a = Tensor::<f32>::zeros(&[2, 0, 3]);
    let b = Tensor::<f32>::zeros(&[1, 3]);
    assert_eq!(a.exp().shape(), &[2, 0, 3]);
    assert_eq!(a.add(&b).shape(), &[2, 0, 3]);
    assert_eq!(Tensor::where_mask(&b, &a, &b).shape(), &[2, 0, 3]);
    assert_eq!(a.masked_fill(&b, 1.0).shape(), &[2, 0, 3]);
}

// ---------------------------------------------------------------------------------------------
// Misuse
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "tensor op 'add': shapes [2, 3] and [3, 2]")]
fn add_of_mismatched_shapes_panics_with_both_shapes() {
    let _ = Tensor::<f32>::zeros(&[2, 3]).add(&Tensor::zeros(&[3, 2]));
}

#[test]
#[should_panic(expected = "tensor op 'mul': shapes [4] and [3]")]
fn operator_panics_name_the_op() {
    let _ = &Tensor::<f64>::zeros(&[4]) * &Tensor::zeros(&[3]);
}

#[test]
#[should_panic(expected = "tensor op 'where_mask': mask [2], a [3] and b [1]")]
fn where_mask_panics_with_all_three_shapes() {
    let _ = Tensor::<f32>::where_mask(&Tensor::zeros(&[2]), &Tensor::zeros(&[3]), &Tensor::zeros(&[1]));
}

#[test]
#[should_panic(
    expected = "tensor op 'masked_fill': mask of shape [2, 3] does not broadcast to the tensor's shape [2, 1]"
)]
fn masked_fill_panics_when_the_mask_would_grow_the_tensor() {
    let _ = Tensor::<f32>::zeros(&[2, 1]).masked_fill(&Tensor::zeros(&[2, 3]), 0.0);
}

#[test]
#[should_panic(expected = "tensor op 'clamp': needs min <= max")]
fn clamp_panics_on_inverted_bounds() {
    let _ = Tensor::<f32>::zeros(&[2]).clamp(1.0, -1.0);
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LOCATION: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns the file and line the panic reported.
/// The hook is process-wide, so it records only for the thread that asked and otherwise
/// defers to the previous hook (other tests run in parallel).
fn panic_location(f: impl FnOnce()) -> (String, u32) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let loc = info.location().map(|l| (l.file().to_string(), l.line()));
                LOCATION.with(|cell| *cell.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
    CAPTURING.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(false));
    assert!(result.is_err(), "expected a panic");
    LOCATION.with(|cell| cell.borrow_mut().take()).expect("panic without a location")
}

#[test]
fn panics_point_at_the_callers_line() {
    let (a, b) = (Tensor::<f32>::zeros(&[2, 3]), Tensor::<f32>::zeros(&[3, 2]));
    let m = Tensor::<f32>::zeros(&[5]);
    let cases = [
        (panic_location(|| drop(&a + &b)), line!()),
        (panic_location(|| drop(a.clone() - b.clone())), line!()),
        (panic_location(|| drop(a.maximum(&b))), line!()),
        (panic_location(|| drop(a.lt(&b))), line!()),
        (panic_location(|| drop(Tensor::where_mask(&m, &a, &b))), line!()),
        (panic_location(|| drop(a.masked_fill(&m, 0.0))), line!()),
        (panic_location(|| drop(a.clamp(1.0, 0.0))), line!()),
    ];
    for ((file, line), want) in cases {
        assert!(file.ends_with("elementwise.rs") && line == want, "panic reported at {file}:{line}, want line {want}");
    }
}
