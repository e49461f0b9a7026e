//! Newton's method, with the Hessian made by differentiating the gradient.
//!
//! The problem is small and strictly convex, in 4 dimensions:
//!
//! ```text
//! f(x) = sum_i exp(a_i . x) + |x|^2 / 2          (a_i: the 6 rows of a fixed matrix A)
//! grad f(x) = A^T e + x                          (e_i = exp(a_i . x))
//! H(x)      = A^T diag(e) A + I                  (positive definite: the I alone is)
//! ```
//!
//! Gradient descent steps along `-grad f`; Newton's method steps to the minimum of the local
//! quadratic model, `x <- x - H^-1 grad f`. Near the minimum its error squares at every step
//! (quadratic convergence: 1e-2, 1e-4, 1e-8, 1e-16), where gradient descent only multiplies the
//! error by a fixed factor, which is poor when the curvature differs a lot between directions.
//!
//! Newton needs the Hessian, and the engine computes it without a formula from us:
//! 1. `grad(&[&f], &[&x], true)` returns the gradient `g` as a `Var` *in the graph*
//!    (`create_graph`: backward's own ops are recorded), so `g` is a function of `x` like any other;
//! 2. each component `g_i` is a scalar, and `grad(&[&g_i], &[&x], false)` is row `i` of the
//!    Hessian, `d g_i / d x`.
//!
//! That is one backward pass per row: fine for 4 dimensions (for a large model one uses
//! Hessian-vector products instead and never forms H). Then `H d = g` is solved by a Cholesky
//! factorization, `H = L L^T`, written out below.
//!
//! Run with `cargo run --release --example newton`.

use autograd::{Var, grad};
use tensor::Tensor;

/// Dimensions of `x`.
const N: usize = 4;
/// Rows of `A`.
const M: usize = 6;

/// The fixed matrix `A`, (M, N).
fn a_matrix() -> Tensor<f64> {
    Tensor::from_vec(
        vec![
            0.9, -0.3, 0.5, 0.2, //
            -0.4, 0.8, 0.1, -0.6, //
            0.3, 0.4, -0.9, 0.5, //
            -0.7, -0.2, 0.3, 0.8, //
            0.5, 0.6, 0.4, -0.3, //
            0.1, -0.8, -0.5, -0.4,
        ],
        &[M, N],
    )
}

/// Where every run starts.
fn start() -> Vec<f64> {
    vec![1.0, -1.0, 0.5, 1.5]
}

/// `f(x) = sum(exp(A x)) + x.x / 2`, with `x` an (N, 1) column.
fn objective(x: &Var<f64>) -> Var<f64> {
    let a = Var::constant(a_matrix());
    let e = a.matmul(x).exp(); // (M, 1)
    e.sum_all().add(&x.mul(x).sum_all().mul_scalar(0.5))
}

fn column(x: &[f64]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(x.to_vec(), &[x.len(), 1]))
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The value, the gradient and the Hessian of `f` at `x`, all by the engine.
fn value_gradient_hessian(x: &[f64]) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
    let x = column(x);
    let f = objective(&x);
    // The gradient as a recorded Var, so it can be differentiated again.
    let g = grad(&[&f], &[&x], true)[0].clone().expect("f depends on x");
    let hessian = (0..N)
        .map(|i| {
            let g_i = g.narrow(0, i, 1).sum_all(); // the i-th component, as a one-element Var
            let row = grad(&[&g_i], &[&x], false)[0].clone().expect("g_i depends on x");
            row.value().to_vec()
        })
        .collect();
    (f.item(), g.value().to_vec(), hessian)
}

/// The value and the gradient only (plain backward), for gradient descent.
fn value_gradient(x: &[f64]) -> (f64, Vec<f64>) {
    let x = column(x);
    let f = objective(&x);
    let g = f.backward();
    (f.item(), g.get(&x).unwrap().to_vec())
}

/// The Hessian from the formula, `A^T diag(exp(A x)) A + I`, to check the engine's.
fn hessian_by_formula(x: &[f64]) -> Vec<Vec<f64>> {
    let a = a_matrix();
    let e: Vec<f64> = (0..M).map(|k| (0..N).map(|j| a.get(&[k, j]) * x[j]).sum::<f64>().exp()).collect();
    (0..N)
        .map(|i| {
            (0..N)
                .map(|j| (0..M).map(|k| a.get(&[k, i]) * e[k] * a.get(&[k, j])).sum::<f64>() + f64::from(i == j))
                .collect()
        })
        .collect()
}

/// Solves `H d = g` for a symmetric positive definite `H`: factor `H = L L^T` (Cholesky), then
/// solve `L y = g` top down and `L^T d = y` bottom up.
fn solve_spd(h: &[Vec<f64>], g: &[f64]) -> Vec<f64> {
    let n = g.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = h[i][i] - s;
                assert!(d > 0.0, "the Hessian is not positive definite");
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (h[i][j] - s) / l[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (g[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut d = vec![0.0; n];
    for i in (0..n).rev() {
        d[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * d[k]).sum::<f64>()) / l[i][i];
    }
    d
}

/// One line per iterate: step, value, gradient norm. Stops at `tol` or after `max_steps`.
struct Run {
    values: Vec<f64>,
    grad_norms: Vec<f64>,
}

fn newton(max_steps: usize, tol: f64) -> Run {
    let mut x = start();
    let mut run = Run { values: vec![], grad_norms: vec![] };
    for step in 0..=max_steps {
        let (f, g, h) = value_gradient_hessian(&x);
        run.values.push(f);
        run.grad_norms.push(norm(&g));
        if run.grad_norms[step] < tol || step == max_steps {
            break;
        }
        let d = solve_spd(&h, &g);
        x.iter_mut().zip(&d).for_each(|(x, d)| *x -= d);
    }
    run
}

fn gradient_descent(lr: f64, steps: usize) -> Run {
    let mut x = start();
    let mut run = Run { values: vec![], grad_norms: vec![] };
    for step in 0..=steps {
        let (f, g) = value_gradient(&x);
        run.values.push(f);
        run.grad_norms.push(norm(&g));
        if step < steps {
            x.iter_mut().zip(&g).for_each(|(x, g)| *x -= lr * g);
        }
    }
    run
}

/// The step sizes tried for gradient descent: the best one stands for "tuned".
const LEARNING_RATES: [f64; 10] = [0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5];

/// Gradient descent with the step size (from [`LEARNING_RATES`]) that ends with the smallest
/// gradient after `steps` steps.
fn tuned_gradient_descent(steps: usize) -> (f64, Run) {
    LEARNING_RATES
        .iter()
        .map(|&lr| (lr, gradient_descent(lr, steps)))
        .filter(|(_, run)| run.grad_norms.last().unwrap().is_finite())
        .min_by(|a, b| a.1.grad_norms.last().unwrap().total_cmp(b.1.grad_norms.last().unwrap()))
        .unwrap()
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn print_matrix(m: &[Vec<f64>]) {
    for row in m {
        println!("  [{}]", row.iter().map(|v| format!("{v:>9.5}")).collect::<Vec<_>>().join(" "));
    }
}

fn main() {
    heading("f(x) = sum(exp(A x)) + |x|^2 / 2, x in R^4");
    let x0 = start();
    let (f0, g0, h0) = value_gradient_hessian(&x0);
    println!("x0 = {x0:?}, f(x0) = {f0:.6}, grad f(x0) = {:.4?}", g0);
    println!("\nThe Hessian at x0, one row per gradient component, each by one more backward pass:");
    print_matrix(&h0);
    let by_formula = hessian_by_formula(&x0);
    let diff = h0.iter().flatten().zip(by_formula.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("Largest difference from the formula A^T diag(exp(A x)) A + I: {diff:.1e}");

    heading("Newton's method: x <- x - H^-1 grad f");
    println!("  step   f(x)                 |grad f|     |grad f| / |previous|^2");
    let run = newton(8, 1e-10);
    for (k, (f, g)) in run.values.iter().zip(&run.grad_norms).enumerate() {
        let ratio = if k == 0 { String::new() } else { format!("{:.3}", g / run.grad_norms[k - 1].powi(2)) };
        println!("  {k:>4}   {f:<20.15} {g:<12.3e} {ratio}");
    }
    println!(
        "\nOnce close, the exponent of the gradient norm doubles at each step: the last column stays\n\
         bounded (about ||H^-1|| times how fast H changes), which is what quadratic convergence means."
    );

    let steps = run.grad_norms.len() - 1;
    heading(&format!("Gradient descent, {steps} steps, with the best of {} step sizes", LEARNING_RATES.len()));
    println!("Step sizes tried: {LEARNING_RATES:?}; the best ends with the smallest gradient.\n");
    let (lr, gd) = tuned_gradient_descent(steps);
    println!("  step   f(x)                 |grad f|       (step size {lr})");
    for (k, (f, g)) in gd.values.iter().zip(&gd.grad_norms).enumerate() {
        println!("  {k:>4}   {f:<20.15} {g:<12.3e}");
    }
    println!(
        "\nEach step multiplies the gradient by about the same factor: linear convergence. Newton got\n\
         to {:.1e} in {steps} steps; gradient descent is at {:.1e}. Each Newton step costs {N} extra\n\
         backward passes (one per Hessian row) and a {N}x{N} solve; for 4 dimensions that is nothing.",
        run.grad_norms[steps], gd.grad_norms[steps]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(norms: &[f64]) -> String {
        norms.iter().map(|g| format!("{g:.3e}")).collect::<Vec<_>>().join(", ")
    }

    #[test]
    fn the_hessian_from_differentiating_the_gradient_is_the_formula() {
        for x in [start(), vec![0.0; N], vec![-0.5, 0.3, 0.2, -1.0]] {
            let (_, _, h) = value_gradient_hessian(&x);
            let expected = hessian_by_formula(&x);
            for (i, (row, want)) in h.iter().zip(&expected).enumerate() {
                for (j, (a, b)) in row.iter().zip(want).enumerate() {
                    assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "H[{i}][{j}] at {x:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn cholesky_solves_a_known_system() {
        let h = vec![vec![4.0, 2.0, 0.4], vec![2.0, 5.0, 1.0], vec![0.4, 1.0, 3.0]];
        let d = [1.0, -2.0, 0.5];
        let g: Vec<f64> = h.iter().map(|row| row.iter().zip(&d).map(|(a, b)| a * b).sum()).collect();
        let solved = solve_spd(&h, &g);
        assert!(solved.iter().zip(&d).all(|(a, b)| (a - b).abs() < 1e-14), "{solved:?}");
    }

    #[test]
    fn newton_converges_quadratically_and_gradient_descent_does_not_keep_up() {
        let run = newton(8, 1e-10);
        let norms = &run.grad_norms;
        let last = *norms.last().unwrap();
        assert!(last < 1e-10, "Newton did not converge in 8 steps: {}", show(norms));
        let steps = norms.len() - 1;
        // Once close (|g| < 0.1) and above rounding (1e-13), each norm is at most a constant
        // times the square of the one before; a linearly converging method fails this.
        let late: Vec<(f64, f64)> =
            norms.windows(2).map(|w| (w[0], w[1])).filter(|&(a, b)| a < 0.1 && b > 1e-13).collect();
        assert!(!late.is_empty(), "no late steps to look at: {}", show(norms));
        for (before, after) in late {
            assert!(after <= 2.0 * before * before, "not quadratic: {before:.3e} -> {after:.3e} in {}", show(norms));
        }
        // The values decrease at every step (f is convex and Newton's steps are good here).
        assert!(run.values.windows(2).all(|w| w[1] <= w[0]), "{:?}", run.values);

        let (lr, gd) = tuned_gradient_descent(steps);
        let gd_last = *gd.grad_norms.last().unwrap();
        assert!(
            gd_last > 1e-4,
            "gradient descent (lr {lr}) reached {gd_last:.3e} in {steps} steps: the comparison shows nothing"
        );
    }
}
