//! Gradient checks for the reductions (sum, mean, max, var, sum_all, mean_all), in f64 with
//! `GradCheck::default()` tolerances, on random shapes, layouts (contiguous, transposed, narrowed)
//! and axis subsets (negative axes, any order, keepdim both ways). Plus values against the tensor
//! kernels and hand-computed gradients, ties of max and the degenerate variance included.

use autograd::{GradCheck, Var};
use proptest::prelude::*;
use tensor::Tensor;

mod common;
use common::{Problem, Strided, distinct, layout, make, problem, same, uniform};

/// Runs the gradient check, naming `what` and the problem on failure.
fn check(
    what: &str,
    p: &Problem<Strided>,
    x: Tensor<f64>,
    f: impl Fn(&Var<f64>) -> Var<f64>,
) -> Result<(), TestCaseError> {
    let result = GradCheck::default().check(&[x], |v| f(&v[0]));
    prop_assert!(result.is_ok(), "{} on {:?}: {}", what, p, result.unwrap_err());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn sum_and_mean_gradients(p in problem(layout())) {
        let x = make(&p.shape, p.layout, p.seed, uniform(-2.0, 2.0, same));
        check("sum", &p, x.clone(), |v| v.sum(&p.axes, p.keepdim))?;
        check("mean", &p, x.clone(), |v| v.mean(&p.axes, p.keepdim))?;
        check("sum_all", &p, x.clone(), |v| v.sum_all())?;
        check("mean_all", &p, x, |v| v.mean_all())?;
    }

    #[test]
    fn max_gradient_with_distinct_values(p in problem(layout())) {
        let x = make(&p.shape, p.layout, p.seed, distinct);
        check("max", &p, x, |v| v.max(&p.axes, p.keepdim))?;
    }

    #[test]
    fn var_gradients(p in problem(layout())) {
        let x = make(&p.shape, p.layout, p.seed, uniform(-2.0, 2.0, same));
        check("var (biased)", &p, x.clone(), |v| v.var(&p.axes, p.keepdim, false))?;
        // With one element per group the unbiased variance is NaN (0 / 0), and a NaN compares
        // as within tolerance; that case has its own test below.
        if p.group_size() > 1 {
            check("var (unbiased)", &p, x, |v| v.var(&p.axes, p.keepdim, true))?;
        }
    }

    #[test]
    fn values_match_the_tensor_kernels(p in problem(layout())) {
        let x = make(&p.shape, p.layout, p.seed, distinct);
        let v = Var::parameter(x.clone());
        let pairs = [
            ("sum", v.sum(&p.axes, p.keepdim), x.sum(&p.axes, p.keepdim)),
            ("mean", v.mean(&p.axes, p.keepdim), x.mean(&p.axes, p.keepdim)),
            ("max", v.max(&p.axes, p.keepdim), x.max(&p.axes, p.keepdim)),
            ("var", v.var(&p.axes, p.keepdim, false), x.var(&p.axes, p.keepdim, false)),
            ("sum_all", v.sum_all(), x.sum_all()),
            ("mean_all", v.mean_all(), x.mean_all()),
        ];
        for (name, got, want) in pairs {
            prop_assert_eq!(got.shape(), want.shape().to_vec(), "{}", name);
            prop_assert_eq!(got.value().to_vec(), want.to_vec(), "{}", name);
        }
    }

    #[test]
    fn gradient_has_the_input_shape(p in problem(layout())) {
        let x = Var::parameter(make(&p.shape, p.layout, p.seed, uniform(-2.0, 2.0, same)));
        let g = x.sum(&p.axes, p.keepdim).sum_all().backward();
        let g = g.get(&x).unwrap();
        prop_assert_eq!(g.shape(), p.shape.as_slice());
        prop_assert!(g.to_vec().iter().all(|&e| e == 1.0));
    }
}

fn var(data: &[f64], shape: &[usize]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(data.to_vec(), shape))
}

fn grad(x: &Var<f64>, out: &Var<f64>) -> Vec<f64> {
    out.backward().get(x).unwrap().to_vec()
}

#[test]
fn derivative_of_sum_of_squares_is_two_x() {
    let x = var(&[1.0, -2.0, 0.5, 3.0], &[2, 2]);
    // Sum over the last axis, then over what is left: sum(x^2) in two steps.
    let y = x.powf(2.0).sum(&[-1], false).sum(&[0], false);
    assert_eq!(grad(&x, &y), vec![2.0, -4.0, 1.0, 6.0]);
}

#[test]
fn mean_spreads_the_gradient_evenly() {
    let x = var(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let g = x.mean(&[1], true).backward_with_grad(&Tensor::from_vec(vec![3.0, 6.0], &[2, 1]));
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    assert_eq!(grad(&x, &x.mean_all()), vec![1.0 / 6.0; 6]);
}

#[test]
fn max_sends_the_gradient_to_the_maximum() {
    let x = var(&[1.0, 7.0, 2.0, 9.0, 4.0, 3.0], &[2, 3]);
    let g = x.max(&[-1], false).backward_with_grad(&Tensor::from_vec(vec![1.0, 10.0], &[2]));
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![0.0, 1.0, 0.0, 10.0, 0.0, 0.0]);
}

#[test]
fn max_divides_the_gradient_among_ties() {
    // As torch.amax: each of the k tied maxima gets g / k.
    let x = var(&[1.0, 3.0, 3.0, 2.0], &[2, 2]);
    assert_eq!(grad(&x, &x.max(&[0, 1], false)), vec![0.0, 0.5, 0.5, 0.0]);
    let x = var(&[5.0, 5.0, 5.0, 0.0, 1.0, 0.0], &[2, 3]);
    let g = x.max(&[1], true).backward_with_grad(&Tensor::from_vec(vec![3.0, 1.0], &[2, 1]));
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
}

#[test]
fn max_of_a_group_with_nan_has_a_nan_gradient() {
    let x = var(&[1.0, f64::NAN, 2.0, 3.0], &[2, 2]);
    let y = x.max(&[1], false);
    let out = y.value().to_vec();
    assert!(out[0].is_nan());
    assert_eq!(out[1], 3.0);
    let g = y.sum_all().backward().get(&x).unwrap().to_vec();
    assert!(g[0].is_nan() && g[1].is_nan(), "{g:?}");
    assert_eq!(&g[2..], &[0.0, 1.0]);
}

#[test]
fn var_gradient_is_two_deviations_over_the_divisor() {
    let x = var(&[1.0, 2.0, 3.0, 4.0], &[4]);
    // Biased: 2 (x - 2.5) / 4. Unbiased: 2 (x - 2.5) / 3.
    assert_eq!(grad(&x, &x.var(&[0], false, false)), vec![-0.75, -0.25, 0.25, 0.75]);
    let g = grad(&x, &x.var(&[-1], false, true));
    let expected = [-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0];
    assert!(g.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-15), "{g:?}");
}

#[test]
fn unbiased_var_of_one_element_is_nan_with_a_nan_gradient() {
    let x = var(&[1.0, 2.0], &[2, 1]);
    let y = x.var(&[1], false, true);
    assert!(y.value().to_vec().iter().all(|v| v.is_nan()));
    let g = y.sum_all().backward().get(&x).unwrap().to_vec();
    assert!(g.iter().all(|v| v.is_nan()), "{g:?}");
}

#[test]
fn empty_axis_list_reduces_nothing() {
    let x = var(&[1.0, 2.0, 3.0], &[3]);
    assert_eq!(x.sum(&[], false).value().to_vec(), vec![1.0, 2.0, 3.0]);
    assert_eq!(grad(&x, &x.sum(&[], true).sum_all()), vec![1.0; 3]);
}

#[test]
fn sum_gradient_is_a_broadcast_view() {
    // The gradient of a sum is g repeated over the reduced axes: stride 0, no copy.
    let x = var(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let g = x.sum_all().backward();
    let g = g.get(&x).unwrap();
    assert_eq!(g.shape(), &[2, 3]);
    assert_eq!(g.strides(), &[0, 0]);
    // Column sums (3) with a contiguous output gradient: rows repeat it with stride 0.
    let g = x.sum(&[0], false).backward_with_grad(&Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    let g = g.get(&x).unwrap();
    assert_eq!(g.strides(), &[0, 1]);
    assert_eq!(g.to_vec(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
}

#[test]
#[should_panic(expected = "tensor op 'sum'")]
fn repeated_axes_panic() {
    var(&[1.0, 2.0], &[2]).sum(&[0, -1], false);
}

#[test]
#[should_panic(expected = "tensor op 'max'")]
fn out_of_range_axis_panics() {
    var(&[1.0, 2.0], &[2]).max(&[1], false);
}
