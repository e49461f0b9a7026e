//! `grad` and `grad_with` (PyTorch's `torch.autograd.grad`): they run only the backwards that
//! lead to the requested inputs, and a requested input upstream of another still gets the
//! gradient through it.

use std::cell::Cell;
use std::rc::Rc;

use autograd::{Var, grad, grad_with};
use tensor::Tensor;

fn param(values: &[f64]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(values.to_vec(), &[values.len()]))
}

/// `2x`, with a first-order backward only (tensors in, tensors out).
fn double_first_order(x: &Var<f64>) -> Var<f64> {
    Var::from_op("double", x.value().mul_scalar(2.0), &[x], |g| vec![Some(g.mul_scalar(2.0))])
}

#[test]
fn the_walk_stops_where_the_requested_inputs_are() {
    // y = sum(tanh(h)), h = 2x by a first-order op. The gradient with respect to h never needs
    // the op that made h, so create_graph works, and a hook behind h does not fire.
    let x = param(&[0.5, -1.0]);
    let fired = Rc::new(Cell::new(0));
    let counter = Rc::clone(&fired);
    x.register_hook(move |_| {
        counter.set(counter.get() + 1);
        None
    });
    let h = double_first_order(&x);
    let y = h.tanh().sum_all();
    let dh = grad(&[&y], &[&h], true)[0].clone().unwrap();
    let expected: Vec<f64> = [1.0f64, -2.0].iter().map(|v| 1.0 - v.tanh().powi(2)).collect();
    assert_eq!(dh.value().to_vec(), expected);
    assert!(dh.requires_grad(), "recorded: it depends on h");
    assert_eq!(fired.get(), 0, "x is behind h: its hook must not run");
    // Asking for x does walk through the first-order op, which cannot be recorded.
    let _ = grad(&[&y], &[&x], false);
    assert_eq!(fired.get(), 1);
}

#[test]
#[should_panic(expected = "tensor op 'double': has a first-order backward only")]
fn recording_through_a_first_order_op_names_it() {
    let x = param(&[0.5, -1.0]);
    let y = double_first_order(&x).tanh().sum_all();
    let _ = grad(&[&y], &[&x], true);
}

#[test]
fn a_requested_input_behind_another_gets_the_gradient_through_it() {
    // b = a^2, y = sum(a * b) = sum(a^3): dy/db = a, dy/da = b + 2a * a = 3a^2 (all paths).
    let a = param(&[1.5, -2.0]);
    let b = a.mul(&a);
    let y = a.mul(&b).sum_all();
    let g = grad(&[&y], &[&a, &b], false);
    assert_eq!(g[0].as_ref().unwrap().value().to_vec(), vec![6.75, 12.0]);
    assert_eq!(g[1].as_ref().unwrap().value().to_vec(), vec![1.5, -2.0]);
}

#[test]
fn an_input_the_outputs_do_not_depend_on_gets_none() {
    let (a, unused) = (param(&[1.0]), param(&[2.0]));
    let y = a.mul_scalar(3.0).sum_all();
    let g = grad_with(&[&y], &[&Var::constant(Tensor::scalar(1.0))], &[&unused, &a], false);
    assert!(g[0].is_none());
    assert_eq!(g[1].as_ref().unwrap().value().to_vec(), vec![3.0]);
}
