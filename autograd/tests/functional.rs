//! `autograd::functional`: vjp, jvp, jacobian, hessian and hvp against closed forms, central
//! finite differences and each other, in f64 (and once in f32), plus the shape-mismatch panics.

use autograd::functional::{hessian, hvp, jacobian, jvp, vjp};
use autograd::{Var, composed, grad, no_grad};
use tensor::Tensor;

fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(shape, -1.0, 1.0, seed)
}

/// `A x` for a matrix `A` (m, n) and a vector `x` (n): matmul needs 2-D operands.
fn matvec<T: tensor::Float>(a: &Var<T>, x: &Var<T>) -> Var<T> {
    let (m, n) = (a.shape()[0], a.shape()[1]);
    a.matmul(&x.reshape(&[n, 1])).reshape(&[m])
}

/// The gradient of a scalar `f` at `x`, by one plain backward pass.
fn gradient(f: &impl Fn(&Var<f64>) -> Var<f64>, x: &Tensor<f64>) -> Tensor<f64> {
    let xv = Var::parameter(x.clone());
    grad(&[&f(&xv)], &[&xv], false)[0].as_ref().expect("f depends on x").value()
}

/// `x` with `delta` added to element `j` (row-major).
fn nudged(x: &Tensor<f64>, j: usize, delta: f64) -> Tensor<f64> {
    let mut data = x.to_vec();
    data[j] += delta;
    Tensor::from_vec(data, x.shape())
}

/// Column `j` of the Jacobian of `g` at `x` by central differences: `(g(x + h e_j) - g(x - h e_j)) / 2h`.
fn central_difference(g: impl Fn(&Tensor<f64>) -> Tensor<f64>, x: &Tensor<f64>, j: usize, h: f64) -> Vec<f64> {
    let (plus, minus) = (g(&nudged(x, j, h)).to_vec(), g(&nudged(x, j, -h)).to_vec());
    plus.iter().zip(&minus).map(|(p, m)| (p - m) / (2.0 * h)).collect()
}

/// `M w` for `M` stored row-major as `rows x w.len()`.
fn mat_times(m: &[f64], w: &[f64]) -> Vec<f64> {
    m.chunks(w.len()).map(|row| row.iter().zip(w).map(|(a, b)| a * b).sum()).collect()
}

/// `w^T M` for `M` stored row-major as `w.len() x cols`.
fn times_mat(w: &[f64], m: &[f64]) -> Vec<f64> {
    let cols = m.len() / w.len();
    (0..cols).map(|j| w.iter().enumerate().map(|(i, wi)| wi * m[i * cols + j]).sum()).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// `tanh'' x = -2 tanh x (1 - tanh^2 x)`.
fn tanh_second(x: f64) -> f64 {
    let t = x.tanh();
    -2.0 * t * (1.0 - t * t)
}

/// `tanh''' x`. With `t = tanh x` and `s = sech^2 x = 1 - t^2`: `t' = s`, `s' = -2 t t' = -2 t s`,
/// so `t'' = -2 t s` and `t''' = -2 (t' s + t s') = -2 (s^2 - 2 t^2 s) = -2 s (s - 2 t^2)
/// = -2 s (1 - 3 t^2)`.
fn tanh_third(x: f64) -> f64 {
    let t = x.tanh();
    let s = 1.0 - t * t;
    -2.0 * s * (1.0 - 3.0 * t * t)
}

const POINTS: [f64; 7] = [-2.0, -0.7, -0.1, 0.0, 0.3, 1.1, 2.5];

#[test]
fn the_hessian_of_a_quadratic_form_is_a_plus_a_transpose_and_hvp_applies_it() {
    let n = 4;
    let a_t = rand(&[n, n], 1);
    assert!(a_t.max_abs_diff(&a_t.mt().contiguous()) > 0.1, "A must not be symmetric for this test to mean anything");
    let a = Var::constant(a_t.clone());
    let f = |x: &Var<f64>| x.mul(&matvec(&a, x)).sum_all(); // x^T A x
    let x = rand(&[n], 2);
    let expected = a_t.add(&a_t.mt()).to_vec(); // A + A^T, row-major

    let h = hessian(f, &x);
    assert_eq!(h.shape(), &[n, n]);
    assert!(max_diff(&h.to_vec(), &expected) < 1e-14, "H = {:?}, A + A^T = {expected:?}", h.to_vec());

    let v = rand(&[n], 3);
    let (value, h_v) = hvp(f, &x, &v);
    let xs = x.to_vec();
    let quadratic: f64 = (0..n).map(|i| (0..n).map(|j| xs[i] * a_t.get(&[i, j]) * xs[j]).sum::<f64>()).sum();
    assert!((value.item() - quadratic).abs() < 1e-14);
    assert_eq!(h_v.shape(), &[n]);
    assert!(max_diff(&h_v.to_vec(), &mat_times(&expected, &v.to_vec())) < 1e-14);
}

#[test]
fn the_closed_form_third_derivative_of_tanh_matches_differences_of_the_second() {
    // A check of the derivation itself, independent of the engine.
    for &x in &POINTS {
        let h = 1e-4;
        let numeric = (tanh_second(x + h) - tanh_second(x - h)) / (2.0 * h);
        assert!((numeric - tanh_third(x)).abs() < 1e-7, "x = {x}: {numeric} vs {}", tanh_third(x));
    }
    assert_eq!(tanh_third(0.0), -2.0);
}

#[test]
fn three_nested_grads_of_tanh_give_its_third_derivative() {
    // tanh acts elementwise, so the gradient of sum(tanh x) holds tanh'(x_i) in slot i; summing
    // again and differentiating gives tanh'', then tanh'''.
    let x = Var::parameter(Tensor::from_vec(POINTS.to_vec(), &[POINTS.len()]));
    let y = x.tanh().sum_all();
    let d1 = grad(&[&y], &[&x], true)[0].clone().unwrap();
    let d2 = grad(&[&d1.sum_all()], &[&x], true)[0].clone().unwrap();
    let d3 = grad(&[&d2.sum_all()], &[&x], false)[0].clone().unwrap();
    for (i, &p) in POINTS.iter().enumerate() {
        let t = p.tanh();
        assert!((d1.value().to_vec()[i] - (1.0 - t * t)).abs() < 1e-15);
        assert!((d2.value().to_vec()[i] - tanh_second(p)).abs() < 1e-15, "tanh'' at {p}");
        assert!((d3.value().to_vec()[i] - tanh_third(p)).abs() < 1e-14, "tanh''' at {p}: {:?}", d3.value().to_vec());
    }
}

#[test]
fn the_hessian_of_the_derivative_of_tanh_is_diagonal_with_its_third_derivative() {
    let x = Tensor::from_vec(POINTS.to_vec(), &[POINTS.len()]);
    let n = POINTS.len();
    // d(x) = sum_i tanh'(x_i), computed by the engine (a recorded gradient), then its Hessian.
    let derivative = |x: &Var<f64>| grad(&[&x.tanh().sum_all()], &[x], true)[0].clone().unwrap().sum_all();
    let h = hessian(derivative, &x);
    assert_eq!(h.shape(), &[n, n]);
    for (i, &p) in POINTS.iter().enumerate() {
        for j in 0..n {
            let expected = if i == j { tanh_third(p) } else { 0.0 };
            assert!((h.get(&[i, j]) - expected).abs() < 1e-14, "H[{i}][{j}] = {}, expected {expected}", h.get(&[i, j]));
        }
    }
    // The same diagonal, from hvp with v = 1 (H diagonal, so H 1 is the diagonal).
    let (_, h_ones) = hvp(derivative, &x, &Tensor::ones(&[n]));
    let third: Vec<f64> = POINTS.iter().map(|&p| tanh_third(p)).collect();
    assert!(max_diff(&h_ones.to_vec(), &third) < 1e-14);
    // And the Jacobian of the gradient is the Hessian of the function: diag(tanh'').
    let grad_fn = |x: &Var<f64>| grad(&[&x.tanh().sum_all()], &[x], true)[0].clone().unwrap();
    let j_of_grad = jacobian(grad_fn, &x);
    let h_of_f = hessian(|x| x.tanh().sum_all(), &x);
    assert_eq!(j_of_grad.shape(), h_of_f.shape());
    assert!(max_diff(&j_of_grad.to_vec(), &h_of_f.to_vec()) < 1e-15);
    for (i, &p) in POINTS.iter().enumerate() {
        assert!((h_of_f.get(&[i, i]) - tanh_second(p)).abs() < 1e-15);
    }
}

#[test]
fn the_jacobian_of_tanh_w_x_is_diag_of_one_minus_tanh_squared_times_w() {
    let w_t = rand(&[3, 5], 4);
    let w = Var::constant(w_t.clone());
    let x = rand(&[5], 5);
    let j = jacobian(|x| matvec(&w, x).tanh(), &x);
    assert_eq!(j.shape(), &[3, 5]);
    let z = mat_times(&w_t.to_vec(), &x.to_vec());
    for (i, zi) in z.iter().enumerate() {
        let slope = 1.0 - zi.tanh().powi(2);
        for k in 0..5 {
            let expected = slope * w_t.get(&[i, k]);
            assert!((j.get(&[i, k]) - expected).abs() < 1e-15, "J[{i}][{k}] = {} vs {expected}", j.get(&[i, k]));
        }
    }
}

#[test]
fn the_jacobian_of_softmax_over_a_matrix_matches_central_differences() {
    let x = rand(&[2, 3], 6).mul_scalar(2.0);
    let softmax = |x: &Var<f64>| x.softmax(-1);
    let j = jacobian(softmax, &x);
    assert_eq!(j.shape(), &[2, 3, 2, 3]);
    // Central differences, one input element (one column of J) at a time.
    let value_at = |x: &Tensor<f64>| no_grad(|| softmax(&Var::constant(x.clone())).value());
    for col in 0..6 {
        let numeric = central_difference(value_at, &x, col, 1e-5);
        let analytic: Vec<f64> = (0..6).map(|row| j.to_vec()[row * 6 + col]).collect();
        assert!(max_diff(&analytic, &numeric) < 1e-9, "column {col}: {analytic:?} vs {numeric:?}");
    }
    // The closed form: each row of x is its own softmax, J[r, a, r', b] = [r = r'] s_a ([a = b] - s_b).
    let s = softmax(&Var::constant(x.clone())).value();
    for index in 0..36 {
        let (r, a, r2, b) = (index / 18, index / 6 % 3, index / 3 % 2, index % 3);
        let got = j.get(&[r, a, r2, b]);
        if r != r2 {
            assert_eq!(got, 0.0, "rows do not interact: J[{r},{a},{r2},{b}]");
        } else {
            let expected = s.get(&[r, a]) * (f64::from(a == b) - s.get(&[r, b]));
            assert!((got - expected).abs() < 1e-15, "J[{r},{a},{r2},{b}] = {got} vs {expected}");
        }
    }
    // The fused op and its composed twin have the same Jacobian.
    let composed_j = jacobian(|x| composed::softmax(x, -1), &x);
    assert!(max_diff(&composed_j.to_vec(), &j.to_vec()) < 1e-15);
}

#[test]
fn the_hessian_of_an_mlp_loss_matches_differences_of_its_gradient() {
    let w1 = Var::constant(rand(&[3, 4], 7));
    let w2 = Var::constant(rand(&[4, 1], 8));
    // (sum(tanh(x W1) W2))^2, x of shape (2, 3).
    let loss = |x: &Var<f64>| {
        let s = x.matmul(&w1).tanh().matmul(&w2).sum_all();
        s.mul(&s)
    };
    let x = rand(&[2, 3], 9);
    let h = hessian(loss, &x);
    assert_eq!(h.shape(), &[2, 3, 2, 3]);
    let h_flat = h.to_vec();
    for col in 0..6 {
        let numeric = central_difference(|x| gradient(&loss, x), &x, col, 1e-5);
        let analytic: Vec<f64> = (0..6).map(|row| h_flat[row * 6 + col]).collect();
        assert!(max_diff(&analytic, &numeric) < 1e-8, "column {col}: {analytic:?} vs {numeric:?}");
    }
    // Symmetric to rounding, and not trivially (the test would mean nothing if H were 0).
    for i in 0..6 {
        for k in 0..6 {
            assert!((h_flat[i * 6 + k] - h_flat[k * 6 + i]).abs() < 1e-14);
        }
    }
    assert!(h_flat.iter().any(|v| v.abs() > 1e-2));
    // hvp agrees with the Hessian it never forms.
    let v = rand(&[2, 3], 10);
    let (value, h_v) = hvp(loss, &x, &v);
    assert_eq!(h_v.shape(), &[2, 3]);
    assert!(max_diff(&h_v.to_vec(), &mat_times(&h_flat, &v.to_vec())) < 1e-14);
    assert_eq!(value.item(), loss(&Var::constant(x.clone())).item());
}

#[test]
fn jvp_is_the_jacobian_times_u_and_vjp_is_v_transposed_times_the_jacobian() {
    let w = Var::constant(rand(&[3, 4], 11));
    let f = |x: &Var<f64>| x.matmul(&w).tanh(); // (2, 3) -> (2, 4)
    let x = rand(&[2, 3], 12);
    let j = jacobian(f, &x);
    assert_eq!(j.shape(), &[2, 4, 2, 3]);
    let j_flat = j.to_vec(); // (8, 6)

    let u = rand(&[2, 3], 13);
    let (y, j_u) = jvp(f, &x, &u);
    assert_eq!(j_u.shape(), &[2, 4]);
    assert!(max_diff(&j_u.to_vec(), &mat_times(&j_flat, &u.to_vec())) < 1e-15);
    assert_eq!(y.to_vec(), f(&Var::constant(x.clone())).value().to_vec());

    let v = rand(&[2, 4], 14);
    let (y2, v_j) = vjp(f, &x, &v);
    assert_eq!(v_j.shape(), &[2, 3]);
    assert!(max_diff(&v_j.to_vec(), &times_mat(&v.to_vec(), &j_flat)) < 1e-15);
    assert_eq!(y2.to_vec(), y.to_vec());

    // jvp is also the directional derivative d/dt f(x + t u) at t = 0.
    let along = |t: f64| no_grad(|| f(&Var::constant(x.add(&u.mul_scalar(t)))).value());
    let h = 1e-5;
    let numeric: Vec<f64> =
        along(h).to_vec().iter().zip(along(-h).to_vec()).map(|(p, m)| (p - m) / (2.0 * h)).collect();
    assert!(max_diff(&j_u.to_vec(), &numeric) < 1e-9);
}

#[test]
fn f32_works_and_agrees_with_f64() {
    let w64 = rand(&[3, 5], 15);
    let x64 = rand(&[5], 16);
    let v64 = rand(&[5], 17);
    let (w32, x32, v32) = (w64.cast::<f32>(), x64.cast::<f32>(), v64.cast::<f32>());
    let f64_loss = |x: &Var<f64>| matvec(&Var::constant(w64.clone()), x).tanh().sum_all();
    let f32_loss = |x: &Var<f32>| matvec(&Var::constant(w32.clone()), x).tanh().sum_all();
    let (_, hv64) = hvp(f64_loss, &x64, &v64);
    let (_, hv32) = hvp(f32_loss, &x32, &v32);
    assert!(hv32.cast::<f64>().max_abs_diff(&hv64) < 1e-5);
    let j32 = jacobian(|x: &Var<f32>| matvec(&Var::constant(w32.clone()), x).tanh(), &x32);
    let j64 = jacobian(|x: &Var<f64>| matvec(&Var::constant(w64.clone()), x).tanh(), &x64);
    assert_eq!(j32.shape(), &[3, 5]);
    assert!(j32.cast::<f64>().max_abs_diff(&j64) < 1e-6);
    let (_, ju32) = jvp(|x: &Var<f32>| x.tanh(), &x32, &v32);
    let (_, ju64) = jvp(|x: &Var<f64>| x.tanh(), &x64, &v64);
    assert!(ju32.cast::<f64>().max_abs_diff(&ju64) < 1e-6);
}

#[test]
fn a_function_that_ignores_or_is_linear_in_x_has_zero_derivatives_not_a_panic() {
    let x = rand(&[3], 18);
    let u = rand(&[3], 19);
    let c = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    let constant = |_: &Var<f64>| Var::constant(c.clone());
    assert_eq!(jacobian(constant, &x).to_vec(), vec![0.0; 6]);
    assert_eq!(jacobian(constant, &x).shape(), &[2, 3]);
    let (y, j_u) = jvp(constant, &x, &u);
    assert_eq!((y.to_vec(), j_u.to_vec()), (vec![1.0, 2.0], vec![0.0, 0.0]));
    assert_eq!(vjp(constant, &x, &c).1.to_vec(), vec![0.0; 3]);
    // Linear: the gradient is a constant, so every second derivative is 0.
    let linear = |x: &Var<f64>| x.sum_all().mul_scalar(3.0);
    assert_eq!(hessian(linear, &x).to_vec(), vec![0.0; 9]);
    assert_eq!(hvp(linear, &x, &u).1.to_vec(), vec![0.0; 3]);
    // The identity: J = I, J u = u, v^T J = v.
    let identity = |x: &Var<f64>| x.clone();
    assert_eq!(jacobian(identity, &x).to_vec(), Tensor::<f64>::eye(3).to_vec());
    assert_eq!(jvp(identity, &x, &u).1.to_vec(), u.to_vec());
    assert_eq!(vjp(identity, &x, &u).1.to_vec(), u.to_vec());
}

#[test]
fn they_record_what_they_need_even_inside_no_grad() {
    let x = rand(&[3], 20);
    let f = |x: &Var<f64>| x.tanh().mul(x).sum_all();
    let inside = no_grad(|| hessian(f, &x));
    assert_eq!(inside.to_vec(), hessian(f, &x).to_vec());
    assert!(inside.to_vec().iter().any(|v| *v != 0.0));
    let u = rand(&[3], 21);
    assert_eq!(no_grad(|| jvp(|x| x.tanh(), &x, &u)).1.to_vec(), jvp(|x| x.tanh(), &x, &u).1.to_vec());
    assert!(autograd::is_grad_enabled(), "the mode is restored");
}

#[test]
#[should_panic(expected = "tensor op 'vjp': v has shape [2] but the output f(x) has shape [3]")]
fn vjp_names_itself_and_both_shapes_on_a_mismatch() {
    vjp(|x: &Var<f64>| x.tanh(), &rand(&[3], 0), &rand(&[2], 0));
}

#[test]
#[should_panic(expected = "tensor op 'jvp': u has shape [3] but the input x has shape [2]")]
fn jvp_names_itself_and_both_shapes_on_a_mismatch() {
    jvp(|x: &Var<f64>| x.tanh(), &rand(&[2], 0), &rand(&[3], 0));
}

#[test]
#[should_panic(
    expected = "tensor op 'hessian': f must return one element, its output has shape [2] (the input x has shape [2])"
)]
fn hessian_names_itself_and_both_shapes_for_a_vector_output() {
    hessian(|x: &Var<f64>| x.tanh(), &rand(&[2], 0));
}

#[test]
#[should_panic(expected = "tensor op 'hvp': v has shape [2, 1] but the input x has shape [2]")]
fn hvp_names_itself_and_both_shapes_on_a_mismatch() {
    hvp(|x: &Var<f64>| x.tanh().sum_all(), &rand(&[2], 0), &rand(&[2, 1], 0));
}

#[test]
#[should_panic(expected = "tensor op 'hvp': f must return one element, its output has shape [2]")]
fn hvp_names_itself_for_a_vector_output() {
    hvp(|x: &Var<f64>| x.tanh(), &rand(&[2], 0), &rand(&[2], 0));
}
