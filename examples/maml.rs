//! MAML: learning a starting point that adapts well in one gradient step.
//!
//! Each task is a sine wave, `y = A sin(x + phase)`, with its own amplitude and phase (the toy
//! problem of the MAML paper, Finn et al. 2017). A task comes with a few training points (the
//! support set) and some test points (the query set). Model-agnostic meta-learning looks for
//! parameters `theta` such that *one* gradient step on a task's training points gives parameters
//! that do well on its test points:
//!
//! ```text
//! inner step:   theta' = theta - alpha * grad L_train(theta)
//! outer loss:   L_test(theta')
//! meta-gradient d L_test(theta') / d theta = (I - alpha H_train(theta)) grad L_test(theta')
//! ```
//!
//! The meta-gradient goes *through* the inner step, and `theta'` depends on `theta` through
//! `grad L_train(theta)`: differentiating it brings in the Hessian `H_train`, a second derivative.
//! So the inner gradient is computed with `grad(&[&l_train], &[&theta], true)` (`create_graph`):
//! the gradient is a `Var` recorded in the graph, `theta'` is an ordinary expression in `theta`,
//! and a plain `backward` from `L_test(theta')` gives the exact meta-gradient. Without the graph
//! one gets first-order MAML (FOMAML), which drops the `alpha H_train` term: `grad L_test(theta')`.
//!
//! The paper's model is a small MLP. Here it is linear in fixed features,
//! `f(x) = theta_0 sin x + theta_1 cos x + theta_2` (a sine of any amplitude and phase is
//! `A cos(phase) sin x + A sin(phase) cos x`), so the losses are quadratic in `theta`, `H_train` is
//! the constant `(2 / K) Phi^T Phi`, and the meta-gradient has the closed form above to check the
//! engine against.
//!
//! Run with `cargo run --release --example maml`.

use autograd::{Var, grad};
use tensor::{Tensor, TensorRng, rng_from_seed};

/// Inner-loop step size.
const ALPHA: f64 = 0.25;
/// Training points per task (the "K" of K-shot regression).
const K_TRAIN: usize = 5;
/// Test points per task.
const K_TEST: usize = 10;

/// One regression task: points of `A sin(x + phase)`, as feature rows `[sin x, cos x, 1]`.
struct Task {
    amplitude: f64,
    phase: f64,
    train: (Tensor<f64>, Tensor<f64>),
    test: (Tensor<f64>, Tensor<f64>),
}

/// `n` points of the wave with `x` uniform in [-5, 5): features (n, 3), targets (n, 1).
fn points(amplitude: f64, phase: f64, n: usize, rng: &mut TensorRng) -> (Tensor<f64>, Tensor<f64>) {
    let xs = Tensor::<f64>::rand_uniform_with(&[n], -5.0, 5.0, rng).to_vec();
    let features = xs.iter().flat_map(|&x| [x.sin(), x.cos(), 1.0]).collect();
    let targets = xs.iter().map(|&x| amplitude * (x + phase).sin()).collect();
    (Tensor::from_vec(features, &[n, 3]), Tensor::from_vec(targets, &[n, 1]))
}

/// A task with amplitude in [0.1, 5) and phase in [0, pi), as in the paper.
fn sample_task(rng: &mut TensorRng) -> Task {
    let ap = Tensor::<f64>::rand_uniform_with(&[2], 0.0, 1.0, rng).to_vec();
    let (amplitude, phase) = (0.1 + 4.9 * ap[0], std::f64::consts::PI * ap[1]);
    let train = points(amplitude, phase, K_TRAIN, rng);
    let test = points(amplitude, phase, K_TEST, rng);
    Task { amplitude, phase, train, test }
}

/// Mean squared error of the model `features @ theta` on one set of points.
fn loss(theta: &Var<f64>, (features, targets): &(Tensor<f64>, Tensor<f64>)) -> Var<f64> {
    let err = Var::constant(features.clone()).matmul(theta).sub(&Var::constant(targets.clone()));
    err.mul(&err).mean_all()
}

/// The inner step, kept in the graph: `theta' = theta - alpha grad L_train(theta)`.
fn adapt(theta: &Var<f64>, task: &Task) -> Var<f64> {
    let l_train = loss(theta, &task.train);
    let g = grad(&[&l_train], &[theta], true)[0].clone().expect("the loss depends on theta");
    theta.sub(&g.mul_scalar(ALPHA))
}

/// The meta-gradient of one task by the engine: backward from `L_test(theta')` to `theta`.
fn meta_gradient(theta: &[f64], task: &Task) -> (f64, Tensor<f64>) {
    let theta = Var::parameter(Tensor::from_vec(theta.to_vec(), &[3, 1]));
    let l_test = loss(&adapt(&theta, task), &task.test);
    let g = l_test.backward();
    (l_test.item(), g.get(&theta).unwrap().clone())
}

/// `grad L(theta) = (2 / n) Phi^T (Phi theta - y)` and `H = (2 / n) Phi^T Phi`, on plain tensors.
fn gradient_and_hessian(theta: &Tensor<f64>, (phi, y): &(Tensor<f64>, Tensor<f64>)) -> (Tensor<f64>, Tensor<f64>) {
    let scale = 2.0 / phi.shape()[0] as f64;
    let g = phi.mt().matmul(&phi.matmul(theta).sub(y)).mul_scalar(scale);
    (g, phi.mt().matmul(phi).mul_scalar(scale))
}

/// First-order MAML's meta-gradient, `grad L_test(theta')`, and the exact one by the closed form,
/// `(I - alpha H_train) grad L_test(theta')`.
fn closed_forms(theta: &[f64], task: &Task) -> (Tensor<f64>, Tensor<f64>) {
    let theta = Tensor::from_vec(theta.to_vec(), &[3, 1]);
    let (g_train, h_train) = gradient_and_hessian(&theta, &task.train);
    let adapted = theta.sub(&g_train.mul_scalar(ALPHA));
    let (first_order, _) = gradient_and_hessian(&adapted, &task.test);
    let exact = Tensor::eye(3).sub(&h_train.mul_scalar(ALPHA)).matmul(&first_order);
    (first_order, exact)
}

/// Mean test loss over `tasks`, after one inner step from `theta` (and, for comparison, before).
fn evaluate(theta: &[f64], tasks: &[Task]) -> (f64, f64) {
    let theta = Var::parameter(Tensor::from_vec(theta.to_vec(), &[3, 1]));
    let n = tasks.len() as f64;
    let before: f64 = tasks.iter().map(|t| loss(&theta, &t.test).item()).sum();
    let after: f64 = tasks.iter().map(|t| loss(&adapt(&theta, t), &t.test).item()).sum();
    (before / n, after / n)
}

/// Meta-training: each outer step averages the meta-gradient over `batch` fresh tasks and takes a
/// plain gradient step of size `beta` on `theta`. Returns the final `theta`.
fn meta_train(
    mut theta: Vec<f64>,
    steps: usize,
    batch: usize,
    beta: f64,
    seed: u64,
    mut log: impl FnMut(usize, &[f64]),
) -> Vec<f64> {
    let mut rng = rng_from_seed(seed);
    for step in 0..steps {
        log(step, &theta);
        let mut g = [0.0; 3];
        for _ in 0..batch {
            let (_, task_grad) = meta_gradient(&theta, &sample_task(&mut rng));
            g.iter_mut().zip(task_grad.to_vec()).for_each(|(g, t)| *g += t / batch as f64);
        }
        theta.iter_mut().zip(g).for_each(|(p, g)| *p -= beta * g);
    }
    log(steps, &theta);
    theta
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn show(t: &Tensor<f64>) -> String {
    format!("[{}]", t.to_vec().iter().map(|v| format!("{v:>9.5}")).collect::<Vec<_>>().join(" "))
}

fn main() {
    heading("One task, one inner step");
    let mut rng = rng_from_seed(1);
    let task = sample_task(&mut rng);
    let theta0 = vec![0.5, -0.5, 0.2];
    println!(
        "Task: y = {:.3} sin(x + {:.3}), {K_TRAIN} training and {K_TEST} test points. theta = {theta0:?}.",
        task.amplitude, task.phase
    );
    let theta = Var::parameter(Tensor::from_vec(theta0.clone(), &[3, 1]));
    let l_train = loss(&theta, &task.train);
    let g = grad(&[&l_train], &[&theta], true)[0].clone().unwrap();
    let adapted = theta.sub(&g.mul_scalar(ALPHA));
    println!("  L_train(theta)        = {:.5}", l_train.item());
    println!(
        "  grad L_train(theta)   = {}   (a Var in the graph: requires_grad = {})",
        show(&g.value()),
        g.requires_grad()
    );
    println!("  theta' = theta - {ALPHA} grad = {}", show(&adapted.value()));
    println!("  L_test(theta)         = {:.5}", loss(&theta, &task.test).item());
    println!(
        "  L_test(theta')        = {:.5}   (one step on 5 points helps on the other 10)",
        loss(&adapted, &task.test).item()
    );

    heading("The meta-gradient d L_test(theta') / d theta");
    let (_, by_engine) = meta_gradient(&theta0, &task);
    let (first_order, exact) = closed_forms(&theta0, &task);
    println!("  backward through the inner step         {}", show(&by_engine));
    println!("  closed form (I - alpha H) grad L_test   {}", show(&exact));
    println!("  first-order MAML: grad L_test(theta')   {}", show(&first_order));
    println!(
        "\nThe engine matches the closed form to {:.1e}. First-order MAML is off by {:.3}: it\n\
         ignores that theta' moves when theta does, the alpha H_train term.",
        by_engine.max_abs_diff(&exact),
        by_engine.max_abs_diff(&first_order)
    );

    heading("Meta-training: 300 outer steps of 5 tasks each");
    let eval_tasks: Vec<Task> = {
        let mut rng = rng_from_seed(2);
        (0..50).map(|_| sample_task(&mut rng)).collect()
    };
    println!("Mean test loss over 50 held-out tasks, at theta itself and after one inner step from it:\n");
    println!("  outer step   theta                          at theta   after one step");
    let theta = meta_train(theta0, 300, 5, 0.05, 3, |step, theta| {
        if step % 50 == 0 {
            let (before, after) = evaluate(theta, &eval_tasks);
            let t: Vec<String> = theta.iter().map(|v| format!("{v:>8.4}")).collect();
            println!("  {step:>10}   [{}]   {before:>8.4}   {after:>14.4}", t.join(" "));
        }
    });
    println!(
        "\nThe loss after one inner step fell from {:.2} to {:.2}. For a model linear in theta the\n\
         meta-learned start, {theta:.3?}, lies near the average task's coefficients,\n\
         (E[A cos(phase)], E[A sin(phase)], 0) = (0, {:.3}, 0): one step from there has the least\n\
         far to go. (With the first-order meta-gradient instead, the same loop is FOMAML.)",
        evaluate(&[0.5, -0.5, 0.2], &eval_tasks).1,
        evaluate(&theta, &eval_tasks).1,
        2.55 * 2.0 / std::f64::consts::PI
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_gradient_is_the_closed_form_and_not_the_first_order_one() {
        let mut rng = rng_from_seed(10);
        for (i, theta) in [[0.5, -0.5, 0.2], [0.0, 0.0, 0.0], [2.0, 1.0, -1.0], [-1.0, 3.0, 0.5]].iter().enumerate() {
            let task = sample_task(&mut rng);
            let (l_test, by_engine) = meta_gradient(theta, &task);
            let (first_order, exact) = closed_forms(theta, &task);
            let scale = exact.to_vec().iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            assert!(
                by_engine.max_abs_diff(&exact) < 1e-12 * scale,
                "case {i}: engine {by_engine} vs closed form {exact} (L_test {l_test})"
            );
            let gap = exact.max_abs_diff(&first_order);
            assert!(gap > 1e-2 * scale, "case {i}: the second-order term is too small to tell ({gap:.2e})");
        }
    }

    #[test]
    fn without_create_graph_the_meta_gradient_would_be_first_order() {
        // The same computation with the inner gradient detached (what create_graph = false
        // gives) is exactly first-order MAML: the test above would catch a missing graph.
        let task = sample_task(&mut rng_from_seed(11));
        let theta = Var::parameter(Tensor::from_vec(vec![0.3, -0.2, 0.1], &[3, 1]));
        let g = grad(&[&loss(&theta, &task.train)], &[&theta], false)[0].clone().unwrap();
        assert!(!g.requires_grad());
        let l_test = loss(&theta.sub(&g.mul_scalar(ALPHA)), &task.test);
        let fomaml = l_test.backward().get(&theta).unwrap().clone();
        let (first_order, _) = closed_forms(&[0.3, -0.2, 0.1], &task);
        assert!(fomaml.max_abs_diff(&first_order) < 1e-12, "{fomaml} vs {first_order}");
    }

    #[test]
    fn meta_training_lowers_the_loss_after_adaptation() {
        let eval_tasks: Vec<Task> = {
            let mut rng = rng_from_seed(20);
            (0..30).map(|_| sample_task(&mut rng)).collect()
        };
        let theta0 = vec![0.5, -0.5, 0.2];
        let (_, start) = evaluate(&theta0, &eval_tasks);
        let theta = meta_train(theta0, 100, 5, 0.05, 21, |_, _| {});
        let (_, end) = evaluate(&theta, &eval_tasks);
        assert!(end < 0.8 * start, "post-adaptation loss {start:.4} -> {end:.4}");
    }
}
