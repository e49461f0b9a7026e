//! The eleven exercises, easy to hard: their inputs, their forwards, and whose backwards to grade.

use std::rc::Rc;

use autograd::Var;
use tensor::Tensor;

use crate::e11_mlp_step::{self, CTX, Forward, Grads, Params};
use crate::grader::{Comparison, Exercise, Task};
use crate::{e01_broadcast_mul, e02_sum_keepdim, e03_matmul, e04_tanh, e05_gelu, e06_softmax};
use crate::{e07_cross_entropy, e08_embedding, e09_layer_norm, e10_attention, solutions};

type T = Tensor<f64>;

/// The backward of each exercise: yours (the stubs you edit) or the reference solutions.
#[derive(Clone, Copy)]
pub struct Answers {
    pub e01: fn(&T, &T, &T) -> (T, T),
    pub e02: fn(&T, &T) -> T,
    pub e03: fn(&T, &T, &T) -> (T, T),
    pub e04: fn(&T, &T, &T) -> T,
    pub e05: fn(&T, &T) -> T,
    pub e06: fn(&T, &T) -> T,
    pub e07: fn(&T, &[usize], &T) -> T,
    pub e08: fn(&T, &[usize], &T) -> T,
    pub e09: fn(&T, &T, &T, &T) -> (T, T, T),
    pub e10: fn(&T, &T, &T, &T) -> (T, T, T),
    pub e11: fn(&Params, &[usize], &[usize], &Forward) -> Grads,
}

impl Answers {
    /// The backwards in `examples/exercises/eNN_*.rs`: the ones you write.
    pub fn yours() -> Self {
        Answers {
            e01: e01_broadcast_mul::backward,
            e02: e02_sum_keepdim::backward,
            e03: e03_matmul::backward,
            e04: e04_tanh::backward,
            e05: e05_gelu::backward,
            e06: e06_softmax::backward,
            e07: e07_cross_entropy::backward,
            e08: e08_embedding::backward,
            e09: e09_layer_norm::backward,
            e10: e10_attention::backward,
            e11: e11_mlp_step::backward,
        }
    }

    /// The reference solutions in `examples/exercises/solutions/`.
    pub fn solutions() -> Self {
        Answers {
            e01: solutions::e01_broadcast_mul::backward,
            e02: solutions::e02_sum_keepdim::backward,
            e03: solutions::e03_matmul::backward,
            e04: solutions::e04_tanh::backward,
            e05: solutions::e05_gelu::backward,
            e06: solutions::e06_softmax::backward,
            e07: solutions::e07_cross_entropy::backward,
            e08: solutions::e08_embedding::backward,
            e09: solutions::e09_layer_norm::backward,
            e10: solutions::e10_attention::backward,
            e11: solutions::e11_mlp_step::backward,
        }
    }
}

fn normal(shape: &[usize], seed: u64) -> T {
    Tensor::rand_normal(shape, 0.0, 1.0, seed)
}

/// Exercise 9's `x (4, 5)`: three rows of spread about 2, and one nearly constant row (spread
/// about 0.01, variance about 1e-4) where `eps = 1e-5` visibly changes `rstd`, so a backward that
/// forgets `eps` fails.
fn layer_norm_input() -> T {
    let wide = normal(&[3, 5], 11).mul_scalar(2.0); // (3, 5)
    let flat = normal(&[1, 5], 17).mul_scalar(0.01).add_scalar(0.5); // (1, 5)
    Tensor::concat(&[&wide, &flat], 0) // (4, 5)
}

/// An op exercise from its named inputs, forward and backward (each backward's result as a list).
fn op(
    inputs: Vec<(&'static str, T)>,
    forward: impl Fn(&[&T]) -> T + 'static,
    backward: impl Fn(&[T], &T, &T) -> Vec<T> + 'static,
) -> Task {
    Task::Op { inputs, forward: Rc::new(forward), backward: Rc::new(backward) }
}

/// Every exercise, grading the backwards in `answers`.
pub fn exercises(answers: Answers) -> Vec<Exercise> {
    let a = answers;
    const CE_TARGETS: [usize; 4] = [1, 5, 0, 3];
    const EMB_IDS: [usize; 5] = [4, 0, 4, 2, 4]; // row 4 three times; rows 1, 3 and 5 never
    vec![
        Exercise {
            number: 1,
            title: "broadcast multiply",
            file: "e01_broadcast_mul.rs",
            hint: "b[j] is used by every row: its gradient is a sum over the rows (Tensor::sum_to_shape).",
            task: op(
                vec![("a", normal(&[3, 4], 1)), ("b", normal(&[4], 2))],
                |x| e01_broadcast_mul::forward(x[0], x[1]),
                move |x, _, g| {
                    let (da, db) = (a.e01)(&x[0], &x[1], g);
                    vec![da, db]
                },
            ),
        },
        Exercise {
            number: 2,
            title: "sum with keepdim",
            file: "e02_sum_keepdim.rs",
            hint: "every element of row i contributes to y[i, 0] with slope 1: spread g back over the row.",
            task: op(
                vec![("x", normal(&[3, 4], 3))],
                |x| e02_sum_keepdim::forward(x[0]),
                move |x, _, g| vec![(a.e02)(&x[0], g)],
            ),
        },
        Exercise {
            number: 3,
            title: "matrix product",
            file: "e03_matmul.rs",
            hint: "dA must be (3, 4) and dB (4, 5): only g @ B^T and A^T @ g have those shapes.",
            task: op(
                vec![("a", normal(&[3, 4], 4)), ("b", normal(&[5, 4], 5).mt())], // b: a transposed view
                |x| e03_matmul::forward(x[0], x[1]),
                move |x, _, g| {
                    let (da, db) = (a.e03)(&x[0], &x[1], g);
                    vec![da, db]
                },
            ),
        },
        Exercise {
            number: 4,
            title: "tanh",
            file: "e04_tanh.rs",
            hint: "d tanh(x)/dx = 1 - tanh(x)^2, and y already is tanh(x); then multiply by g.",
            task: op(
                vec![("x", normal(&[3, 4], 6))],
                |x| e04_tanh::forward(x[0]),
                move |x, y, g| vec![(a.e04)(&x[0], y, g)],
            ),
        },
        Exercise {
            number: 5,
            title: "GELU (tanh form)",
            file: "e05_gelu.rs",
            hint: "product rule on x/2 * (1 + t), then dt/dx = (1 - t^2) * c * (1 + 3 k x^2).",
            task: op(
                vec![("x", normal(&[3, 4], 7).mul_scalar(2.0))],
                |x| e05_gelu::forward(x[0]),
                move |x, _, g| vec![(a.e05)(&x[0], g)],
            ),
        },
        Exercise {
            number: 6,
            title: "softmax",
            file: "e06_softmax.rs",
            hint: "dx_j = sum_i g_i y_i (delta_ij - y_j); the sum over i is one dot product per row.",
            task: op(
                vec![("x", normal(&[5, 3], 8).mt())], // a transposed view: rows are strided
                |x| e06_softmax::forward(x[0]),
                move |_, y, g| vec![(a.e06)(y, g)],
            ),
        },
        Exercise {
            number: 7,
            title: "log-softmax with cross-entropy",
            file: "e07_cross_entropy.rs",
            hint: "per row: softmax(logits) - onehot(target); then the mean divides by N, and g scales it all.",
            task: op(
                vec![("logits", normal(&[4, 6], 9).mul_scalar(2.0))],
                |x| e07_cross_entropy::forward(x[0], &CE_TARGETS),
                move |x, _, g| vec![(a.e07)(&x[0], &CE_TARGETS, g)],
            ),
        },
        Exercise {
            number: 8,
            title: "embedding lookup",
            file: "e08_embedding.rs",
            hint: "start from zeros of the table's shape; add g[t] into row ids[t] for every t (Tensor::index_add).",
            task: op(
                vec![("table", normal(&[6, 3], 10))],
                |x| e08_embedding::forward(x[0], &EMB_IDS),
                move |x, _, g| vec![(a.e08)(&x[0], &EMB_IDS, g)],
            ),
        },
        Exercise {
            number: 9,
            title: "layer norm",
            file: "e09_layer_norm.rs",
            hint: "dw = sum over rows of g * xhat, db = sum over rows of g; for dx add the direct, mean and variance paths.",
            task: op(
                vec![
                    ("x", layer_norm_input()),
                    ("w", Tensor::rand_normal(&[5], 1.0, 0.5, 12)),
                    ("b", normal(&[5], 13)),
                ],
                |x| e09_layer_norm::forward(x[0], x[1], x[2]),
                move |x, _, g| {
                    let (dx, dw, db) = (a.e09)(&x[0], &x[1], &x[2], g);
                    vec![dx, dw, db]
                },
            ),
        },
        Exercise {
            number: 10,
            title: "causal self-attention",
            file: "e10_attention.rs",
            hint: "dv = P^T g, dP = g v^T, dS = P * (dP - rowsum(dP * P)); dq and dk carry the 1/sqrt(d) scale.",
            task: op(
                vec![("q", normal(&[5, 4], 14)), ("k", normal(&[5, 4], 15)), ("v", normal(&[5, 3], 16))],
                |x| e10_attention::forward(x[0], x[1], x[2]),
                move |x, _, g| {
                    let (dq, dk, dv) = (a.e10)(&x[0], &x[1], &x[2], g);
                    vec![dq, dk, dv]
                },
            ),
        },
        Exercise {
            number: 11,
            title: "an MLP training step by hand",
            file: "e11_mlp_step.rs",
            hint: "go line by line from the loss back: exercises 7, 1, 3, 4, 1, 3, 8; reshape the gradient of x back to (N*CTX, D).",
            task: Task::ByHand(Box::new(move || mlp_comparisons(a.e11))),
        },
    ]
}

/// Exercise 11: the same model built from the engine's ops, its gradients next to `backward`'s.
fn mlp_comparisons(backward: fn(&Params, &[usize], &[usize], &Forward) -> Grads) -> Vec<Comparison> {
    let (vocab, d, hidden, n) = (8, 3, 10, 6);
    let ids: Vec<usize> = (0..n * CTX).map(|i| (i * 5 + i / 4) % vocab).collect();
    let targets: Vec<usize> = (0..n).map(|i| (3 * i + 1) % vocab).collect();
    let p = Params {
        table: normal(&[vocab, d], 20),
        w1: normal(&[CTX * d, hidden], 21).mul_scalar(0.5),
        b1: normal(&[hidden], 22).mul_scalar(0.1),
        w2: normal(&[hidden, vocab], 23).mul_scalar(0.5),
        b2: normal(&[vocab], 24).mul_scalar(0.1),
    };
    let f = e11_mlp_step::forward(&p, &ids, &targets);
    let yours = backward(&p, &ids, &targets, &f);

    let param = |t: &T| Var::parameter(t.clone());
    let (table, w1, b1, w2, b2) = (param(&p.table), param(&p.w1), param(&p.b1), param(&p.w2), param(&p.b2));
    let x = table.index_select(0, &ids).reshape(&[n, CTX * d]); // (N, CTX*D)
    let pre = x.matmul(&w1).add(&b1); // (N, H)
    let h = pre.tanh(); // (N, H)
    let logits = h.matmul(&w2).add(&b2); // (N, V)
    let loss = logits.cross_entropy(&targets, None);
    assert!((loss.item() - f.loss).abs() < 1e-12, "the given forward and the engine's disagree on the loss");
    let grads = loss.backward_retain_all();
    let engine = |v: &Var<f64>| grads.get(v).expect("every node has a gradient").clone();
    vec![
        Comparison { name: "logits", yours: yours.logits, engine: engine(&logits) },
        Comparison { name: "b2", yours: yours.b2, engine: engine(&b2) },
        Comparison { name: "w2", yours: yours.w2, engine: engine(&w2) },
        Comparison { name: "h", yours: yours.h, engine: engine(&h) },
        Comparison { name: "a", yours: yours.a, engine: engine(&pre) },
        Comparison { name: "b1", yours: yours.b1, engine: engine(&b1) },
        Comparison { name: "w1", yours: yours.w1, engine: engine(&w1) },
        Comparison { name: "x", yours: yours.x, engine: engine(&x) },
        Comparison { name: "table", yours: yours.table, engine: engine(&table) },
    ]
}
