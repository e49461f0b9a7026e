//! Engine-level tests: how gradients flow through graph shapes (reuse, diamonds, long chains),
//! what backward promises (pure, repeatable, vector-Jacobian products), the recording switches
//! (`no_grad`, `detach`, anomaly mode) and the gradient checker's own failure reports.

use autograd::{Function, GradCheck, Var, detect_anomaly, is_grad_enabled, live_nodes, no_grad, topological_order};
use tensor::{Float, Tensor};

fn param(values: &[f64], shape: &[usize]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(values.to_vec(), shape))
}

fn grad(grads: &autograd::Gradients<f64>, v: &Var<f64>) -> Vec<f64> {
    grads.get(v).unwrap_or_else(|| panic!("no gradient for {v:?}")).to_vec()
}

// ---------------------------------------------------------------- reuse and diamonds

#[test]
fn a_plus_a_gives_gradient_two() {
    let a = param(&[1.5, -2.0, 0.25], &[3]);
    let b = &a + &a;
    let g = b.backward_with_grad(&Tensor::ones(&[3]));
    assert_eq!(grad(&g, &a), vec![2.0, 2.0, 2.0]);
}

#[test]
fn a_times_a_gives_two_a() {
    let a = param(&[1.5, -2.0, 0.25], &[3]);
    let g = (&a * &a).sum_all().backward();
    assert_eq!(grad(&g, &a), vec![3.0, -4.0, 0.5]);
}

#[test]
fn diamond_sums_both_paths() {
    // c = a*b + a: dc/da = b + 1 (two paths into a), dc/db = a.
    let a = param(&[1.0, -2.0], &[2]);
    let b = param(&[3.0, 0.5], &[2]);
    let c = (&(&a * &b) + &a).sum_all();
    let g = c.backward();
    assert_eq!(grad(&g, &a), vec![4.0, 1.5]);
    assert_eq!(grad(&g, &b), vec![1.0, -2.0]);
}

#[test]
fn diamond_through_an_intermediate() {
    // b = 2a; c = a*b + b = 2a^2 + 2a: dc/da = 4a + 2, reaching a by three paths.
    let a = param(&[1.0, -2.0, 0.5], &[3]);
    let b = a.mul_scalar(2.0);
    let c = (&(&a * &b) + &b).sum_all();
    let g = c.backward_retain_all();
    assert_eq!(grad(&g, &a), vec![6.0, -6.0, 4.0]);
    // The intermediate's own gradient: dc/db = a + 1.
    assert_eq!(grad(&g, &b), vec![2.0, -1.0, 1.5]);
}

#[test]
fn shared_subexpression_used_at_different_depths() {
    // h = exp(a); y = h*h + h*a. dy/da = 2 h^2 + h*a + h (h' = h).
    let a = param(&[0.3, -0.7], &[2]);
    let h = a.exp();
    let y = (&(&h * &h) + &(&h * &a)).sum_all();
    let g = y.backward();
    let expected: Vec<f64> = [0.3f64, -0.7]
        .iter()
        .map(|&x| {
            let h = x.exp();
            2.0 * h * h + h * x + h
        })
        .collect();
    for (got, want) in grad(&g, &a).iter().zip(&expected) {
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }
    // Each node is visited once, inputs before their users.
    let order = topological_order(&y);
    let ids: Vec<_> = order.iter().map(Var::id).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a node was visited twice");
    for (pos, v) in order.iter().enumerate() {
        for input in v.inputs() {
            let at = order.iter().position(|u| u.id() == input.id()).unwrap();
            assert!(at < pos, "input after its user in the topological order");
        }
    }
    assert_eq!(order.last().unwrap().id(), y.id());
}

#[test]
fn broadcast_input_reused_gets_summed_gradient() {
    // bias (3,) is broadcast over 4 rows, and used twice: y = sum((x + bias) * bias).
    // dy/dbias_j = sum_i (x_ij + 2 bias_j).
    let x = Var::constant(Tensor::<f64>::arange(0.0, 12.0, 1.0).reshape(&[4, 3]));
    let bias = param(&[1.0, 2.0, 3.0], &[3]);
    let y = (&(&x + &bias) * &bias).sum_all();
    let g = y.backward();
    // column sums of x: 0+3+6+9 = 18, 22, 26; plus 4 * 2 * bias.
    assert_eq!(grad(&g, &bias), vec![18.0 + 8.0, 22.0 + 16.0, 26.0 + 24.0]);
    assert!(g.get(&x).is_none(), "a constant must not receive a gradient");
}

// ---------------------------------------------------------------- long chains

#[test]
fn chain_of_ten_thousand_ops_backward_and_drop() {
    let before = live_nodes();
    let x = param(&[0.5, -1.0], &[2]);
    let mut y = x.clone();
    // Alternate two ops so both kinds of backward closure run: y = (y + 1) * 1.0001 ...
    for _ in 0..5_000 {
        y = y.add_scalar(1.0).mul_scalar(1.0001);
    }
    assert_eq!(live_nodes(), before + 1 + 10_000);
    let g = y.backward_with_grad(&Tensor::ones(&[2]));
    let expected = 1.0001f64.powi(5_000);
    for v in grad(&g, &x) {
        assert!((v - expected).abs() < 1e-9 * expected, "got {v}, want {expected}");
    }
    drop(y);
    assert_eq!(live_nodes(), before + 1, "dropping the chain must free all 10,000 op nodes");
    drop(x);
    assert_eq!(live_nodes(), before);
}

#[test]
fn chain_of_one_hundred_thousand_ops_drops_without_overflow() {
    let before = live_nodes();
    let x = param(&[1.0], &[1]);
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = y.add_scalar(1.0);
    }
    assert_eq!(y.item(), 100_001.0);
    drop(x); // the chain still holds the parameter
    assert_eq!(live_nodes(), before + 100_001);
    drop(y);
    assert_eq!(live_nodes(), before);
}

// ---------------------------------------------------------------- what backward promises

#[test]
fn backward_twice_gives_identical_stores() {
    let w = param(&[0.1, -0.2, 0.3, 0.4, -0.5, 0.6], &[2, 3]);
    let x = Var::constant(Tensor::from_vec(vec![1.0, 2.0, -1.0], &[3, 1]));
    let b = param(&[0.05, -0.05], &[2, 1]);
    let loss = (&w.matmul(&x) + &b).tanh().mul(&w.matmul(&x)).sum_all();
    let first = loss.backward();
    let second = loss.backward();
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), first.len());
    for p in [&w, &b] {
        // Bit-for-bit: nothing accumulates between calls, and the walk is deterministic.
        assert_eq!(grad(&first, p), grad(&second, p));
    }
    // The values of the graph are untouched by backward.
    assert_eq!(loss.backward().get(&w).unwrap().to_vec(), grad(&first, &w));
}

#[test]
fn backward_with_grad_is_a_vector_jacobian_product() {
    // y = a * b (2, 3); with upstream gradient G: dL/da = G * b, dL/db = G * a.
    let a = param(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = param(&[-1.0, 0.5, 2.0, 0.0, 1.0, -3.0], &[2, 3]);
    let y = &a * &b;
    let upstream = Tensor::from_vec(vec![1.0, 10.0, 100.0, -1.0, -10.0, -100.0], &[2, 3]);
    let g = y.backward_with_grad(&upstream);
    assert_eq!(grad(&g, &a), vec![-1.0, 5.0, 200.0, 0.0, -10.0, 300.0]);
    assert_eq!(grad(&g, &b), vec![1.0, 20.0, 300.0, -4.0, -50.0, -600.0]);
}

#[test]
#[should_panic(expected = "needs a one-element output, shape is [2, 3]")]
fn backward_on_a_non_scalar_panics_with_its_shape() {
    let a = param(&[1.0; 6], &[2, 3]);
    let _ = a.mul_scalar(2.0).backward();
}

#[test]
#[should_panic(expected = "gradient shape [3] differs from output shape [2, 3]")]
fn backward_with_grad_checks_the_seed_shape() {
    let a = param(&[1.0; 6], &[2, 3]);
    let _ = a.mul_scalar(2.0).backward_with_grad(&Tensor::ones(&[3]));
}

#[test]
#[should_panic(expected = "does not require gradients")]
fn backward_from_a_constant_panics() {
    let c = Var::constant(Tensor::<f64>::ones(&[1]));
    let _ = c.mul_scalar(2.0).backward();
}

#[test]
fn backward_from_an_intermediate_node() {
    // Backward may start anywhere in the graph: from h = a * 3 the gradient of a is 3.
    let a = param(&[1.0, 2.0], &[2]);
    let h = a.mul_scalar(3.0);
    let _y = h.exp().sum_all();
    let g = h.backward_with_grad(&Tensor::ones(&[2]));
    assert_eq!(grad(&g, &a), vec![3.0, 3.0]);
}

// ---------------------------------------------------------------- recording switches

#[test]
fn no_grad_records_nothing() {
    let w = param(&[1.0, 2.0], &[2]);
    let before = live_nodes();
    let y = no_grad(|| {
        assert!(!is_grad_enabled());
        (&(&w * &w) + &w).exp()
    });
    assert!(is_grad_enabled(), "no_grad must restore recording");
    // Only the result itself is alive: the intermediates were not kept by any graph.
    assert_eq!(live_nodes(), before + 1);
    assert!(y.is_leaf());
    assert!(!y.requires_grad());
    assert!(y.inputs().is_empty());
    assert_eq!(y.value().to_vec(), vec![2.0f64.exp(), 6.0f64.exp()]);
    drop(y);
    assert_eq!(live_nodes(), before);

    // The same expression with recording on keeps its graph: exp holds add holds mul.
    let y = (&(&w * &w) + &w).exp();
    assert_eq!(live_nodes(), before + 3);
    assert_eq!(y.op_name(), Some("exp"));
}

#[test]
fn no_grad_restores_recording_after_a_panic() {
    let result = std::panic::catch_unwind(|| no_grad(|| panic!("inside no_grad")));
    assert!(result.is_err());
    assert!(is_grad_enabled());
}

#[test]
fn nested_no_grad_restores_the_outer_mode() {
    no_grad(|| {
        no_grad(|| assert!(!is_grad_enabled()));
        assert!(!is_grad_enabled(), "the inner no_grad must not switch recording back on");
    });
    assert!(is_grad_enabled());
}

#[test]
fn detach_stops_gradients() {
    // y = a * detach(a): only the first factor carries a gradient, dy/da = a (not 2a).
    let a = param(&[3.0, -1.0], &[2]);
    let d = a.detach();
    assert!(d.is_leaf() && !d.requires_grad());
    let g = (&a * &d).sum_all().backward();
    assert_eq!(grad(&g, &a), vec![3.0, -1.0]);

    // A graph that reaches the parameters only through a detached value has nothing to differentiate.
    let e = a.exp().detach();
    assert!(!e.mul_scalar(2.0).requires_grad());
}

// ---------------------------------------------------------------- anomaly mode

#[test]
#[should_panic(expected = "anomaly detected: forward of op 'log' produced NaN (output shape [3], input shapes [[3]])")]
fn anomaly_mode_names_the_first_op_producing_nan() {
    let x = param(&[1.0, -2.0, 3.0], &[3]);
    detect_anomaly(|| {
        let y = x.mul_scalar(2.0); // fine
        let z = y.log(); // log(-4) = NaN: reported here, by name
        let _ = z.exp().sum_all(); // would carry the NaN on, but is never reached
    });
}

#[test]
#[should_panic(expected = "anomaly detected: backward of op 'sqrt' produced inf in the gradient of input 0")]
fn anomaly_mode_names_the_op_whose_backward_blows_up() {
    // sqrt(0) = 0 is fine forward; its derivative 1 / (2 sqrt 0) is infinite.
    let x = param(&[0.0, 4.0], &[2]);
    detect_anomaly(|| {
        let _ = x.sqrt().sum_all().backward();
    });
}

#[test]
fn anomaly_mode_off_is_silent() {
    let x = param(&[1.0, -2.0, 3.0], &[3]);
    let z = x.mul_scalar(2.0).log().exp().sum_all();
    assert!(z.item().is_nan(), "without anomaly mode the NaN flows on silently");
    // And on, with finite values, it says nothing either.
    let ok = detect_anomaly(|| x.mul(&x).sum_all().item());
    assert_eq!(ok, 14.0);
}

// ---------------------------------------------------------------- custom functions and GradCheck

/// log(e^a + e^b), computed stably; its partial derivatives are the softmax weights
/// e^a / (e^a + e^b) and e^b / (e^a + e^b).
struct LogAddExp;

impl<T: Float> Function<T> for LogAddExp {
    fn name(&self) -> String {
        "logaddexp".into()
    }
    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T> {
        inputs[0].zip_with(inputs[1], "logaddexp", |a, b| {
            let m = if a > b { a } else { b };
            m + ((a - m).exp() + (b - m).exp()).ln()
        })
    }
    fn backward(&self, inputs: &[Tensor<T>], output: &Tensor<T>, g: &Tensor<T>) -> Vec<Option<Tensor<T>>> {
        let wa = inputs[0].sub(output).exp();
        let wb = inputs[1].sub(output).exp();
        vec![Some(g.mul(&wa).sum_to_shape(inputs[0].shape())), Some(g.mul(&wb).sum_to_shape(inputs[1].shape()))]
    }
}

#[test]
fn custom_function_passes_gradcheck() {
    let a = Tensor::<f64>::rand_normal(&[4, 3], 0.0, 2.0, 1);
    // A transposed (non-contiguous) input: the checker keeps its layout.
    let b = Tensor::<f64>::rand_normal(&[3, 4], 0.0, 2.0, 2).mt();
    assert!(!b.is_contiguous());
    let report = GradCheck::default().assert(&[a.clone(), b.clone()], |v| Var::apply(LogAddExp, &[&v[0], &v[1]]));
    assert!(report.passed());
    assert_eq!(report.inputs.len(), 2);
    assert!(report.inputs.iter().all(|i| !i.missing_gradient && i.max_abs_err < 1e-7));

    // And it records like a built-in op.
    let va = Var::parameter(a);
    let y = Var::apply(LogAddExp, &[&va, &Var::constant(b)]);
    assert_eq!(y.op_name(), Some("logaddexp"));
}

/// x^3, with a deliberately wrong backward: 2x^2 instead of 3x^2.
struct BadCube;

impl<T: Float> Function<T> for BadCube {
    fn name(&self) -> String {
        "bad_cube".into()
    }
    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T> {
        inputs[0].map(|x| x * x * x)
    }
    fn backward(&self, inputs: &[Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>) -> Vec<Option<Tensor<T>>> {
        let two = T::from_f64(2.0);
        vec![Some(g.zip_with(&inputs[0], "bad_cube_backward", |g, x| g * two * x * x))]
    }
}

#[test]
fn gradcheck_reports_a_wrong_backward_loudly() {
    let x = Tensor::<f64>::from_vec(vec![1.0, -2.0, 0.5, 4.0, -3.0, 1.5], &[2, 3]);
    let err = GradCheck::default().check(&[x], |v| Var::apply(BadCube, &[&v[0]])).unwrap_err();
    let input = &err.report.inputs[0];
    assert!(!input.passed());
    assert_eq!(input.failures, 6, "every element is off by a third");
    // The error is x^2 * weight, largest at x = 4 (index [1, 0]) unless the random weights
    // reorder 16 w vs 9 w' (weights are in [0.5, 1.5], so 16 * 0.5 < 9 * 1.5 is possible):
    // check the numbers themselves rather than guess the index.
    let [i, j] = [input.worst_index[0], input.worst_index[1]];
    let xv = [[1.0, -2.0, 0.5], [4.0, -3.0, 1.5]][i][j];
    let ratio = input.worst_numeric / input.worst_analytic;
    assert!((ratio - 1.5).abs() < 1e-6, "numeric 3x^2 w vs analytic 2x^2 w, got ratio {ratio}");
    let weight = input.worst_numeric / (3.0 * xv * xv); // the random output weight, in [0.5, 1.5)
    assert!((0.5..1.5).contains(&weight), "numeric {} is not 3x^2 times a weight", input.worst_numeric);

    let message = err.to_string();
    assert!(message.starts_with("gradient check failed"), "{message}");
    assert!(message.contains("input 0 (shape [2, 3]): 6 element(s) out of tolerance"), "{message}");
    assert!(message.contains(&format!("worst at {:?}", input.worst_index)), "{message}");
    assert!(message.contains(&format!("analytic {:e}", input.worst_analytic)), "{message}");
    assert!(message.contains(&format!("numeric {:e}", input.worst_numeric)), "{message}");
}

#[test]
#[should_panic(expected = "gradient check failed")]
fn gradcheck_assert_panics_on_a_wrong_backward() {
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]);
    GradCheck::default().assert(&[x], |v| Var::apply(BadCube, &[&v[0]]));
}

/// a * b, whose backward forgets b: returns no gradient for an input the output depends on.
struct ForgetfulMul;

impl<T: Float> Function<T> for ForgetfulMul {
    fn name(&self) -> String {
        "forgetful_mul".into()
    }
    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T> {
        inputs[0].mul(inputs[1])
    }
    fn backward(&self, inputs: &[Tensor<T>], _out: &Tensor<T>, g: &Tensor<T>) -> Vec<Option<Tensor<T>>> {
        vec![Some(g.mul(&inputs[1])), None]
    }
}

#[test]
fn gradcheck_reports_an_input_that_gets_no_gradient() {
    let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    let b = Tensor::<f64>::from_vec(vec![-1.0, 0.5, 2.0], &[3]);
    let err = GradCheck::default().check(&[a, b], |v| Var::apply(ForgetfulMul, &[&v[0], &v[1]])).unwrap_err();
    assert!(err.report.inputs[0].passed(), "input 0's gradient is right");
    let missing = &err.report.inputs[1];
    assert!(missing.missing_gradient && !missing.passed());
    assert_eq!(missing.failures, 3);
    let message = err.to_string();
    assert!(message.contains("input 1 (shape [3]) received no gradient, but the output depends on it"), "{message}");
}

#[test]
fn gradcheck_accepts_an_input_without_gradient_that_does_not_matter() {
    // b takes part in no op: no gradient, and rightly so.
    let a = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]);
    let b = Tensor::<f64>::from_vec(vec![5.0], &[1]);
    let report = GradCheck::default().assert(&[a, b], |v| v[0].mul(&v[0]));
    assert!(report.inputs[1].missing_gradient);
    assert!(report.passed());
}

#[test]
fn gradcheck_names_vars_checked_by_name() {
    let w = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, -0.5], &[2]));
    let x = Var::constant(Tensor::from_vec(vec![2.0, 3.0], &[2]));
    let err = GradCheck::default()
        .check_vars(&[("weight".to_string(), w.clone())], || Var::apply(BadCube, &[&w]).mul(&x))
        .unwrap_err();
    assert!(err.to_string().contains("weight (shape [2])"), "{err}");
    // The checker restores the value it perturbed.
    assert_eq!(w.value().to_vec(), vec![0.5, -0.5]);
}

#[test]
#[should_panic(expected = "already")]
fn update_values_refuses_a_variable_listed_twice() {
    let a = Var::parameter(Tensor::<f32>::ones(&[2]));
    Var::update_values(&[a.clone(), a], |_| {});
}

#[test]
#[should_panic(expected = "update_values: the closure changed a shape")]
fn update_values_refuses_a_shape_change() {
    let a = Var::parameter(Tensor::<f32>::ones(&[2]));
    Var::update_values(&[a], |v| *v[0] = Tensor::ones(&[3]));
}
