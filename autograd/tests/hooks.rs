//! Gradient hooks ([`Var::register_hook`]): what a hook sees, and exactly what a replacement
//! changes. A hook that returns `None` changes nothing, bit for bit; one that returns a new
//! gradient changes what flows on from that variable and nothing that was computed before it;
//! several hooks compose in registration order; a wrong shape is refused by name; and with
//! `create_graph` the replacement is part of the graph and can be differentiated.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use autograd::{Gradients, Var, grad};
use tensor::Tensor;

fn param(values: &[f64]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(values.to_vec(), &[values.len()]))
}

fn bits(t: &Tensor<f64>) -> Vec<u64> {
    t.to_vec().iter().map(|x| x.to_bits()).collect()
}

fn get(grads: &Gradients<f64>, v: &Var<f64>) -> Tensor<f64> {
    grads.get(v).unwrap_or_else(|| panic!("no gradient for {v:?}")).clone()
}

const A: [f64; 3] = [0.5, -1.25, 2.0];
const B: [f64; 3] = [1.5, 0.75, -0.5];
const C: [f64; 3] = [-0.3, 0.8, 1.1];

/// `y = sum(tanh(h) * b + a * b)` with `h = a * c`: `c` reaches `y` only through `h`, `a` through
/// `h` and directly (via `u = a * b`), `b` never through `h`'s gradient (only its value).
struct Graph {
    a: Var<f64>,
    b: Var<f64>,
    c: Var<f64>,
    h: Var<f64>,
    t: Var<f64>,
    p: Var<f64>,
    u: Var<f64>,
    s: Var<f64>,
    y: Var<f64>,
}

fn build() -> Graph {
    let (a, b, c) = (param(&A), param(&B), param(&C));
    let h = a.mul(&c);
    let t = h.tanh();
    let p = t.mul(&b);
    let u = a.mul(&b);
    let s = p.add(&u);
    let y = s.sum_all();
    Graph { a, b, c, h, t, p, u, s, y }
}

impl Graph {
    /// Every node, leaves first.
    fn nodes(&self) -> [&Var<f64>; 9] {
        [&self.a, &self.b, &self.c, &self.h, &self.t, &self.p, &self.u, &self.s, &self.y]
    }
}

// ---------------------------------------------------------------- (a) zeroing a gradient

#[test]
fn zeroing_an_intermediate_gradient_cuts_exactly_the_paths_through_it() {
    let plain = build();
    let before = plain.y.backward_retain_all();

    let g = build();
    g.h.register_hook(|grad| Some(grad.mul_scalar(0.0)));
    let after = g.y.backward_retain_all();

    // c reaches y only through h: its gradient is zero.
    assert_eq!(get(&after, &g.c).to_vec(), vec![0.0; 3]);
    // a reaches y through h and through u = a * b: only u's contribution, d(a * b)/da = b, is left.
    assert_eq!(bits(&get(&after, &g.a)), bits(&Tensor::from_vec(B.to_vec(), &[3])));
    // b's paths (through p = t * b and u) do not pass h's gradient: unchanged, bit for bit.
    assert_eq!(bits(&get(&after, &g.b)), bits(&get(&before, &plain.b)));
    // Everything backward visited before h (its consumers, up to the output) is unchanged.
    for (hooked, unhooked) in [(&g.t, &plain.t), (&g.p, &plain.p), (&g.u, &plain.u), (&g.s, &plain.s), (&g.y, &plain.y)]
    {
        assert_eq!(bits(&get(&after, hooked)), bits(&get(&before, unhooked)));
    }
    // The store keeps h's gradient as the hook left it.
    assert_eq!(get(&after, &g.h).to_vec(), vec![0.0; 3]);
    assert_ne!(get(&before, &plain.h).to_vec(), vec![0.0; 3]);

    // The same as a graph with the path through h cut at build time (h's value kept as a constant).
    let (a, b, c) = (param(&A), param(&B), param(&C));
    let cut = a.mul(&c).detach().tanh().mul(&b).add(&a.mul(&b)).sum_all().backward();
    assert_eq!(bits(&get(&after, &g.a)), bits(&get(&cut, &a)));
    assert_eq!(bits(&get(&after, &g.b)), bits(&get(&cut, &b)));
    assert!(cut.get(&c).is_none());
}

// ---------------------------------------------------------------- (b) observing only

#[test]
fn hooks_returning_none_leave_every_gradient_bit_identical() {
    let plain = build();
    let before = plain.y.backward_retain_all();

    let g = build();
    let calls = Rc::new(Cell::new(0));
    for v in g.nodes() {
        let calls = Rc::clone(&calls);
        v.register_hook(move |grad| {
            calls.set(calls.get() + 1);
            assert!(!grad.requires_grad(), "a plain backward hands hooks plain values");
            None
        });
    }
    let after = g.y.backward_retain_all();
    assert_eq!(calls.get(), 9, "every node's hook fires once");
    for (hooked, unhooked) in g.nodes().into_iter().zip(plain.nodes()) {
        assert_eq!(bits(&get(&after, hooked)), bits(&get(&before, unhooked)));
    }
    // And backward() (leaves only) agrees too, hooks firing again.
    let leaves = g.y.backward();
    assert_eq!(calls.get(), 18);
    for (hooked, unhooked) in [(&g.a, &plain.a), (&g.b, &plain.b), (&g.c, &plain.c)] {
        assert_eq!(bits(&get(&leaves, hooked)), bits(&get(&before, unhooked)));
    }
}

#[test]
fn a_hook_on_a_variable_used_twice_fires_once_with_the_sum() {
    // y = sum(x * x + 3 x): x has three uses; dy/dx = 2x + 3 arrives as one gradient.
    let x = param(&A);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    x.register_hook(move |g| {
        log.borrow_mut().push(g.value().to_vec());
        None
    });
    let _ = x.mul(&x).add(&x.mul_scalar(3.0)).sum_all().backward();
    let expected: Vec<f64> = A.iter().map(|a| 2.0 * a + 3.0).collect();
    assert_eq!(*seen.borrow(), vec![expected]);
}

// ---------------------------------------------------------------- (c) replacing a leaf's gradient

#[test]
fn doubling_a_leaf_gradient_doubles_exactly_that_leaf() {
    let plain = build();
    let before = plain.y.backward();

    let g = build();
    g.a.register_hook(|grad| Some(grad.mul_scalar(2.0)));
    let after = g.y.backward();

    let doubled: Vec<f64> = get(&before, &plain.a).to_vec().iter().map(|v| 2.0 * v).collect();
    assert_eq!(get(&after, &g.a).to_vec(), doubled);
    assert_eq!(bits(&get(&after, &g.b)), bits(&get(&before, &plain.b)));
    assert_eq!(bits(&get(&after, &g.c)), bits(&get(&before, &plain.c)));
}

#[test]
fn a_hook_on_the_output_scales_every_gradient() {
    let plain = build();
    let before = plain.y.backward();
    let g = build();
    g.y.register_hook(|grad| Some(grad.mul_scalar(4.0)));
    let after = g.y.backward();
    for (hooked, unhooked) in [(&g.a, &plain.a), (&g.b, &plain.b), (&g.c, &plain.c)] {
        let expected: Vec<f64> = get(&before, unhooked).to_vec().iter().map(|v| 4.0 * v).collect();
        assert_eq!(get(&after, hooked).to_vec(), expected);
    }
}

// ---------------------------------------------------------------- (d) composition

#[test]
fn hooks_compose_in_registration_order() {
    // y = sum(x * x): the gradient into x is 2x. First hook: g + 1; second: 3 g.
    // In registration order the result is 3 (2x + 1); the other order would give 6x + 1.
    let x = param(&A);
    let order = Rc::new(RefCell::new(Vec::new()));
    let first = Rc::clone(&order);
    x.register_hook(move |g| {
        first.borrow_mut().push(("first", g.value().to_vec()));
        Some(g.add_scalar(1.0))
    });
    let second = Rc::clone(&order);
    x.register_hook(move |g| {
        second.borrow_mut().push(("second", g.value().to_vec()));
        Some(g.mul_scalar(3.0))
    });
    let grads = x.mul(&x).sum_all().backward();

    let two_x: Vec<f64> = A.iter().map(|a| 2.0 * a).collect();
    let plus_one: Vec<f64> = two_x.iter().map(|g| g + 1.0).collect();
    assert_eq!(*order.borrow(), vec![("first", two_x), ("second", plus_one.clone())]);
    let expected: Vec<f64> = plus_one.iter().map(|g| 3.0 * g).collect();
    assert_eq!(get(&grads, &x).to_vec(), expected);
}

// ---------------------------------------------------------------- (e) a wrong shape

#[test]
#[should_panic(
    expected = "tensor op 'register_hook': a hook replaced a gradient of shape [2, 3] with one of shape [3]"
)]
fn a_hook_returning_the_wrong_shape_panics_naming_both_shapes() {
    let x = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    let h = x.mul_scalar(2.0);
    h.register_hook(|g| Some(g.sum(&[0], false))); // (2, 3) -> (3)
    let _ = h.sum_all().backward();
}

// ---------------------------------------------------------------- (f) with create_graph

#[test]
fn hooks_run_with_create_graph_and_see_gradients_in_the_graph() {
    // y = sum(x^3): the gradient into x is 3x^2, itself a function of x under create_graph.
    let x = param(&A);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    x.register_hook(move |g| {
        log.borrow_mut().push(g.requires_grad());
        None
    });
    let y = x.mul(&x).mul(&x).sum_all();
    let _ = grad(&[&y], &[&x], true);
    let _ = grad(&[&y], &[&x], false);
    assert_eq!(*seen.borrow(), vec![true, false]);
}

#[test]
fn a_replaced_gradient_is_differentiable() {
    // h = x * x, y = sum(h). A hook on h multiplies its gradient (ones) by a parameter w, so
    // dy/dx becomes 2 w x: it depends on w only through the hook's replacement.
    let x = param(&A);
    let w = param(&C);
    let calls = Rc::new(Cell::new(0));
    let h = x.mul(&x);
    {
        let (w, calls) = (w.clone(), Rc::clone(&calls));
        h.register_hook(move |g| {
            calls.set(calls.get() + 1);
            Some(g.mul(&w))
        });
    }
    let y = h.sum_all();
    let dy_dx = grad(&[&y], &[&x], true)[0].clone().unwrap();
    assert_eq!(calls.get(), 1);
    assert!(dy_dx.requires_grad(), "the replacement is in the graph");
    let two_w_x: Vec<f64> = A.iter().zip(&C).map(|(a, c)| 2.0 * c * a).collect();
    assert_eq!(dy_dx.value().to_vec(), two_w_x);

    // d sum(2 w x) / dw = 2x, d / dx = 2w.
    let second = grad(&[&dy_dx.sum_all()], &[&w, &x], false);
    let dw = second[0].clone().expect("w is reached through the hook's replacement").value();
    let dx = second[1].clone().unwrap().value();
    assert_eq!(dw.to_vec(), A.iter().map(|a| 2.0 * a).collect::<Vec<_>>());
    assert_eq!(dx.to_vec(), C.iter().map(|c| 2.0 * c).collect::<Vec<_>>());
    // h is not in the graph of dy/dx (mul's backward reads x, not h): its hook did not fire again.
    assert_eq!(calls.get(), 1);
}

#[test]
fn a_removed_hook_no_longer_runs_and_the_others_stay() {
    let x = param(&A);
    let calls = Rc::new(Cell::new((0, 0)));
    let first = {
        let calls = Rc::clone(&calls);
        x.register_hook(move |_| {
            calls.set((calls.get().0 + 1, calls.get().1));
            None
        })
    };
    {
        let calls = Rc::clone(&calls);
        x.register_hook(move |g| {
            calls.set((calls.get().0, calls.get().1 + 1));
            Some(g.mul_scalar(2.0))
        });
    }
    let y = x.mul(&x).sum_all();
    let _ = y.backward();
    first.remove();
    let g = y.backward();
    assert_eq!(calls.get(), (1, 2), "the removed hook ran once, the kept one twice");
    let doubled: Vec<f64> = A.iter().map(|a| 4.0 * a).collect();
    assert_eq!(g.get(&x).unwrap().to_vec(), doubled);
}

#[test]
fn removing_a_hook_of_a_dropped_variable_does_nothing() {
    let handle = param(&A).mul_scalar(2.0).register_hook(|_| None);
    handle.remove();
}

#[test]
#[should_panic(expected = "tensor op 'register_hook': the variable (shape [2, 3]) does not require gradients")]
fn a_hook_on_a_constant_is_refused() {
    Var::constant(Tensor::<f64>::zeros(&[2, 3])).register_hook(|_| None);
}

#[test]
fn a_hook_in_front_of_a_fused_op_runs_once_with_and_without_create_graph() {
    // With create_graph a fused op's gradient comes from its twin's own backward; that inner
    // pass must stop at the op's inputs, not run (and apply) the hooks behind them again.
    for create_graph in [false, true] {
        let x = param(&A);
        let calls = Rc::new(Cell::new(0));
        let h = x.mul_scalar(1.0);
        {
            let calls = Rc::clone(&calls);
            h.register_hook(move |g| {
                calls.set(calls.get() + 1);
                Some(g.mul_scalar(2.0))
            });
        }
        let y = h.gelu_tanh().sum_all();
        let dx = grad(&[&y], &[&x], create_graph)[0].clone().unwrap().value();
        assert_eq!(calls.get(), 1, "create_graph {create_graph}");
        let plain = Var::parameter(Tensor::from_vec(A.to_vec(), &[3]));
        let unhooked = grad(&[&plain.gelu_tanh().sum_all()], &[&plain], false)[0].clone().unwrap().value();
        let doubled: Vec<f64> = unhooked.to_vec().iter().map(|g| 2.0 * g).collect();
        let close = dx.to_vec().iter().zip(&doubled).all(|(a, b)| (a - b).abs() < 1e-14);
        assert!(close, "create_graph {create_graph}: {:?} vs {doubled:?}", dx.to_vec());
    }
}
