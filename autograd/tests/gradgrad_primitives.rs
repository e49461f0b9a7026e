//! Second-order gradient checks (`GradGradCheck::default()`, PyTorch's `gradgradcheck`) for every
//! public primitive of `Var`, in f64, on random shapes and on transposed, narrowed (sliced) and
//! broadcast (stride-0) inputs, in the style of the first-order sweeps `grad_*.rs`.
//!
//! For `y = f(x_1, .., x_n)` and a random output gradient `v`, the check differentiates the
//! recorded backward `g_i = v^T dy/dx_i` (with `create_graph`) and compares it with central
//! differences of plain first-order backwards: the `x_i` columns test the second derivatives,
//! the `grad_output` column tests that the backward is the right linear function of `v`.
//!
//! Covered: arithmetic (add, sub, mul, div, neg, the scalar forms, the operators, broadcasting),
//! matmul (2-D, batched, broadcast batch axes, transposed operands, a transpose in the graph),
//! every pointwise function (exp, log, sqrt, rsqrt, powf, abs, tanh, sigmoid, relu, erf,
//! gelu_tanh, gelu_erf, maximum, minimum; kinks avoided), every reduction (sum, mean, sum_all,
//! mean_all, max, var), every shape op (reshape, flatten, permute, transpose, mt, narrow, slice,
//! squeeze, unsqueeze, broadcast_to, sum_to_shape), the index ops (index_select, masked_fill,
//! index_add_to_zeros), joining and splitting (concat, stack, split, split_sizes, chunk), the fused
//! ops (softmax, log_softmax, logsumexp, cross_entropy and cross_entropy_smoothed with ignore_index,
//! layer_norm with and without bias, attention and attention_packed without a mask, with a causal
//! mask and with a causal and a broadcast padding mask) and dropout (p = 0, and a fixed seed
//! recreated inside the function so it is deterministic).
//!
//! A fused op's second derivatives come from its composed twin while the finite differences
//! differentiate its fast first-order kernel, so these checks also tie the two together.
//!
//! Linear ops (add, sub, neg, the scalar shifts and scalings, shape ops, sums, index ops, joins)
//! have identically zero second derivatives: their `x` columns are trivially zero on both sides
//! and only the `grad_output` column has content. Each is therefore also checked inside a
//! nonlinear function (`op(x)^2`, `tanh(op(x))`, `op(x) * x`), where the gradient reaching the
//! op depends on the inputs and its backward must carry that dependence through.
//!
//! `Var::attention` returns its weights as a plain tensor (no gradient flows through them), so only
//! its output is checked; the composed attention's weights are a `Var` and are checked too.

use autograd::{GradGradCheck, Var, composed};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Tensor, TensorRng, rng_from_seed};

mod common;
use common::{
    SOFTMAX_FAMILY, Strided, Unary, arb_mask_bits, arb_shape, attention_mask, attention_shapes, away_from_zero, causal,
    cross_entropy_case, distinct, grid, layout, make, operand_shape, problem, same, shape_and_axis, shape_axis_indices,
    uniform,
};

// ---------------------------------------------------------------------------------------------
// Inputs and the check
// ---------------------------------------------------------------------------------------------

/// How a test input is laid out: one of the shared strided layouts, or a broadcast view (stride 0
/// along axis 0 over a storage with a single entry there).
#[derive(Clone, Copy, Debug)]
enum Layout {
    Strided(Strided),
    Broadcast,
}

/// Any of the four layouts.
fn any_layout() -> impl Strategy<Value = Layout> {
    prop_oneof![3 => layout().prop_map(Layout::Strided), 1 => Just(Layout::Broadcast)]
}

/// A tensor of logical shape `shape` in `layout`; `fill` fills the storage.
fn make_in(
    shape: &[usize],
    layout: Layout,
    seed: u64,
    fill: impl Fn(&[usize], &mut TensorRng) -> Tensor<f64>,
) -> Tensor<f64> {
    match layout {
        Layout::Strided(s) => make(shape, s, seed, fill),
        Layout::Broadcast if shape.is_empty() => make(shape, Strided::Contiguous, seed, fill),
        Layout::Broadcast => {
            let mut one = shape.to_vec();
            one[0] = 1;
            make(&one, Strided::Contiguous, seed, fill).broadcast_to(shape)
        }
    }
}

/// Values in [-1, 1) in `layout`.
fn input(shape: &[usize], layout: Layout, seed: u64) -> Tensor<f64> {
    make_in(shape, layout, seed, uniform(-1.0, 1.0, same))
}

/// Runs `GradGradCheck::default()` on `f` at `inputs`, failing the case with `what` and the report.
fn gradgrad(
    what: impl std::fmt::Display,
    inputs: &[Tensor<f64>],
    f: impl Fn(&[Var<f64>]) -> Var<f64>,
) -> Result<(), TestCaseError> {
    match GradGradCheck::default().check(inputs, f) {
        Ok(_) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("{what}: {e}"))),
    }
}

/// `y * y`: makes the gradient reaching `y` depend on the inputs (2 y v).
fn sq(y: Var<f64>) -> Var<f64> {
    y.mul(&y)
}

/// Two shapes that broadcast together: a base shape and a copy with random axes set to 1 and
/// leading axes possibly dropped.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    vec(1usize..4, 1..=3).prop_flat_map(|base| {
        let n = base.len();
        (Just(base), vec(any::<bool>(), n), 0..n).prop_map(|(base, ones, drop)| {
            let other: Vec<usize> =
                base.iter().zip(&ones).map(|(&d, &one)| if one { 1 } else { d }).skip(drop).collect();
            (base, other)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Arithmetic and matmul
// ---------------------------------------------------------------------------------------------

type ScalarOp = fn(&Var<f64>, f64) -> Var<f64>;
type BinaryOp = fn(&Var<f64>, &Var<f64>) -> Var<f64>;

const BINARY: &[(&str, BinaryOp)] = &[
    ("add", |a, b| a.add(b)),
    ("sub", |a, b| a.sub(b)),
    ("mul", |a, b| a.mul(b)),
    ("div", |a, b| a.div(b)),
    ("a * b - a / b (operators on references)", |a, b| &(a * b) - &(a / b)),
    ("owned operators", |a, b| (a.clone() + b.clone()) * (a.clone() - b) / a.clone()),
    ("a * a / b (one input on both sides)", |a, b| a.mul(a).div(b)),
];

const SCALAR: &[(&str, ScalarOp)] = &[
    ("neg", |x, _| x.neg()),
    ("add_scalar", |x, s| x.add_scalar(s)),
    ("sub_scalar", |x, s| x.sub_scalar(s)),
    ("mul_scalar", |x, s| x.mul_scalar(s)),
    ("div_scalar", |x, s| x.div_scalar(s)),
    ("-(x * s + 1) (operators)", |x, s| -(&(x * s) + 1.0)),
    ("(x - s) / s (owned operators)", |x, s| -(x.clone() - s) / s),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn binary_arithmetic_with_broadcasting(
        (a_shape, b_shape) in broadcast_pair(),
        swap in any::<bool>(),
        (la, lb) in (any_layout(), any_layout()),
        seed in 0u64..1000,
    ) {
        let (a_shape, b_shape) = if swap { (b_shape, a_shape) } else { (a_shape, b_shape) };
        // Both operands away from zero: b is a divisor, and `owned operators` divides by a.
        let a = make_in(&a_shape, la, seed, uniform(-1.0, 1.0, away_from_zero));
        let b = make_in(&b_shape, lb, seed + 1, uniform(-1.0, 1.0, |x| if x < 0.0 { x - 0.5 } else { x + 0.5 }));
        for (name, op) in BINARY {
            let what = format!("{name} of {a_shape:?} ({la:?}) and {b_shape:?} ({lb:?})");
            gradgrad(&what, &[a.clone(), b.clone()], |v| op(&v[0], &v[1]))?;
            gradgrad(format!("({what})^2"), &[a.clone(), b.clone()], |v| sq(op(&v[0], &v[1])))?;
        }
    }

    #[test]
    fn unary_and_scalar_arithmetic(
        shape in vec(1usize..4, 0..=3),
        layout in any_layout(),
        s in 0.5f64..3.0,
        seed in 0u64..1000,
    ) {
        let x = input(&shape, layout, seed);
        for (name, op) in SCALAR {
            let what = format!("{name} on {shape:?} ({layout:?})");
            gradgrad(&what, std::slice::from_ref(&x), |v| op(&v[0], s))?;
            gradgrad(format!("tanh({what})"), std::slice::from_ref(&x), |v| op(&v[0], s).tanh())?;
        }
    }

    #[test]
    fn matmul_2d_with_strided_operands(
        (m, k, n) in (1usize..=4, 1usize..=4, 1usize..=4),
        (la, lb) in (any_layout(), any_layout()),
        seed in 0u64..1000,
    ) {
        let a = input(&[m, k], la, seed);
        let b = input(&[k, n], lb, seed + 1);
        let what = format!("({m}, {k}) ({la:?}) @ ({k}, {n}) ({lb:?})");
        gradgrad(&what, &[a.clone(), b.clone()], |v| v[0].matmul(&v[1]))?;
        gradgrad(format!("tanh({what})"), &[a.clone(), b.clone()], |v| v[0].matmul(&v[1]).tanh())?;
        // A transpose inside the graph (a view op before the matmul), and one input on both sides.
        let at = input(&[k, m], la, seed + 2);
        gradgrad(format!("A^T B, {what}"), &[at, b], |v| v[0].mt().matmul(&v[1]))?;
        gradgrad(format!("A A^T, {what}"), &[a], |v| v[0].matmul(&v[0].mt()))?;
    }

    #[test]
    fn matmul_batched_with_broadcast_batch_axes(
        batch in 1usize..=3, m in 1usize..=3, k in 1usize..=3, n in 1usize..=3,
        which in 0usize..3,
        (la, lb) in (any_layout(), any_layout()),
        seed in 0u64..1000,
    ) {
        // (batch, m, k) @ (k, n); (batch, m, k) @ (batch, k, n); (2, 1, m, k) @ (batch, k, n)
        let (a_shape, b_shape) = match which {
            0 => (vec![batch, m, k], vec![k, n]),
            1 => (vec![batch, m, k], vec![batch, k, n]),
            _ => (vec![2, 1, m, k], vec![batch, k, n]),
        };
        let a = input(&a_shape, la, seed);
        let b = input(&b_shape, lb, seed + 1);
        let what = format!("{a_shape:?} ({la:?}) @ {b_shape:?} ({lb:?})");
        gradgrad(&what, &[a.clone(), b.clone()], |v| v[0].matmul(&v[1]))?;
        gradgrad(format!("({what})^2"), &[a, b], |v| sq(v[0].matmul(&v[1])))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Pointwise
// ---------------------------------------------------------------------------------------------

const UNARY: &[Unary] = &[
    Unary { name: "exp", lo: -2.0, hi: 2.0, shift: same, op: |x| x.exp() },
    Unary { name: "log", lo: 0.2, hi: 3.0, shift: same, op: |x| x.log() },
    Unary { name: "sqrt", lo: 0.2, hi: 3.0, shift: same, op: |x| x.sqrt() },
    Unary { name: "rsqrt", lo: 0.2, hi: 3.0, shift: same, op: |x| x.rsqrt() },
    Unary { name: "powf(2.5)", lo: 0.2, hi: 2.0, shift: same, op: |x| x.powf(2.5) },
    Unary { name: "powf(-1.5)", lo: 0.3, hi: 2.0, shift: same, op: |x| x.powf(-1.5) },
    Unary { name: "powf(0.5)", lo: 0.2, hi: 3.0, shift: same, op: |x| x.powf(0.5) },
    Unary { name: "powf(3)", lo: -2.0, hi: 2.0, shift: same, op: |x| x.powf(3.0) },
    Unary { name: "powf(2)", lo: -2.0, hi: 2.0, shift: same, op: |x| x.powf(2.0) },
    Unary { name: "powf(1)", lo: -2.0, hi: 2.0, shift: same, op: |x| x.powf(1.0) },
    Unary { name: "powf(0)", lo: -2.0, hi: 2.0, shift: same, op: |x| x.powf(0.0) },
    Unary { name: "abs", lo: -2.0, hi: 2.0, shift: away_from_zero, op: |x| x.abs() },
    Unary { name: "tanh", lo: -3.0, hi: 3.0, shift: same, op: |x| x.tanh() },
    Unary { name: "sigmoid", lo: -4.0, hi: 4.0, shift: same, op: |x| x.sigmoid() },
    Unary { name: "relu", lo: -2.0, hi: 2.0, shift: away_from_zero, op: |x| x.relu() },
    Unary { name: "erf", lo: -2.5, hi: 2.5, shift: same, op: |x| x.erf() },
    Unary { name: "gelu_tanh", lo: -3.0, hi: 3.0, shift: same, op: |x| x.gelu_tanh() },
    Unary { name: "gelu_erf", lo: -3.0, hi: 3.0, shift: same, op: |x| x.gelu_erf() },
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn unary_pointwise(shape in vec(1usize..4, 0..=3), layout in any_layout(), seed in any::<u64>()) {
        for case in UNARY {
            let x = make_in(&shape, layout, seed, uniform(case.lo, case.hi, case.shift));
            let what = format!("{} on {shape:?} ({layout:?})", case.name);
            gradgrad(&what, std::slice::from_ref(&x), |v| (case.op)(&v[0]))?;
            // The gradient reaching the op depends on x, and x also enters directly.
            gradgrad(format!("{what}, times x"), std::slice::from_ref(&x), |v| (case.op)(&v[0]).mul(&v[0]))?;
        }
    }

    #[test]
    fn maximum_and_minimum_under_broadcasting(
        out in arb_shape(3),
        (drop_a, drop_b) in (0usize..=3, 0usize..=3),
        (ones_a, ones_b) in (vec(any::<bool>(), 3), vec(any::<bool>(), 3)),
        (la, lb) in (any_layout(), any_layout()),
        seed in any::<u64>(),
    ) {
        let (sa, sb) = (operand_shape(&out, drop_a, &ones_a), operand_shape(&out, drop_b, &ones_b));
        let a = make_in(&sa, la, seed, grid(0.0));
        let b = make_in(&sb, lb, seed ^ 1, grid(0.25));
        for (name, op) in [("maximum", Var::maximum as BinaryOp), ("minimum", Var::minimum)] {
            let what = format!("{name} of {sa:?} ({la:?}) and {sb:?} ({lb:?})");
            gradgrad(&what, &[a.clone(), b.clone()], |v| op(&v[0], &v[1]))?;
            gradgrad(format!("({what})^2"), &[a.clone(), b.clone()], |v| sq(op(&v[0], &v[1])))?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

/// A reduction over axes, with keepdim.
type ReduceOp = fn(&Var<f64>, &[isize], bool) -> Var<f64>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn reductions(p in problem(any_layout())) {
        let x = make_in(&p.shape, p.layout, p.seed, uniform(-2.0, 2.0, same));
        let (axes, keepdim) = (&p.axes, p.keepdim);
        let linear: [(&str, ReduceOp); 4] = [
            ("sum", |x, a, k| x.sum(a, k)),
            ("mean", |x, a, k| x.mean(a, k)),
            ("sum_all", |x, _, _| x.sum_all()),
            ("mean_all", |x, _, _| x.mean_all()),
        ];
        for (name, op) in linear {
            gradgrad(format!("{name} on {p:?}"), std::slice::from_ref(&x), |v| op(&v[0], axes, keepdim))?;
            gradgrad(format!("{name}^2 on {p:?}"), std::slice::from_ref(&x), |v| sq(op(&v[0], axes, keepdim)))?;
        }
        gradgrad(format!("var (biased) on {p:?}"), std::slice::from_ref(&x), |v| v[0].var(axes, keepdim, false))?;
        gradgrad(format!("var (biased)^2 on {p:?}"), std::slice::from_ref(&x), |v| sq(v[0].var(axes, keepdim, false)))?;
        // With one element per group the unbiased variance is NaN (0 / 0).
        if p.group_size() > 1 {
            gradgrad(format!("var (unbiased) on {p:?}"), std::slice::from_ref(&x), |v| v[0].var(axes, keepdim, true))?;
        }
    }

    #[test]
    fn max_with_distinct_values(p in problem(any_layout())) {
        // A broadcast input repeats values (ties): max is checked on the strided layouts only.
        let layout = match p.layout { Layout::Broadcast => Layout::Strided(Strided::Transposed), l => l };
        let x = make_in(&p.shape, layout, p.seed, distinct);
        gradgrad(format!("max on {p:?}"), std::slice::from_ref(&x), |v| v[0].max(&p.axes, p.keepdim))?;
        gradgrad(format!("max^2 on {p:?}"), std::slice::from_ref(&x), |v| sq(v[0].max(&p.axes, p.keepdim)))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Shape ops
// ---------------------------------------------------------------------------------------------

/// A random input: (tensor, its layout for the failure message).
fn arb_input(max_ndim: usize) -> impl Strategy<Value = (Tensor<f64>, Layout)> {
    (arb_shape(max_ndim), any_layout(), any::<u64>()).prop_map(|(s, l, seed)| (input(&s, l, seed), l))
}

/// Checks a linear unary op `f` at `x`, on its own and squared.
fn check_view(what: &str, x: &Tensor<f64>, f: impl Fn(&Var<f64>) -> Var<f64>) -> Result<(), TestCaseError> {
    gradgrad(what, std::slice::from_ref(x), |v| f(&v[0]))?;
    gradgrad(format!("({what})^2"), std::slice::from_ref(x), |v| sq(f(&v[0])))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn reshape_flatten_permute_transpose_mt(
        ((x, l), perm, (a, b)) in arb_input(4).prop_flat_map(|(x, l)| {
            let n = x.ndim() as isize;
            (Just((x, l)), Just((0..n).collect::<Vec<_>>()).prop_shuffle(), (-n..n, -n..n))
        })
    ) {
        let shape = x.shape().to_vec();
        let reversed: Vec<usize> = shape.iter().rev().copied().collect();
        check_view(&format!("reshape {shape:?} -> {reversed:?} ({l:?})"), &x, |v| v.reshape(&reversed))?;
        check_view(&format!("flatten {shape:?} ({l:?})"), &x, |v| v.flatten())?;
        check_view(&format!("permute {shape:?} by {perm:?} ({l:?})"), &x, |v| v.permute(&perm))?;
        check_view(&format!("transpose {shape:?} ({a}, {b}) ({l:?})"), &x, |v| v.transpose(a, b))?;
        if x.ndim() >= 2 {
            check_view(&format!("mt {shape:?} ({l:?})"), &x, |v| v.mt())?;
        }
    }

    #[test]
    fn narrow_and_slice(
        ((x, l), axis, start, len) in arb_input(3).prop_flat_map(|(x, l)| {
            let n = x.ndim();
            (Just((x, l)), 0..n).prop_flat_map(|(x, axis)| {
                let size = x.0.shape()[axis];
                (Just(x), Just(axis), 0..size)
            }).prop_flat_map(|(x, axis, start)| {
                let size = x.0.shape()[axis];
                (Just(x), Just(axis), Just(start), 1..=size - start)
            })
        })
    ) {
        let shape = x.shape().to_vec();
        let what = format!("narrow {shape:?} ({l:?}) axis {axis} from {start} len {len}");
        check_view(&what, &x, |v| v.narrow(axis as isize, start, len))?;
        let negative = axis as isize - shape.len() as isize;
        check_view(&format!("slice, {what}"), &x, |v| v.slice(negative, start, start + len))?;
    }

    #[test]
    fn squeeze_and_unsqueeze(
        (x, at, l) in (arb_shape(3), any_layout(), any::<u64>()).prop_flat_map(|(s, l, seed)| {
            let n = s.len();
            (Just(s), 0..=n, Just(l), Just(seed))
        }).prop_map(|(mut s, at, l, seed)| {
            s.insert(at, 1); // the input has a size-1 axis at `at` to squeeze
            (input(&s, l, seed), at, l)
        })
    ) {
        let shape = x.shape().to_vec();
        check_view(&format!("squeeze {shape:?} ({l:?}) at {at}"), &x, |v| v.squeeze(at as isize))?;
        let nd = shape.len() as isize;
        check_view(&format!("squeeze {shape:?} ({l:?}) at {at} - ndim"), &x, |v| v.squeeze(at as isize - nd))?;
        for pos in 0..=nd {
            check_view(&format!("unsqueeze {shape:?} ({l:?}) at {pos}"), &x, |v| v.unsqueeze(pos))?;
            check_view(&format!("unsqueeze {shape:?} ({l:?}) at {pos} - ndim - 1"), &x, |v| v.unsqueeze(pos - nd - 1))?;
        }
    }

    #[test]
    fn broadcast_to_and_sum_to_shape(
        (big, small) in broadcast_pair(),
        (lb, ls) in (any_layout(), any_layout()),
        seed in any::<u64>(),
    ) {
        let x_small = input(&small, ls, seed);
        let x_big = input(&big, lb, seed ^ 7);
        check_view(&format!("broadcast_to {small:?} ({ls:?}) -> {big:?}"), &x_small, |v| v.broadcast_to(&big))?;
        check_view(&format!("sum_to_shape {big:?} ({lb:?}) -> {small:?}"), &x_big, |v| v.sum_to_shape(&small))?;
        // The two inverses chained: a broadcast sum, whose backward broadcasts a sum.
        let what = format!("sum_to_shape(broadcast_to) {small:?} -> {big:?}");
        check_view(&what, &x_small, |v| v.broadcast_to(&big).sum_to_shape(&small))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Index ops
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn index_select_and_index_add_to_zeros(
        (shape, axis, indices) in shape_axis_indices(6),
        layout in any_layout(),
        seed in any::<u64>(),
    ) {
        let x = input(&shape, layout, seed);
        let what = format!("index_select {shape:?} ({layout:?}) axis {axis} at {indices:?}");
        check_view(&what, &x, |v| v.index_select(axis as isize, &indices))?;
        let negative = axis as isize - shape.len() as isize;
        check_view(&format!("{what}, negative axis"), &x, |v| v.index_select(negative, &indices))?;
        // The scatter-add: slices of a (.., indices.len(), ..) source added into zeros of `shape`.
        let mut source_shape = shape.clone();
        source_shape[axis] = indices.len();
        let source = input(&source_shape, layout, seed ^ 3);
        let what =
            format!("index_add_to_zeros {source_shape:?} ({layout:?}) into {shape:?} axis {axis} at {indices:?}");
        check_view(&what, &source, |v| v.index_add_to_zeros(&shape, axis as isize, &indices))?;
        // The two are each other's backward.
        let axis = axis as isize;
        check_view(&format!("index_select of {what}"), &source, |v| {
            v.index_add_to_zeros(&shape, axis, &indices).index_select(axis, &indices)
        })?;
    }

    #[test]
    fn masked_fill_with_random_and_broadcast_masks(
        (shape, bits) in arb_shape(4).prop_flat_map(|s| {
            let numel = s.iter().product();
            (Just(s), arb_mask_bits(numel))
        }),
        (b, h, t) in (1usize..=2, 1usize..=2, 1usize..=3),
        layout in any_layout(),
        seed in any::<u64>(),
    ) {
        let x = input(&shape, layout, seed);
        let mask = Tensor::from_vec(bits, &shape);
        check_view(&format!("masked_fill {shape:?} ({layout:?})"), &x, |v| v.masked_fill(&mask, -2.5))?;
        // A (T, T) mask over (B, H, T, T) scores, and its transpose (a strided mask).
        let scores = input(&[b, h, t, t], layout, seed ^ 5);
        let causal = causal(t, t);
        for m in [causal.clone(), causal.mt()] {
            let what = format!("masked_fill ({b}, {h}, {t}, {t}) ({layout:?}) by a causal mask");
            check_view(&what, &scores, |v| v.masked_fill(&m, 0.75))?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Joining and splitting
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn concat_and_stack(
        (base, axis, sizes, layouts, new_axis) in arb_shape(3).prop_flat_map(|s| {
            let n = s.len();
            (Just(s), 0..n, vec(0usize..=3, 1..=3), vec(any_layout(), 3), 0..=n)
        }),
        seed in any::<u64>(),
    ) {
        prop_assume!(sizes.iter().sum::<usize>() > 0);
        let pieces: Vec<Tensor<f64>> = sizes.iter().zip(&layouts).enumerate().map(|(k, (&len, &l))| {
            let mut s = base.clone();
            s[axis] = len;
            // A zero-size piece can't be narrowed out of a wider one on every axis: keep it simple.
            if len == 0 { Tensor::zeros(&s) } else { input(&s, l, seed.wrapping_add(k as u64)) }
        }).collect();
        let what = format!("concat of {base:?} pieces {sizes:?} along {axis} ({layouts:?})");
        gradgrad(&what, &pieces, |v| Var::concat(&v.iter().collect::<Vec<_>>(), axis as isize))?;
        // Each piece weighted differently (a gradient sent to the wrong piece shows), then squared.
        gradgrad(format!("({what})^2"), &pieces, |v| {
            let scaled: Vec<Var<f64>> = v.iter().enumerate().map(|(k, p)| p.mul_scalar(k as f64 + 1.0)).collect();
            sq(Var::concat(&scaled.iter().collect::<Vec<_>>(), axis as isize - base.len() as isize))
        })?;

        let same: Vec<Tensor<f64>> =
            layouts.iter().enumerate().map(|(k, &l)| input(&base, l, seed.wrapping_add(10 + k as u64))).collect();
        let what = format!("stack of 3 x {base:?} at {new_axis} ({layouts:?})");
        gradgrad(&what, &same, |v| Var::stack(&v.iter().collect::<Vec<_>>(), new_axis as isize))?;
        gradgrad(format!("({what})^2"), &same, |v| {
            let scaled: Vec<Var<f64>> = v.iter().enumerate().map(|(k, p)| p.mul_scalar(k as f64 + 1.0)).collect();
            sq(Var::stack(&scaled.iter().collect::<Vec<_>>(), new_axis as isize))
        })?;
    }

    #[test]
    fn split_split_sizes_and_chunk(
        ((x, l), axis, size, chunks) in arb_input(3).prop_flat_map(|(x, l)| {
            let n = x.ndim();
            (Just((x, l)), 0..n, 1usize..=4, 1usize..=4)
        })
    ) {
        let axis = axis as isize;
        let shape = x.shape().to_vec();
        // Each piece goes through a different function, so a gradient sent to the wrong place shows.
        let recombine = |pieces: Vec<Var<f64>>| {
            let mapped: Vec<Var<f64>> =
                pieces.iter().enumerate().map(|(k, p)| p.mul_scalar(k as f64 + 1.0).tanh()).collect();
            Var::concat(&mapped.iter().collect::<Vec<_>>(), axis)
        };
        let what = format!("{shape:?} ({l:?}) along {axis}");
        check_view(&format!("split by {size}, {what}"), &x, |v| recombine(v.split(size, axis)))?;
        check_view(&format!("chunk into {chunks}, {what}"), &x, |v| recombine(v.chunk(chunks, axis)))?;
        // Sizes: one piece of `n - 1` and one of 1 (or the whole axis when it has one entry).
        let n = shape[axis as usize];
        let sizes = if n > 1 { vec![n - 1, 1] } else { vec![1] };
        check_view(&format!("split_sizes {sizes:?}, {what}"), &x, |v| recombine(v.split_sizes(&sizes, axis)))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Fused ops: softmax family, cross-entropy, layer norm, attention; and dropout
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn softmax_log_softmax_logsumexp((shape, axis) in shape_and_axis(3), layout in any_layout(), seed in any::<u64>()) {
        let x = make_in(&shape, layout, seed, uniform(-3.0, 3.0, same));
        for (name, op, _) in SOFTMAX_FAMILY {
            let what = format!("{name} on {shape:?} ({layout:?}) along {axis}");
            gradgrad(&what, std::slice::from_ref(&x), |v| op(&v[0], axis))?;
            // A gradient into the fused op that depends on x: the twin's backward must use it.
            gradgrad(format!("tanh({what})"), std::slice::from_ref(&x), |v| op(&v[0], axis).tanh())?;
        }
    }

    #[test]
    fn cross_entropy_plain_and_smoothed(
        case in cross_entropy_case(4),
        eps in 0.0f64..=1.0,
        layout in any_layout(),
        seed in any::<u64>(),
    ) {
        let (shape, ignore, t) = (case.shape(), case.ignore(), case.targets(seed));
        let logits = make_in(&shape, layout, seed, uniform(-3.0, 3.0, same));
        let what = format!("logits {shape:?} ({layout:?}), targets {t:?}, ignore {ignore:?}");
        let x = std::slice::from_ref(&logits);
        gradgrad(format!("cross_entropy, {what}"), x, |v| v[0].cross_entropy(&t, ignore))?;
        gradgrad(format!("cross_entropy^2, {what}"), x, |v| sq(v[0].cross_entropy(&t, ignore)))?;
        let smoothed = |v: &[Var<f64>]| v[0].cross_entropy_smoothed(&t, ignore, eps);
        gradgrad(format!("cross_entropy_smoothed({eps}), {what}"), x, smoothed)?;
        gradgrad(format!("cross_entropy_smoothed({eps})^2, {what}"), x, |v| sq(smoothed(v)))?;
    }

    #[test]
    fn layer_norm_with_and_without_bias(
        lead in vec(1usize..=3, 0..=2),
        d in 1usize..=5,
        bias in any::<bool>(),
        layout in any_layout(),
        seed in any::<u64>(),
    ) {
        let mut shape = lead.clone();
        shape.push(d);
        let x = make_in(&shape, layout, seed, uniform(-2.0, 2.0, same));
        let w = Tensor::rand_uniform(&[d], 0.5, 1.5, seed ^ 1);
        let mut inputs = vec![x, w];
        if bias {
            inputs.push(Tensor::rand_uniform(&[d], -0.5, 0.5, seed ^ 2));
        }
        let what = format!("layer_norm of {shape:?} ({layout:?}), bias {bias}");
        gradgrad(&what, &inputs, |v| v[0].layer_norm(&v[1], v.get(2), 1e-5))?;
        gradgrad(format!("tanh({what})"), &inputs, |v| v[0].layer_norm(&v[1], v.get(2), 1e-5).tanh())?;
    }

    /// Any leading axes (none included), Tq <= Tk, d != dv, each mask kind, on strided q, k, v.
    /// The composed weights also take `masked_fill` with -inf into a softmax.
    #[test]
    fn attention_with_and_without_a_mask(a in attention_shapes(3), layouts in vec(layout(), 3), seed in any::<u64>()) {
        let fill = uniform(-1.5, 1.5, same);
        let q = make(&a.q(), layouts[0], seed, &fill);
        let k = make(&a.k(), layouts[1], seed ^ 1, &fill);
        let v = make(&a.v(), layouts[2], seed ^ 2, &fill);
        let mask = a.mask();
        let inputs = [q, k, v];
        let (s_q, s_k, s_v) = (a.q(), a.k(), a.v());
        let what = format!("attention of q {s_q:?}, k {s_k:?}, v {s_v:?} ({layouts:?}), mask {}", a.mask_kind);
        gradgrad(&what, &inputs, |x| x[0].attention(&x[1], &x[2], mask.as_ref()).0)?;
        gradgrad(format!("tanh({what})"), &inputs, |x| x[0].attention(&x[1], &x[2], mask.as_ref()).0.tanh())?;
        // The fused op's weights are a plain tensor; the composed twin's weights are a Var.
        let weights = |x: &[Var<f64>]| composed::attention(&x[0], &x[1], &x[2], mask.as_ref()).1;
        gradgrad(format!("composed weights, {what}"), &inputs, weights)?;
    }

    #[test]
    fn attention_packed_with_and_without_a_mask(
        (b, t, h, dh) in (1usize..=2, 1usize..=3, 1usize..=2, 1usize..=2),
        mask_kind in 0u8..3,
        layout in any_layout(),
        seed in any::<u64>(),
    ) {
        let d = h * dh;
        let x = make_in(&[b, t, 3 * d], layout, seed, uniform(-1.5, 1.5, same));
        let mask = attention_mask(mask_kind, &[b, 1], t, t);
        let what = format!("attention_packed of ({b}, {t}, {}) ({layout:?}), {h} heads, mask {mask_kind}", 3 * d);
        let x = std::slice::from_ref(&x);
        gradgrad(&what, x, |v| v[0].attention_packed(h, mask.as_ref()).0)?;
        gradgrad(format!("({what})^2"), x, |v| sq(v[0].attention_packed(h, mask.as_ref()).0))?;
    }

    #[test]
    fn dropout_with_p_zero_and_with_a_fixed_seed(
        shape in arb_shape(3),
        layout in any_layout(),
        mask_seed in 0u64..1000,
        seed in any::<u64>(),
    ) {
        let x = input(&shape, layout, seed);
        let x = std::slice::from_ref(&x);
        let what = format!("dropout on {shape:?} ({layout:?})");
        // The generator is recreated on every call, so every evaluation draws the same mask.
        let dropout = |v: &Var<f64>, p: f64| v.dropout(p, &mut rng_from_seed(mask_seed));
        // p = 0 returns the input itself.
        gradgrad(format!("{what}, p = 0"), x, |v| dropout(&v[0], 0.0))?;
        gradgrad(format!("{what}, p = 0, times x"), x, |v| dropout(&v[0], 0.0).mul(&v[0]))?;
        gradgrad(format!("{what}, p = 0.4, seed {mask_seed}"), x, |v| dropout(&v[0], 0.4))?;
        gradgrad(format!("{what}, p = 0.4, seed {mask_seed}, squared"), x, |v| sq(dropout(&v[0], 0.4)))?;
    }
}
