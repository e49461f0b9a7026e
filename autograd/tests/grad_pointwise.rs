//! Gradient checks for the elementwise ops (exp, log, sqrt, rsqrt, powf, abs, tanh, sigmoid,
//! relu, gelu_tanh, gelu_erf, erf, maximum, minimum), in f64 with `GradCheck::default()` tolerances,
//! on random shapes and layouts (contiguous, transposed, narrowed) and, for maximum/minimum,
//! broadcast shapes. Plus values against the tensor kernels, hand-computed gradients (kinks and
//! ties included), and finite gradients of the saturating functions at ±1e4.

use autograd::{GradCheck, Var};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Float, Tensor};

mod common;
use common::{Strided, Unary, away_from_zero, grid, layout, make, operand_shape, same, uniform};

fn shape() -> impl Strategy<Value = Vec<usize>> {
    vec(1usize..4, 1..=3)
}

/// The tensor kernel a unary op's values must equal.
type Kernel = fn(&Tensor<f64>) -> Tensor<f64>;

/// Each unary op under test with its tensor kernel.
const UNARY: &[(Unary, Kernel)] = &[
    (Unary { name: "exp", lo: -2.0, hi: 2.0, shift: same, op: |x| x.exp() }, |t| t.exp()),
    (Unary { name: "log", lo: 0.2, hi: 3.0, shift: same, op: |x| x.log() }, |t| t.log()),
    (Unary { name: "sqrt", lo: 0.2, hi: 3.0, shift: same, op: |x| x.sqrt() }, |t| t.sqrt()),
    (Unary { name: "rsqrt", lo: 0.2, hi: 3.0, shift: same, op: |x| x.rsqrt() }, |t| t.rsqrt()),
    (Unary { name: "powf(2.5)", lo: 0.2, hi: 2.0, shift: same, op: |x| x.powf(2.5) }, |t| t.powf(2.5)),
    (Unary { name: "powf(-1.5)", lo: 0.3, hi: 2.0, shift: same, op: |x| x.powf(-1.5) }, |t| t.powf(-1.5)),
    (Unary { name: "powf(3)", lo: -2.0, hi: 2.0, shift: same, op: |x| x.powf(3.0) }, |t| t.powf(3.0)),
    (Unary { name: "powf(0)", lo: -2.0, hi: 2.0, shift: same, op: |x| x.powf(0.0) }, |t| t.powf(0.0)),
    (Unary { name: "abs", lo: -2.0, hi: 2.0, shift: away_from_zero, op: |x| x.abs() }, |t| t.abs()),
    (Unary { name: "tanh", lo: -3.0, hi: 3.0, shift: same, op: |x| x.tanh() }, |t| t.tanh()),
    (Unary { name: "sigmoid", lo: -4.0, hi: 4.0, shift: same, op: |x| x.sigmoid() }, |t| t.sigmoid()),
    (Unary { name: "relu", lo: -2.0, hi: 2.0, shift: away_from_zero, op: |x| x.relu() }, |t| t.relu()),
    (Unary { name: "gelu_tanh", lo: -3.0, hi: 3.0, shift: same, op: |x| x.gelu_tanh() }, |t| t.gelu_tanh()),
    (Unary { name: "gelu_erf", lo: -3.0, hi: 3.0, shift: same, op: |x| x.gelu_erf() }, |t| t.gelu_erf()),
    (Unary { name: "erf", lo: -3.0, hi: 3.0, shift: same, op: |x| x.erf() }, |t| t.map(<f64 as tensor::Float>::erf)),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn unary_gradients_match_finite_differences(shape in shape(), layout in layout(), seed in any::<u64>()) {
        for (case, _) in UNARY {
            let x = make(&shape, layout, seed, uniform(case.lo, case.hi, case.shift));
            let result = GradCheck::default().check(&[x], |v| (case.op)(&v[0]));
            prop_assert!(result.is_ok(), "{} on {:?} ({:?}): {}", case.name, shape, layout, result.unwrap_err());
        }
    }

    #[test]
    fn unary_values_match_the_tensor_kernels(shape in shape(), layout in layout(), seed in any::<u64>()) {
        for (case, kernel) in UNARY {
            let x = make(&shape, layout, seed, uniform(case.lo, case.hi, case.shift));
            let y = (case.op)(&Var::parameter(x.clone()));
            prop_assert_eq!(y.shape(), shape.clone(), "{}", case.name);
            prop_assert_eq!(y.value().to_vec(), kernel(&x).to_vec(), "{}", case.name);
        }
    }

    #[test]
    fn maximum_and_minimum_gradients_under_broadcasting(
        out in shape(),
        (drop_a, drop_b) in (0usize..=3, 0usize..=3),
        (ones_a, ones_b) in (vec(any::<bool>(), 3), vec(any::<bool>(), 3)),
        layout in layout(),
        seed in any::<u64>(),
    ) {
        let (sa, sb) = (operand_shape(&out, drop_a, &ones_a), operand_shape(&out, drop_b, &ones_b));
        let a = make(&sa, layout, seed, grid(0.0));
        let b = make(&sb, Strided::Contiguous, seed ^ 1, grid(0.25));
        for (name, op) in [("maximum", Var::maximum as fn(&Var<f64>, &Var<f64>) -> Var<f64>), ("minimum", Var::minimum)] {
            let result = GradCheck::default().check(&[a.clone(), b.clone()], |v| op(&v[0], &v[1]));
            prop_assert!(result.is_ok(), "{} of {:?} and {:?}: {}", name, sa, sb, result.unwrap_err());
        }
        let (va, vb) = (Var::parameter(a.clone()), Var::parameter(b.clone()));
        prop_assert_eq!(va.maximum(&vb).value().to_vec(), a.maximum(&b).to_vec());
        prop_assert_eq!(va.minimum(&vb).value().to_vec(), a.minimum(&b).to_vec());
    }
}

fn t(data: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), &[data.len()])
}

/// The gradient of `sum(op(x))` with respect to `x`.
fn grad_of_sum(x: &[f64], op: impl Fn(&Var<f64>) -> Var<f64>) -> Vec<f64> {
    let x = Var::parameter(t(x));
    op(&x).sum_all().backward().get(&x).unwrap().to_vec()
}

#[test]
fn derivative_of_sum_of_squares_is_two_x() {
    assert_eq!(grad_of_sum(&[-3.0, -0.5, 0.0, 2.0], |x| x.powf(2.0)), vec![-6.0, -1.0, 0.0, 4.0]);
}

#[test]
fn hand_computed_gradients() {
    assert_eq!(grad_of_sum(&[0.0, 1.0], |x| x.exp()), vec![1.0, 1.0f64.exp()]);
    assert_eq!(grad_of_sum(&[1.0, 2.0, 4.0], |x| x.log()), vec![1.0, 0.5, 0.25]);
    assert_eq!(grad_of_sum(&[4.0, 16.0], |x| x.sqrt()), vec![0.25, 0.125]); // 1 / (2 sqrt x)
    assert_eq!(grad_of_sum(&[4.0], |x| x.rsqrt()), vec![-1.0 / 16.0]); // -x^(-3/2) / 2
    assert_eq!(grad_of_sum(&[2.0], |x| x.powf(3.0)), vec![12.0]); // 3 x^2
    assert_eq!(grad_of_sum(&[0.0], |x| x.tanh()), vec![1.0]);
    assert_eq!(grad_of_sum(&[0.0], |x| x.sigmoid()), vec![0.25]);
    // Both GELUs have slope 1/2 at 0 (x Phi(x) with Phi(0) = 1/2).
    assert_eq!(grad_of_sum(&[0.0], |x| x.gelu_tanh()), vec![0.5]);
    assert_eq!(grad_of_sum(&[0.0], |x| x.gelu_erf()), vec![0.5]);
}

#[test]
fn gelu_gradients_match_their_closed_forms_away_from_zero() {
    // gelu_erf'(x) = Phi(x) + x phi(x); at x = 1: 0.8413447460685429 + 0.24197072451914337.
    let g = grad_of_sum(&[1.0], |x| x.gelu_erf())[0];
    assert!((g - 1.0833154705876864).abs() < 1e-14, "gelu_erf'(1) = {g}");
    // gelu_tanh'(1), from the formula in the doc comment evaluated independently here.
    let (c, k) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044715);
    let th = (c * (1.0 + k)).tanh();
    let expected = 0.5 * (1.0 + th) + 0.5 * (1.0 - th * th) * c * (1.0 + 3.0 * k);
    let g = grad_of_sum(&[1.0], |x| x.gelu_tanh())[0];
    assert!((g - expected).abs() < 1e-14, "gelu_tanh'(1) = {g}, expected {expected}");
}

#[test]
fn kinks_take_pytorchs_values() {
    // abs: sign(x), 0 at 0. relu: 0 at 0.
    assert_eq!(grad_of_sum(&[-2.0, 0.0, 3.0], |x| x.abs()), vec![-1.0, 0.0, 1.0]);
    assert_eq!(grad_of_sum(&[-1.0, 0.0, 2.0], |x| x.relu()), vec![0.0, 0.0, 1.0]);
    // x^0 is constant: gradient 0 everywhere, not 0 * 0^-1 = NaN at 0.
    assert_eq!(grad_of_sum(&[0.0, 2.0], |x| x.powf(0.0)), vec![0.0, 0.0]);
}

#[test]
fn maximum_and_minimum_split_ties_half_and_half() {
    let a = Var::parameter(t(&[1.0, 2.0, 3.0]));
    let b = Var::parameter(t(&[2.0, 2.0, 2.0]));
    let g = a.maximum(&b).sum_all().backward();
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![0.0, 0.5, 1.0]);
    assert_eq!(g.get(&b).unwrap().to_vec(), vec![1.0, 0.5, 0.0]);
    let g = a.minimum(&b).sum_all().backward();
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![1.0, 0.5, 0.0]);
    assert_eq!(g.get(&b).unwrap().to_vec(), vec![0.0, 0.5, 1.0]);
}

#[test]
fn maximum_sums_the_gradient_of_a_broadcast_operand() {
    // (2, 1) against (3): the column is compared with each of the three row values.
    let col = Var::parameter(Tensor::from_vec(vec![0.0, 5.0], &[2, 1]));
    let row = Var::parameter(t(&[-1.0, 0.0, 4.0]));
    let g = col.maximum(&row).sum_all().backward();
    // Row 0: 0 beats -1, ties 0, loses to 4 -> 1 + 0.5 + 0. Row 1: 5 beats all three -> 3.
    assert_eq!(g.get(&col).unwrap().to_vec(), vec![1.5, 3.0]);
    // -1 loses twice; 0 ties once and loses once; 4 wins once and loses once.
    assert_eq!(g.get(&row).unwrap().to_vec(), vec![0.0, 0.5, 1.0]);
}

#[test]
fn maximum_with_nan_passes_the_gradient_to_both_inputs() {
    let a = Var::parameter(t(&[f64::NAN]));
    let b = Var::parameter(t(&[1.0]));
    let y = a.maximum(&b);
    assert!(y.item().is_nan());
    let g = y.sum_all().backward();
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![1.0]);
    assert_eq!(g.get(&b).unwrap().to_vec(), vec![1.0]);
}

/// sigmoid, tanh and both GELUs saturate: at ±1e4 their gradients are exactly 0 (or 1 for GELU's
/// linear side), never NaN from inf * 0 or inf / inf.
type UnaryOp<T> = fn(&Var<T>) -> Var<T>;

fn saturating_gradients_are_finite<T: Float>() {
    let x = Var::parameter(Tensor::<T>::from_vec(vec![T::from_f64(-1e4), T::ZERO, T::from_f64(1e4)], &[3]));
    let cases: [(&str, UnaryOp<T>, [f64; 3]); 4] = [
        ("sigmoid", |x| x.sigmoid(), [0.0, 0.25, 0.0]),
        ("tanh", |x| x.tanh(), [0.0, 1.0, 0.0]),
        ("gelu_tanh", |x| x.gelu_tanh(), [0.0, 0.5, 1.0]),
        ("gelu_erf", |x| x.gelu_erf(), [0.0, 0.5, 1.0]),
    ];
    for (name, op, expected) in cases {
        let g = op(&x).sum_all().backward().get(&x).unwrap().to_vec();
        let g: Vec<f64> = g.into_iter().map(T::to_f64).collect();
        assert_eq!(g, expected, "{name} in {}", T::NAME);
    }
}

#[test]
fn saturating_gradients_are_finite_f32() {
    saturating_gradients_are_finite::<f32>();
}

#[test]
fn saturating_gradients_are_finite_f64() {
    saturating_gradients_are_finite::<f64>();
}

#[test]
fn gelu_tanh_gradient_is_finite_where_x_cubed_overflows() {
    // In f32, x^3 overflows above about 7e12 and x^2 above 1.8e19: the slope must still be 1 and 0.
    let x = Var::parameter(Tensor::<f32>::from_vec(vec![-1e20, 1e20], &[2]));
    let g = x.gelu_tanh().sum_all().backward().get(&x).unwrap().to_vec();
    assert_eq!(g, vec![0.0, 1.0]);
}

#[test]
fn ops_without_a_gradient_record_nothing() {
    let x = Var::constant(t(&[1.0, 2.0]));
    assert!(x.exp().is_leaf());
    assert!(x.maximum(&x).is_leaf());
}
