//! End to end: a small MLP learns to separate two interleaved half-moons.
//!
//! Everything a training loop needs is written here in plain sight: the seeded data, the
//! layers as `x W + b`, the cross-entropy loss, and the SGD update through `update_value`.
//! If any op's backward were wrong, the loss would not go down and the accuracy would not reach
//! 95%. A linear classifier trained the same way stays below 95% on this data (the test checks
//! it), so reaching it takes the hidden layers learning a curved boundary.

use std::f64::consts::PI;

use autograd::{Var, no_grad};
use tensor::{Tensor, TensorRng, rng_from_seed, standard_normal};

const POINTS: usize = 200;
const NOISE: f64 = 0.1;
const STEPS: usize = 1500;

/// Two interleaved half circles (scikit-learn's `make_moons`): class 0 is the upper moon
/// centred at (0, 0), class 1 the lower one centred at (1, 0.5). Returns inputs (N, 2),
/// standardized to zero mean and unit variance per feature, and labels (N).
fn two_moons(rng: &mut TensorRng) -> (Tensor<f32>, Vec<usize>) {
    let mut xs = Vec::with_capacity(POINTS * 2);
    let mut labels = Vec::with_capacity(POINTS);
    for i in 0..POINTS {
        let class = i % 2;
        let t = PI * (i / 2) as f64 / (POINTS / 2 - 1) as f64;
        let (x, y) = if class == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        xs.push(x + NOISE * standard_normal(rng));
        xs.push(y + NOISE * standard_normal(rng));
        labels.push(class);
    }
    for feature in 0..2 {
        let column: Vec<f64> = xs.iter().skip(feature).step_by(2).copied().collect();
        let mean = column.iter().sum::<f64>() / POINTS as f64;
        let std = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / POINTS as f64).sqrt();
        for v in xs.iter_mut().skip(feature).step_by(2) {
            *v = (*v - mean) / std;
        }
    }
    (Tensor::from_vec(xs.into_iter().map(|v| v as f32).collect(), &[POINTS, 2]), labels)
}

/// `y = x W + b`, x: (N, in) -> y: (N, out), initialized with Xavier-normal weights (suits tanh).
struct Linear {
    w: Var<f32>,
    b: Var<f32>,
}

impl Linear {
    fn new(fan_in: usize, fan_out: usize, rng: &mut TensorRng) -> Self {
        let std = (2.0 / (fan_in + fan_out) as f32).sqrt();
        Linear {
            w: Var::parameter(Tensor::rand_normal_with(&[fan_in, fan_out], 0.0, std, rng)),
            b: Var::parameter(Tensor::zeros(&[fan_out])),
        }
    }

    fn forward(&self, x: &Var<f32>) -> Var<f32> {
        &x.matmul(&self.w) + &self.b
    }
}

/// 2 -> 16 -> 16 -> 2, tanh between layers; outputs are the logits of the two classes.
struct Mlp {
    layers: [Linear; 3],
}

impl Mlp {
    fn new(rng: &mut TensorRng) -> Self {
        Mlp { layers: [Linear::new(2, 16, rng), Linear::new(16, 16, rng), Linear::new(16, 2, rng)] }
    }

    fn forward(&self, x: &Var<f32>) -> Var<f32> {
        let h = self.layers[0].forward(x).tanh(); // (N, 16)
        let h = self.layers[1].forward(&h).tanh(); // (N, 16)
        self.layers[2].forward(&h) // (N, 2)
    }

    fn parameters(&self) -> Vec<&Var<f32>> {
        self.layers.iter().flat_map(|l| [&l.w, &l.b]).collect()
    }
}

/// Trains `forward` on (x, labels) with full-batch SGD; returns the final loss.
fn train(
    forward: impl Fn(&Var<f32>) -> Var<f32>,
    params: &[&Var<f32>],
    x: &Var<f32>,
    labels: &[usize],
    steps: usize,
) -> f32 {
    let lr = 0.5f32;
    let mut loss_value = f32::NAN;
    for _ in 0..steps {
        let loss = forward(x).cross_entropy(labels, None);
        let grads = loss.backward();
        loss_value = loss.item();
        drop(loss); // frees the graph, so the updates below happen in place
        // Plain SGD: w <- w - lr * dL/dw.
        for p in params {
            let g = grads.get(p).expect("every parameter gets a gradient").to_vec();
            p.update_value(|w| w.data_mut().iter_mut().zip(&g).for_each(|(w, g)| *w -= lr * g));
        }
    }
    loss_value
}

fn accuracy(logits: &Tensor<f32>, labels: &[usize]) -> f64 {
    let predicted = logits.argmax(-1, false).to_vec();
    let right = predicted.iter().zip(labels).filter(|&(&p, &l)| p as usize == l).count();
    right as f64 / labels.len() as f64
}

#[test]
fn mlp_learns_two_moons() {
    let mut rng = rng_from_seed(42);
    let (inputs, labels) = two_moons(&mut rng);
    let x = Var::constant(inputs);
    let model = Mlp::new(&mut rng);

    let initial_loss = model.forward(&x).cross_entropy(&labels, None).item();
    let final_loss = train(|x| model.forward(x), &model.parameters(), &x, &labels, STEPS);
    let acc = accuracy(&no_grad(|| model.forward(&x)).value(), &labels);
    eprintln!("mlp: loss {initial_loss} -> {final_loss}, train accuracy {acc}");
    assert!(final_loss < 0.25 * initial_loss, "loss only went from {initial_loss} to {final_loss}");
    assert!(acc >= 0.95, "train accuracy {acc} (loss {final_loss})");

    // The same training for a linear classifier falls short: the data needs the hidden layers.
    let linear = Linear::new(2, 2, &mut rng);
    train(|x| linear.forward(x), &[&linear.w, &linear.b], &x, &labels, STEPS);
    let linear_acc = accuracy(&no_grad(|| linear.forward(&x)).value(), &labels);
    eprintln!("linear: train accuracy {linear_acc}");
    assert!(linear_acc < 0.95, "a linear model reached {linear_acc}: the problem is too easy to test anything");
}
