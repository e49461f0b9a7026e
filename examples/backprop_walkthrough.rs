//! Backprop by hand, then by the engine, then checked numerically.
//!
//! Part 1 is micrograd's neuron, `o = tanh(x1*w1 + x2*w2 + b)`, on one-number tensors, so every
//! value and gradient can be checked with pencil and paper. Part 2 runs the same neuron over a
//! batch of three inputs with tensors, where the shapes start to matter.
//!
//! Run with `cargo run --release --example backprop_walkthrough`.

use autograd::{GradCheck, Gradients, Var, dot, tape};
use tensor::Tensor;

/// A one-number leaf that needs a gradient, with a name for the printouts.
fn scalar(value: f64, name: &str) -> Var<f64> {
    Var::parameter(Tensor::scalar(value)).labeled(name)
}

/// The neuron's inputs and weights.
struct Neuron {
    x1: Var<f64>,
    w1: Var<f64>,
    x2: Var<f64>,
    w2: Var<f64>,
    b: Var<f64>,
}

/// Every intermediate value of the forward pass, named as on paper.
struct Forward {
    x1w1: Var<f64>,
    x2w2: Var<f64>,
    s: Var<f64>,
    n: Var<f64>,
    o: Var<f64>,
}

impl Neuron {
    fn forward(&self) -> Forward {
        let x1w1 = self.x1.mul(&self.w1).labeled("x1w1");
        let x2w2 = self.x2.mul(&self.w2).labeled("x2w2");
        let s = x1w1.add(&x2w2).labeled("s");
        let n = s.add(&self.b).labeled("n");
        let o = n.tanh().labeled("o");
        Forward { x1w1, x2w2, s, n, o }
    }

    fn leaves(&self) -> Vec<(String, Var<f64>)> {
        [&self.x1, &self.w1, &self.x2, &self.w2, &self.b].iter().map(|v| (v.label().unwrap(), (*v).clone())).collect()
    }
}

fn grad(grads: &Gradients<f64>, v: &Var<f64>) -> f64 {
    grads.get(v).expect("backward_retain_all keeps every gradient").item()
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn part_one() {
    heading("Part 1: one neuron, one number per value");
    println!(
        "We compute o = tanh(x1*w1 + x2*w2 + b) step by step. Each step is an op in the graph;\n\
         the engine records which values it read and how to send a gradient back to them."
    );
    let neuron = Neuron {
        x1: scalar(2.0, "x1"),
        w1: scalar(-3.0, "w1"),
        x2: scalar(0.0, "x2"),
        w2: scalar(1.0, "w2"),
        b: scalar(6.881_373_587_019_543, "b"), // chosen so that n = atanh(1/sqrt 2) ≈ 0.8814
    };
    let f = neuron.forward();
    let (x1, w1, x2, w2) = (neuron.x1.item(), neuron.w1.item(), neuron.x2.item(), neuron.w2.item());

    heading("Forward pass");
    let rows = [
        ("x1", &neuron.x1, "input".to_string()),
        ("w1", &neuron.w1, "weight".to_string()),
        ("x2", &neuron.x2, "input".to_string()),
        ("w2", &neuron.w2, "weight".to_string()),
        ("b", &neuron.b, "bias".to_string()),
        ("x1w1", &f.x1w1, format!("x1 * w1 = {x1} * {w1}")),
        ("x2w2", &f.x2w2, format!("x2 * w2 = {x2} * {w2}")),
        ("s", &f.s, "x1w1 + x2w2".to_string()),
        ("n", &f.n, "s + b".to_string()),
        ("o", &f.o, "tanh(n)".to_string()),
    ];
    for (name, var, how) in &rows {
        println!("  {name:>5} = {:>8.4}    {how}", var.item());
    }

    heading("The tape (the graph in the order it was computed)");
    println!("Each line is a node; `inputs` are the line numbers it was computed from.\n");
    print!("{}", tape(&f.o));

    heading("Backward pass");
    println!(
        "Backward starts with do/do = 1 and walks the tape from the bottom up. Each op turns the\n\
         gradient of its output into gradients of its inputs (the chain rule, one op at a time):\n\
         - add passes the gradient through unchanged to both inputs;\n\
         - mul sends each input the gradient times the *other* input;\n\
         - tanh multiplies by its derivative, 1 - tanh(n)^2 = 1 - o^2.\n"
    );
    // Keep every node's gradient, not only the leaves', so we can print them all.
    let grads = f.o.backward_retain_all();
    let o = f.o.item();
    let g_n = grad(&grads, &f.n);
    let g_s = grad(&grads, &f.s);
    let g_x1w1 = grad(&grads, &f.x1w1);
    let g_x2w2 = grad(&grads, &f.x2w2);
    let explained = [
        ("o", &f.o, "start here: do/do = 1".to_string()),
        ("n", &f.n, format!("o = tanh(n):  1 - o^2 = 1 - {o:.4}^2")),
        ("s", &f.s, format!("n = s + b:    do/dn = {g_n:.4}")),
        ("b", &neuron.b, format!("n = s + b:    do/dn = {g_n:.4}")),
        ("x1w1", &f.x1w1, format!("s = x1w1 + x2w2:  do/ds = {g_s:.4}")),
        ("x2w2", &f.x2w2, format!("s = x1w1 + x2w2:  do/ds = {g_s:.4}")),
        ("x1", &neuron.x1, format!("x1w1 = x1 * w1:  w1 * {g_x1w1:.4} = {w1} * {g_x1w1:.4}")),
        ("w1", &neuron.w1, format!("x1w1 = x1 * w1:  x1 * {g_x1w1:.4} = {x1} * {g_x1w1:.4}")),
        ("x2", &neuron.x2, format!("x2w2 = x2 * w2:  w2 * {g_x2w2:.4} = {w2} * {g_x2w2:.4}")),
        ("w2", &neuron.w2, format!("x2w2 = x2 * w2:  x2 * {g_x2w2:.4} = {x2} * {g_x2w2:.4}")),
    ];
    println!("  {:>5}   {:>8}   by the chain rule", "node", "do/dnode");
    for (name, var, why) in &explained {
        println!("  {name:>5}   {:>8.4}   {why}", grad(&grads, var));
    }
    println!(
        "\nNote do/dw2 = 0: w2 is multiplied by x2 = 0, so nudging w2 changes nothing. And\n\
         x1 and w1 swap roles: each one's gradient is the other's value times do/dx1w1."
    );

    heading("The tape again, with the norm of each gradient");
    print!("{}", tape(&f.o).with_gradients(&grads));

    heading("Checking every gradient numerically");
    println!(
        "For each leaf v, nudge it by ±eps and watch o: (o(v + eps) - o(v - eps)) / (2 eps)\n\
         approximates do/dv. If backward is right, the two agree to many digits.\n"
    );
    let check = GradCheck::default();
    match check.check_vars(&neuron.leaves(), || neuron.forward().o) {
        Ok(report) => print!("{report}"),
        Err(failure) => panic!("{failure}"),
    }
    println!("(tolerance: |analytic - numeric| <= {:e} + {:e} * |numeric|)", check.atol, check.rtol);

    let path = std::env::temp_dir().join("backprop_walkthrough.dot");
    match std::fs::write(&path, dot(&f.o).with_gradients(&grads).to_string()) {
        Ok(()) => println!(
            "\nThe graph, in Graphviz's DOT language, is in {}.\nDraw it with: dot -Tsvg {} -o neuron.svg",
            path.display(),
            path.display()
        ),
        Err(e) => println!("\n(could not write the DOT file {}: {e})", path.display()),
    }
}

fn part_two() {
    heading("Part 2: the same neuron over a batch, with tensors");
    println!(
        "Now X holds three inputs, one per row, and the neuron computes all three outputs at once:\n\
         o = tanh(X @ w + b), X: (3, 2), w: (2, 1), b: (1) broadcast over the rows, o: (3, 1).\n\
         The loss is the mean of the three outputs. X is data (a constant): it gets no gradient.\n"
    );
    // The first row is part 1's input; the other two keep tanh away from saturation.
    let x = Var::constant(Tensor::from_vec(vec![2.0, 0.0, 2.5, 1.0, 1.5, -1.0], &[3, 2])).labeled("X");
    let w = Var::parameter(Tensor::from_vec(vec![-3.0, 1.0], &[2, 1])).labeled("w");
    let b = Var::parameter(Tensor::from_vec(vec![6.881_373_587_019_543], &[1])).labeled("b");
    let forward = || {
        let z = x.matmul(&w).labeled("X@w"); // (3, 1)
        let n = z.add(&b).labeled("n"); // (3, 1) + (1) -> (3, 1)
        let o = n.tanh().labeled("o"); // (3, 1)
        let loss = o.mean_all().labeled("loss"); // ()
        (n, loss)
    };
    let (n, loss) = forward();
    let grads = loss.backward_retain_all();
    print!("{}", tape(&loss).with_gradients(&grads));
    println!("\nn = {}", n.value());
    println!("loss = {:.4}\n", loss.item());
    println!("dloss/dn = (1 - o^2) / 3, one entry per row (the mean divides by 3):\n{:.4}\n", grads.get(&n).unwrap());
    println!("dloss/dw = X^T @ dloss/dn, the same shape as w:\n{:.4}\n", grads.get(&w).unwrap());
    println!(
        "dloss/db: b was copied to all 3 rows (broadcast), so its gradient is the sum of the rows'\n\
         gradients, {:.4} = {:.4}\n",
        grads.get(&n).unwrap().sum_all().item(),
        grads.get(&b).unwrap()
    );
    println!("X is a constant, so it got no gradient: {}", grads.get(&x).is_none());
    drop((n, loss));

    println!("\nNumerical check of w and b:\n");
    let leaves = [("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
    match GradCheck::default().check_vars(&leaves, || forward().1) {
        Ok(report) => print!("{report}"),
        Err(failure) => panic!("{failure}"),
    }
}

fn main() {
    part_one();
    part_two();
}
