//! Watching backward work: a gradient hook on every variable of a small network.
//!
//! [`Var::register_hook`] attaches a function that backward calls with a variable's gradient
//! once that gradient is complete, just before backward passes it on to the op that made the
//! variable (PyTorch's `Tensor.register_hook`). A hook may return a replacement gradient (to
//! clip it, zero it, log it...; `autograd/tests/hooks.rs` tests that); here every hook only
//! looks: it prints the variable's name, shape and gradient norm, and returns `None`.
//!
//! The network is a 2-layer MLP on the four XOR points, written with `Var`s directly so that
//! every intermediate value has a name:
//!
//! ```text
//! xw1 = x @ w1        z1 = xw1 + b1      h = tanh(z1)
//! hw2 = h @ w2        out = hw2 + b2     err = out - y     sq = err * err     mse = mean(sq)
//! w1sq = w1 * w1      w1ss = sum(w1sq)   decay = 0.01 * w1ss                  loss = mse + decay
//! ```
//!
//! The order in which the hooks fire is the order of backward's walk: reverse topological order,
//! every variable after all the variables computed from it (its consumers). It has to be: a
//! variable's gradient is the sum of what each consumer sends it, so it is complete only after
//! the last consumer has been visited. `w1` shows this: it is used twice (by the matmul and by the
//! weight decay), and its hook fires once, with the sum, after both. The input `x` is a constant:
//! backward never reaches it, and `register_hook` refuses it (it would never fire). Each
//! registration returns a handle whose `remove` takes the hook off again.
//!
//! The hooks see the gradients of intermediate values that [`Var::backward`] does not keep (it
//! frees each one as soon as it has been passed on): the same numbers that
//! [`Var::backward_retain_all`] keeps, at the cost of holding them all.
//!
//! Run with `cargo run --release --example hooks`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use autograd::{HookHandle, NodeId, Var, topological_order};
use tensor::Tensor;

/// What one hook saw.
#[derive(Clone)]
struct Seen {
    name: String,
    id: NodeId,
    grad: Tensor<f64>,
}

/// The hooks' shared notebook: what they saw, in firing order, and whether they also print it.
#[derive(Default)]
struct Watch {
    seen: RefCell<Vec<Seen>>,
    print: Cell<bool>,
}

fn norm(t: &Tensor<f64>) -> f64 {
    t.to_vec().iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The MLP's parameters, 2 -> 3 -> 1, with fixed starting values so the printout is reproducible.
struct Mlp {
    w1: Var<f64>,
    b1: Var<f64>,
    w2: Var<f64>,
    b2: Var<f64>,
}

impl Mlp {
    fn new() -> Self {
        let p = |values: Vec<f64>, shape: &[usize], name: &str| {
            Var::parameter(Tensor::from_vec(values, shape)).labeled(name)
        };
        Mlp {
            w1: p(vec![0.5, -0.4, 0.9, -0.7, 0.6, 0.8], &[2, 3], "w1"),
            b1: p(vec![0.1, -0.1, 0.0], &[3], "b1"),
            w2: p(vec![0.7, -0.5, 0.3], &[3, 1], "w2"),
            b2: p(vec![0.05], &[1], "b2"),
        }
    }
}

/// The forward pass: every variable it touches, in the order computed (parameters and the input
/// first), and the loss.
struct Forward {
    vars: Vec<Var<f64>>,
    loss: Var<f64>,
}

fn forward(net: &Mlp) -> Forward {
    // The four XOR points and their targets: data, so constants.
    let x = Var::constant(Tensor::from_vec(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2])).labeled("x");
    let y = Var::constant(Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0], &[4, 1])).labeled("y");
    let xw1 = x.matmul(&net.w1).labeled("xw1"); // (4, 3)
    let z1 = xw1.add(&net.b1).labeled("z1"); // (4, 3) + (3) broadcast over the rows
    let h = z1.tanh().labeled("h");
    let hw2 = h.matmul(&net.w2).labeled("hw2"); // (4, 1)
    let out = hw2.add(&net.b2).labeled("out");
    let err = out.sub(&y).labeled("err");
    let sq = err.mul(&err).labeled("sq");
    let mse = sq.mean_all().labeled("mse");
    let w1sq = net.w1.mul(&net.w1).labeled("w1sq"); // w1's second use
    let w1ss = w1sq.sum_all().labeled("w1ss");
    let decay = w1ss.mul_scalar(0.01).labeled("decay");
    let loss = mse.add(&decay).labeled("loss");
    let vars = vec![
        x,
        net.w1.clone(),
        net.b1.clone(),
        net.w2.clone(),
        net.b2.clone(),
        xw1,
        z1,
        h,
        hw2,
        out,
        err,
        sq,
        mse,
        w1sq,
        w1ss,
        decay,
        loss.clone(),
    ];
    Forward { vars, loss }
}

/// Registers on each variable that requires a gradient a hook that notes what flows into it (and
/// prints it, when the watch says so). Every hook returns `None`: the gradient goes on unchanged.
/// A constant (the data `x`) gets none: no gradient ever reaches it, and `register_hook` refuses
/// it. Returns the notebook and the handles that remove the hooks again.
fn watch(vars: &[Var<f64>], print: bool) -> (Rc<Watch>, Vec<HookHandle<f64>>) {
    let watch = Rc::new(Watch::default());
    watch.print.set(print);
    let mut handles = Vec::new();
    for v in vars.iter().filter(|v| v.requires_grad()) {
        let name = v.label().expect("every variable is labelled");
        let id = v.id();
        let watch = Rc::clone(&watch);
        let handle = v.register_hook(move |g| {
            let mut log = watch.seen.borrow_mut();
            let grad = g.value();
            if watch.print.get() {
                println!(
                    "  {:>2}. {name:<6} shape {:<8} |grad| = {:.6}",
                    log.len() + 1,
                    format!("{:?}", grad.shape()),
                    norm(&grad)
                );
            }
            log.push(Seen { name: name.clone(), id, grad });
            None
        });
        handles.push(handle);
    }
    (watch, handles)
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn main() {
    heading("A 2-layer MLP on the four XOR points");
    let net = Mlp::new();
    let f = forward(&net);
    println!("The forward pass, in the order it computed its values:\n");
    for v in &f.vars {
        let kind = match v.op_name() {
            Some(op) => {
                let inputs: Vec<String> = v.inputs().iter().map(|i| i.label().unwrap_or_default()).collect();
                format!("{op}({})", inputs.join(", "))
            }
            None if v.requires_grad() => "parameter".to_string(),
            None => "constant".to_string(),
        };
        println!("  {:<6} {:<8} {kind}", v.label().unwrap(), format!("{:?}", v.shape()));
    }
    println!("\nloss = {:.6}", f.loss.item());

    heading("Backward, as the hooks see it");
    println!("A hook on each of the {} variables prints the gradient flowing into it:\n", f.vars.len());
    let (notebook, handles) = watch(&f.vars, true);
    let grads = f.loss.backward();
    let seen = notebook.seen.take();

    heading("Why this order");
    let position = |name: &str| seen.iter().position(|s| s.name == name).map(|p| p + 1);
    println!(
        "Backward visits each variable after every variable computed from it: reverse topological\n\
         order. A variable's gradient is the sum over its consumers, so it is ready only then.\n"
    );
    println!(
        "  w1 has two consumers, xw1 (step {}) and w1sq (step {}); its hook fired once, at step {},\n\
         \x20 with the sum of both contributions.",
        position("xw1").unwrap(),
        position("w1sq").unwrap(),
        position("w1").unwrap()
    );
    println!(
        "  x is a constant: backward never reaches it, so it has no hook ({} of {} variables fired).",
        seen.len(),
        f.vars.len()
    );
    let reversed: Vec<NodeId> = topological_order(&f.loss).iter().rev().map(Var::id).collect();
    println!(
        "  The firing order is the engine's topological_order(&loss), reversed: {}.",
        reversed == seen.iter().map(|s| s.id).collect::<Vec<_>>()
    );

    heading("What the hooks saw that backward() did not keep");
    let kept: Vec<String> = f.vars.iter().filter(|v| grads.get(v).is_some()).map(|v| v.label().unwrap()).collect();
    println!("backward() returned gradients for the leaves only: {}", kept.join(", "));
    println!("The hooks also saw the {} intermediate gradients, on their way through.", seen.len() - kept.len());
    // The hooks stay registered: this backward fires them again (quietly).
    notebook.print.set(false);
    let all = f.loss.backward_retain_all();
    let again = notebook.seen.take();
    let worst =
        seen.iter().map(|s| all.get_id(s.id).map_or(f64::INFINITY, |g| g.max_abs_diff(&s.grad))).fold(0.0, f64::max);
    println!("backward_retain_all() keeps all {} of them; largest difference from the hooks': {worst:.1e}", all.len());
    let same_order = again.iter().map(|s| s.id).eq(seen.iter().map(|s| s.id));
    println!(
        "(The hooks stay registered: they fired again during it, {} times; same order: {same_order}.)",
        again.len()
    );
    for handle in handles {
        handle.remove();
    }
    let _ = f.loss.backward();
    println!("After HookHandle::remove on each, one more backward fires {} hooks.", notebook.seen.take().len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_fire_once_each_consumers_first_with_the_retained_gradients() {
        let net = Mlp::new();
        let f = forward(&net);
        let (notebook, handles) = watch(&f.vars, false);
        let _ = f.loss.backward();
        let seen = notebook.seen.take();
        assert_eq!(handles.len(), f.vars.len() - 1, "every variable but the constant x has a hook");

        // Every variable backward reaches fires exactly once; the constant x never does.
        let reachable: Vec<NodeId> = topological_order(&f.loss).iter().map(Var::id).collect();
        assert_eq!(reachable.len(), f.vars.len() - 1, "the graph has nodes the example did not name");
        assert_eq!(seen.len(), reachable.len(), "fired: {:?}", seen.iter().map(|s| &s.name).collect::<Vec<_>>());
        for id in &reachable {
            assert_eq!(seen.iter().filter(|s| s.id == *id).count(), 1, "node {id:?} fired other than once");
        }
        assert!(seen.iter().all(|s| s.name != "x"));
        assert_eq!(seen[0].name, "loss", "the output's hook fires first");
        assert_eq!(seen.last().unwrap().name, "w1", "w1 feeds the longest chain (through xw1), so it fires last");

        // Each variable after all of its consumers.
        let at = |id: NodeId| seen.iter().position(|s| s.id == id);
        for v in &f.vars {
            for input in v.inputs() {
                if let (Some(consumer), Some(used)) = (at(v.id()), at(input.id())) {
                    assert!(
                        consumer < used,
                        "{} (step {used}) fired before its consumer {} (step {consumer})",
                        input.label().unwrap(),
                        v.label().unwrap()
                    );
                }
            }
        }

        // The same gradients as the engine's own store, bit for bit.
        let all = f.loss.backward_retain_all();
        for s in &seen {
            let stored = all.get_id(s.id).unwrap_or_else(|| panic!("no retained gradient for {}", s.name));
            assert_eq!(stored.to_vec(), s.grad.to_vec(), "{}", s.name);
        }
        // w1's hook saw the sum over both uses: the MSE path plus the decay's 0.02 * w1.
        let w1 = seen.iter().find(|s| s.name == "w1").unwrap();
        let through_matmul = all.get(&f.vars[5]).unwrap(); // d loss / d xw1, (4, 3)
        let x = f.vars[0].value();
        let expected = x.mt().matmul(through_matmul).add(&net.w1.value().mul_scalar(0.02));
        assert!(w1.grad.max_abs_diff(&expected) < 1e-15, "{} vs {}", w1.grad, expected);

        // Removed hooks fire no more.
        notebook.seen.take();
        for handle in handles {
            handle.remove();
        }
        let _ = f.loss.backward();
        assert!(notebook.seen.take().is_empty());
    }
}
