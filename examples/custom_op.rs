//! Writing your own op: swish (also called SiLU), `swish(x) = x * sigmoid(x)`, as a
//! [`autograd::Function`] with a hand-written backward, checked by the numerical gradient checker.
//!
//! Run with `cargo run --release --example custom_op`.

use autograd::{Function, GradCheck, Var, tape};
use tensor::{Float, Tensor};

/// `y = x * s` with `s = sigmoid(x) = 1 / (1 + e^-x)`.
///
/// By the product rule, and `s' = s (1 - s)`:
/// `dy/dx = s + x s (1 - s) = s (1 + x (1 - s))`.
struct Swish;

fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

impl<T: Float> Function<T> for Swish {
    fn name(&self) -> String {
        "swish".into()
    }

    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T> {
        inputs[0].map(|x| x * sigmoid(x))
    }

    fn backward(&self, inputs: &[Tensor<T>], _output: &Tensor<T>, grad: &Tensor<T>) -> Vec<Option<Tensor<T>>> {
        let x = &inputs[0];
        let dydx = x.map(|x| {
            let s = sigmoid(x);
            s * (T::ONE + x * (T::ONE - s))
        });
        // Chain rule: the gradient arriving at y, times dy/dx, element by element.
        vec![Some(grad.mul(&dydx))]
    }
}

/// The same op with a classic mistake: the backward keeps only the first term of the product
/// rule, `sigmoid(x)`, and drops the second, `x * sigmoid'(x)`.
struct SwishForgotProductRule;

impl<T: Float> Function<T> for SwishForgotProductRule {
    fn name(&self) -> String {
        "swish_wrong".into()
    }

    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T> {
        inputs[0].map(|x| x * sigmoid(x))
    }

    fn backward(&self, inputs: &[Tensor<T>], _output: &Tensor<T>, grad: &Tensor<T>) -> Vec<Option<Tensor<T>>> {
        vec![Some(grad.mul(&inputs[0].map(sigmoid)))]
    }
}

fn heading(title: &str) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
}

fn main() {
    heading("A custom op: swish(x) = x * sigmoid(x)");
    println!(
        "The op is a struct implementing `Function`: a name, a forward on plain tensors, and a\n\
         backward that turns the gradient of the output into the gradient of the input.\n\
         `Var::apply(Swish, &[&x])` puts it in the graph like any built-in op."
    );
    let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, -0.5, 0.0, 1.0, 3.0], &[5])).labeled("x");
    let y = Var::apply(Swish, &[&x]).labeled("y");
    let loss = y.sum_all().labeled("loss");
    let grads = loss.backward_retain_all(); // every node's gradient, for the tape below
    println!("\nx              = {:.4}", x.value());
    println!("swish(x)       = {:.4}", y.value());
    println!("d sum(y) / dx  = {:.4}", grads.get(&x).unwrap());
    println!("\nIt shows on the tape under its own name:\n");
    print!("{}", tape(&loss).with_gradients(&grads));

    heading("Gradient check");
    println!(
        "GradCheck perturbs every input element by ±1e-6, recomputes the output, and compares the\n\
         finite-difference slope with backward's answer. It runs in f64, where both errors\n\
         (truncation, about eps^2, and rounding, about 1e-16 / eps) are far below the tolerance.\n\
         A non-scalar output is reduced to sum(out * R) with fixed random weights R.\n"
    );
    let check = GradCheck::default();
    // A (4, 6) input of normals, and a transposed view of one: the checker keeps strided layouts,
    // so an op that assumed contiguous input would fail here.
    let a = Tensor::<f64>::rand_normal(&[4, 6], 0.0, 2.0, 7);
    let b = Tensor::<f64>::rand_normal(&[6, 4], 0.0, 2.0, 8).mt();
    for (name, input) in [("a (4, 6), contiguous", a), ("b (4, 6), a transposed view", b.clone())] {
        println!("{name}:");
        match check.check(&[input], |v| Var::apply(Swish, &[&v[0]])) {
            Ok(report) => print!("{report}"),
            Err(failure) => panic!("swish's backward is wrong:\n{failure}"),
        }
        println!();
    }

    // Swish composed from built-in ops must agree with the custom one, value and gradient.
    let xb = Var::parameter(b);
    let custom = Var::apply(Swish, &[&xb]).sum_all().backward();
    let composed = xb.mul(&xb.sigmoid()).sum_all().backward();
    let diff = custom.get(&xb).unwrap().max_abs_diff(composed.get(&xb).unwrap());
    println!("Largest difference from x * x.sigmoid() built from primitives: {diff:.1e}");
    assert!(diff < 1e-12, "the custom and the composed gradient disagree by {diff}");

    heading("What a wrong backward looks like");
    println!(
        "Here is the same op whose backward forgets the product rule: it returns sigmoid(x)\n\
         instead of sigmoid(x) * (1 + x * (1 - sigmoid(x))). The checker names the input, how many\n\
         elements are wrong, and the worst one with both values:\n"
    );
    let x = Tensor::<f64>::rand_normal(&[3, 4], 0.0, 2.0, 9);
    match check.check(&[x], |v| Var::apply(SwishForgotProductRule, &[&v[0]])) {
        Ok(_) => panic!("the checker should have caught the missing term"),
        Err(failure) => print!("{failure}"),
    }
}
