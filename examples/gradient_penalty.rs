//! A gradient penalty (WGAN-GP): a loss on the gradient of a network with respect to its input.
//!
//! A Wasserstein GAN's critic `D` scores points: high on real data, low on generated ("fake")
//! data. Its loss is `mean D(fake) - mean D(real)`, and that is only meaningful if `D` is
//! 1-Lipschitz (its slope is at most 1 everywhere); otherwise the critic just scales itself up.
//! Gulrajani et al. (2017) enforce it softly by penalizing the input gradient's norm away from 1,
//! at random points `x_hat` on the segments between real and fake samples:
//!
//! ```text
//! x_hat   = eps * real + (1 - eps) * fake,                  eps ~ U(0, 1) per sample
//! penalty = mean over x_hat of (|dD(x_hat)/dx_hat|_2 - 1)^2
//! loss    = mean D(fake) - mean D(real) + lambda * penalty
//! ```
//!
//! The penalty is a function of a gradient, and training needs *its* gradient with respect to
//! the critic's parameters: a second derivative (d/dtheta of d/dx). So `dD/dx_hat` is computed
//! with `grad(&[&D(x_hat).sum()], &[&x_hat], true)`: with `create_graph` the gradient is a `Var`
//! in the graph, built from the parameters like any other value, and one ordinary `backward` of
//! the loss reaches the parameters through it. (Summing `D` over the batch first is fine: sample
//! `i`'s score depends only on row `i`, so row `i` of the gradient of the sum is `grad D(x_i)`.)
//!
//! Here the generator is left out: the fake points are a fixed distribution, and we train only
//! the critic, a 2-16-1 tanh MLP on points in the plane, with Adam. The input gradients start
//! small (the critic starts nearly flat) and move to norm 1 as the penalty falls.
//!
//! Run with `cargo run --release --example gradient_penalty`.

use autograd::{Var, grad};
use tensor::{Tensor, TensorRng, rng_from_seed};
use transformer::optim::{AdamW, Optimizer};
use transformer::{Init, Linear, Module, prefixed};

/// The penalty's weight, as in the paper.
const LAMBDA: f64 = 10.0;
/// Points of each kind per training step.
const BATCH: usize = 64;

/// The critic `D: R^2 -> R`, `l2(tanh(l1(x)))`.
struct Critic {
    l1: Linear<f64>,
    l2: Linear<f64>,
}

impl Critic {
    /// Xavier-initialized, with the output layer scaled down so the critic starts nearly flat
    /// (input gradients well below 1).
    fn new(seed: u64) -> Self {
        let mut rng = rng_from_seed(seed);
        let l1 = Linear::new(2, 16, true, Init::Xavier, &mut rng);
        let l2 = Linear::new(16, 1, true, Init::Xavier, &mut rng);
        l2.weight.update_value(|w| *w = w.mul_scalar(0.1));
        Critic { l1, l2 }
    }

    /// Scores, (B, 2) -> (B, 1).
    fn forward(&self, x: &Var<f64>) -> Var<f64> {
        self.l2.forward(&self.l1.forward(x).tanh())
    }
}

impl Module<f64> for Critic {
    fn named_parameters(&self) -> Vec<(String, Var<f64>)> {
        let mut p = prefixed("l1", self.l1.named_parameters());
        p.extend(prefixed("l2", self.l2.named_parameters()));
        p
    }
}

/// `n` points of a Gaussian blob of standard deviation 0.3 around `center`, (n, 2).
fn blob(center: [f64; 2], n: usize, rng: &mut TensorRng) -> Tensor<f64> {
    Tensor::rand_normal_with(&[n, 2], 0.0, 0.3, rng).add(&Tensor::from_vec(center.to_vec(), &[2]))
}

fn real(n: usize, rng: &mut TensorRng) -> Tensor<f64> {
    blob([2.0, 1.0], n, rng)
}

fn fake(n: usize, rng: &mut TensorRng) -> Tensor<f64> {
    blob([-1.0, -1.0], n, rng)
}

/// Random points on the segments between paired real and fake points.
fn interpolates(real: &Tensor<f64>, fake: &Tensor<f64>, rng: &mut TensorRng) -> Tensor<f64> {
    let eps = Tensor::rand_uniform_with(&[real.shape()[0], 1], 0.0, 1.0, rng);
    real.mul(&eps).add(&fake.mul(&eps.neg().add_scalar(1.0)))
}

/// `|dD(x)/dx|` for every row of `x_hat`, (B,), kept in the graph (or not) as `create_graph` says.
fn input_gradient_norms(critic: &Critic, x_hat: &Tensor<f64>, create_graph: bool) -> Var<f64> {
    let x = Var::parameter(x_hat.clone());
    let scores = critic.forward(&x).sum_all();
    let g = grad(&[&scores], &[&x], create_graph)[0].clone().expect("the scores depend on the input");
    g.mul(&g).sum(&[1], false).sqrt()
}

/// `mean((|dD(x_hat)/dx_hat| - 1)^2)`, differentiable with respect to the critic's parameters.
fn penalty(critic: &Critic, x_hat: &Tensor<f64>) -> Var<f64> {
    let off = input_gradient_norms(critic, x_hat, true).sub_scalar(1.0);
    off.mul(&off).mean_all()
}

/// One critic loss: `mean D(fake) - mean D(real) + lambda * penalty`, and its two parts.
fn critic_loss(critic: &Critic, real: &Tensor<f64>, fake: &Tensor<f64>, x_hat: &Tensor<f64>) -> (Var<f64>, f64, f64) {
    let d_real = critic.forward(&Var::constant(real.clone())).mean_all();
    let d_fake = critic.forward(&Var::constant(fake.clone())).mean_all();
    let gp = penalty(critic, x_hat);
    let loss = d_fake.sub(&d_real).add(&gp.mul_scalar(LAMBDA));
    let wasserstein = d_real.item() - d_fake.item();
    let gp_value = gp.item();
    (loss, wasserstein, gp_value)
}

/// The penalty and the mean input-gradient norm on a fixed set of interpolates.
fn measure(critic: &Critic, x_hat: &Tensor<f64>) -> (f64, f64) {
    let norms = input_gradient_norms(critic, x_hat, false).value();
    let off = norms.sub_scalar(1.0);
    (off.mul(&off).mean_all().item(), norms.mean_all().item())
}

/// Trains `critic` for `steps` Adam steps on fresh batches; `log(step, critic)` sees it before
/// every step and after the last.
fn train(critic: &Critic, steps: usize, seed: u64, mut log: impl FnMut(usize, &Critic, f64)) {
    let mut rng = rng_from_seed(seed);
    let mut opt = AdamW::adam(critic.parameters(), 1e-2);
    let mut wasserstein = f64::NAN;
    for step in 0..steps {
        log(step, critic, wasserstein);
        let (r, f) = (real(BATCH, &mut rng), fake(BATCH, &mut rng));
        let x_hat = interpolates(&r, &f, &mut rng);
        let (loss, w, _) = critic_loss(critic, &r, &f, &x_hat);
        wasserstein = w;
        opt.step(&loss.backward());
    }
    log(steps, critic, wasserstein);
}

/// A fixed set of interpolates to watch the penalty on.
fn watch_points() -> Tensor<f64> {
    let mut rng = rng_from_seed(99);
    let (r, f) = (real(256, &mut rng), fake(256, &mut rng));
    interpolates(&r, &f, &mut rng)
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn main() {
    heading("Why the input gradient needs create_graph");
    let critic = Critic::new(0);
    let x_hat = watch_points();
    let with_graph = penalty(&critic, &x_hat);
    let off = input_gradient_norms(&critic, &x_hat, false).sub_scalar(1.0);
    let without_graph = off.mul(&off).mean_all();
    println!("penalty = {:.5}", with_graph.item());
    println!("  with create_graph:    requires_grad = {} (backward reaches the critic)", with_graph.requires_grad());
    println!(
        "  without create_graph: requires_grad = {} (a constant: the critic could not learn from it)",
        without_graph.requires_grad()
    );
    let grads = with_graph.backward();
    println!("\nd penalty / d parameter, through the gradient:");
    for (name, p) in critic.named_parameters() {
        let shape = format!("{:?}", p.shape());
        match grads.get(&p) {
            Some(g) => {
                let norm = g.to_vec().iter().map(|v| v * v).sum::<f64>().sqrt();
                println!("  {name:<10} {shape:<8} |grad| = {norm:.5}");
            }
            None => println!("  {name:<10} {shape:<8} none: the output bias does not change the slope dD/dx"),
        }
    }

    heading("Training the critic: real blob at (2, 1), fake blob at (-1, -1)");
    println!("The penalty and mean |dD/dx| are measured on 256 fixed interpolates.\n");
    println!("  step   mean D(real) - mean D(fake)   penalty     mean |dD/dx|");
    train(&critic, 60, 1, |step, critic, w| {
        if step % 6 == 0 {
            let (gp, mean_norm) = measure(critic, &x_hat);
            let w = if w.is_nan() { "-".to_string() } else { format!("{w:.4}") };
            println!("  {step:>4}   {w:>27}   {gp:<10.5}  {mean_norm:.4}");
        }
    });
    println!(
        "\nThe mean slope rose from near 0 to about 1, overshot, and settled a little above it: the\n\
         penalty is soft, and trading a little of it for a larger score gap pays. The score gap\n\
         approaches the Wasserstein-1 distance between the blobs, for two blobs of the same shape the\n\
         distance of their centers, sqrt(13) = {:.2}: the most a 1-Lipschitz critic can reach (a\n\
         slope a bit above 1, and sampling noise, take the estimate a bit beyond it).",
        13f64.sqrt()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::{GradCheck, GradModeGuard};

    #[test]
    fn the_penalty_parameter_gradient_matches_finite_differences() {
        let critic = Critic::new(5);
        let x_hat = {
            let mut rng = rng_from_seed(6);
            let (r, f) = (real(8, &mut rng), fake(8, &mut rng));
            interpolates(&r, &f, &mut rng)
        };
        // GradCheck computes its finite differences under `no_grad`, where `grad` inside the
        // penalty would find nothing recorded: the guard turns recording back on inside.
        let report = GradCheck::default().check_vars(&critic.named_parameters(), || {
            let _recording = GradModeGuard::set(true);
            penalty(&critic, &x_hat)
        });
        match report {
            Ok(report) => assert_eq!(report.inputs.len(), 4),
            Err(failure) => panic!("{failure}"),
        }
    }

    #[test]
    fn without_create_graph_the_penalty_is_a_constant() {
        let critic = Critic::new(5);
        let x_hat = watch_points();
        assert!(!input_gradient_norms(&critic, &x_hat, false).requires_grad());
        assert!(penalty(&critic, &x_hat).requires_grad());
    }

    #[test]
    fn training_moves_the_input_gradient_norms_toward_one() {
        let critic = Critic::new(0);
        let x_hat = watch_points();
        let (gp_start, norm_start) = measure(&critic, &x_hat);
        train(&critic, 40, 1, |_, _, _| {});
        let (gp_end, norm_end) = measure(&critic, &x_hat);
        assert!(gp_end < 0.1 * gp_start, "penalty {gp_start:.4} -> {gp_end:.4}");
        assert!((norm_end - 1.0).abs() < 0.5 * (norm_start - 1.0).abs(), "mean norm {norm_start:.4} -> {norm_end:.4}");
    }
}
