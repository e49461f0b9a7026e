//! `GradGradCheck` itself: it passes correct double backwards, and it catches a wrong one and
//! names the input, the worst element and both values, as `GradCheck` does for first order.

use autograd::{GradCheck, GradGradCheck, Var};
use tensor::Tensor;

/// `y = x^3` whose backward is right in value (`3 g x^2`) but written so that its own gradient is
/// wrong: the `x^2` is computed from a detached `x`, so the second derivative loses its `6 g x`.
fn cube_with_detached_backward(x: &Var<f64>) -> Var<f64> {
    let value = x.value().powf(3.0);
    Var::from_differentiable_op("cube_detached", value, &[x], |a| {
        let x = a.inputs[0].detach();
        vec![Some(a.grad.mul(&x.mul(&x)).mul_scalar(3.0))]
    })
}

/// The same op, written right.
fn cube(x: &Var<f64>) -> Var<f64> {
    let value = x.value().powf(3.0);
    Var::from_differentiable_op("cube", value, &[x], |a| {
        let x = &a.inputs[0];
        vec![Some(a.grad.mul(&x.mul(x)).mul_scalar(3.0))]
    })
}

fn x() -> Tensor<f64> {
    Tensor::from_vec(vec![0.5, -1.25, 2.0], &[3])
}

#[test]
fn a_correct_double_backward_passes_and_reports_every_input_and_the_output_gradient() {
    let report = GradGradCheck::default().assert(&[x()], |v| cube(&v[0]));
    let names: Vec<&str> = report.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["input 0", "grad_output"]);
    assert_eq!(report.order, 2);
    assert!(report.inputs.iter().all(|i| i.max_abs_err < 1e-6), "{report}");
}

#[test]
fn a_detached_first_derivative_passes_first_order_but_fails_second_order() {
    // First order cannot see the mistake: the values are right.
    GradCheck::default().assert(&[x()], |v| cube_with_detached_backward(&v[0]));
    let failure = GradGradCheck::default().check(&[x()], |v| cube_with_detached_backward(&v[0])).unwrap_err();
    let input = &failure.report.inputs[0];
    assert_eq!(input.name, "input 0");
    // d/dx sum(R * 3 v x^2) = 6 R v x, but the detached backward reports no gradient at all.
    assert!(input.missing_gradient, "{failure}");
    // The output gradient's column is still right: the backward is linear in v.
    assert!(failure.report.inputs[1].passed(), "{failure}");
    let message = failure.to_string();
    assert!(message.starts_with("second-order gradient check"), "{message}");
    assert!(message.contains("input 0"), "{message}");
}

#[test]
fn a_wrong_second_derivative_is_caught_at_its_worst_element() {
    // 3 g x^2 written as 3 g x * detach(x): the right value, but only one of the two factors of
    // x is seen by the second backward, so every second derivative is half what it should be.
    fn half_second(x: &Var<f64>) -> Var<f64> {
        let value = x.value().powf(3.0);
        Var::from_differentiable_op("cube_half", value, &[x], |a| {
            let x = &a.inputs[0];
            vec![Some(a.grad.mul(&x.mul(&x.detach())).mul_scalar(3.0))]
        })
    }
    let failure = GradGradCheck::default().check(&[x()], |v| half_second(&v[0])).unwrap_err();
    let input = &failure.report.inputs[0];
    assert!(!input.missing_gradient);
    assert_eq!(input.failures, 3, "{failure}");
    // The analytic value is half the numeric one at the worst element.
    assert!((input.worst_analytic * 2.0 - input.worst_numeric).abs() < 1e-5, "{failure}");
}

#[test]
fn layer_style_checks_restore_the_leaves() {
    let w = Var::parameter(Tensor::<f64>::from_vec(vec![0.3, -0.7, 1.1, 0.2], &[2, 2]));
    let input = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, -0.4], &[1, 2]));
    let before = (w.value().to_vec(), input.value().to_vec());
    let named = [("w".to_string(), w.clone()), ("x".to_string(), input.clone())];
    let report = GradGradCheck::default().check_vars(&named, || input.matmul(&w).tanh()).unwrap();
    assert_eq!(report.inputs.len(), 3);
    assert_eq!((w.value().to_vec(), input.value().to_vec()), before);
}
