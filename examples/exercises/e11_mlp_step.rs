//! # Exercise 11: a whole training step by hand
//!
//! A character-level MLP language model in the style of Bengio et al. (2003): look up an
//! embedding for each of the `CTX` previous characters, concatenate them, one hidden `tanh`
//! layer, logits over the vocabulary, cross-entropy against the next character.
//!
//! ```text
//! emb    = table[ids]               (N*CTX, D)      embedding lookup           (exercise 8)
//! x      = emb.reshape(N, CTX*D)    (N, CTX*D)      a view: the same numbers
//! a      = x @ w1 + b1              (N, H)          matmul, broadcast add      (exercises 1, 3)
//! h      = tanh(a)                  (N, H)                                     (exercise 4)
//! logits = h @ w2 + b2              (N, V)
//! loss   = cross_entropy(logits, targets)   ()                                 (exercise 7)
//! ```
//!
//! Write every gradient, from the loss back to the embedding table, in [`backward`]. The grader
//! compares each one with the engine's gradient of the same model and names the first that is
//! wrong (in backward order: everything after a wrong gradient is wrong too). Gradients you leave
//! as `None` are reported as not written yet, so you can fill them in one at a time, as in
//! Karpathy's "backprop ninja" exercise.
//!
//! Useful: everything from exercises 1-8; `Tensor::reshape` undoes a reshape.

use tensor::Tensor;

/// Characters of context.
pub const CTX: usize = 3;

/// The model's parameters.
pub struct Params {
    /// The embedding table, `(V, D)`.
    pub table: Tensor<f64>,
    /// Hidden weight, `(CTX*D, H)`.
    pub w1: Tensor<f64>,
    /// Hidden bias, `(H)`.
    pub b1: Tensor<f64>,
    /// Output weight, `(H, V)`.
    pub w2: Tensor<f64>,
    /// Output bias, `(V)`.
    pub b2: Tensor<f64>,
}

/// Everything the forward computed, kept for the backward.
pub struct Forward {
    /// `(N, CTX*D)`: the concatenated embeddings.
    pub x: Tensor<f64>,
    /// `(N, H)`: the hidden activation.
    pub h: Tensor<f64>,
    /// `(N, V)`: the logits.
    pub logits: Tensor<f64>,
    /// The mean cross-entropy.
    pub loss: f64,
}

/// The gradient of the loss with respect to each intermediate and each parameter, in the order a
/// backward pass computes them. `None` means not written yet.
#[derive(Default)]
pub struct Grads {
    /// `dL/dlogits`, `(N, V)`.
    pub logits: Option<Tensor<f64>>,
    /// `dL/db2`, `(V)`.
    pub b2: Option<Tensor<f64>>,
    /// `dL/dw2`, `(H, V)`.
    pub w2: Option<Tensor<f64>>,
    /// `dL/dh`, `(N, H)`.
    pub h: Option<Tensor<f64>>,
    /// `dL/da`, `(N, H)`.
    pub a: Option<Tensor<f64>>,
    /// `dL/db1`, `(H)`.
    pub b1: Option<Tensor<f64>>,
    /// `dL/dw1`, `(CTX*D, H)`.
    pub w1: Option<Tensor<f64>>,
    /// `dL/dx`, `(N, CTX*D)`.
    pub x: Option<Tensor<f64>>,
    /// `dL/dtable`, `(V, D)`.
    pub table: Option<Tensor<f64>>,
}

/// The forward, given: `ids` holds `N * CTX` character ids (row `i` is the context of example
/// `i`), `targets` the `N` next characters.
pub fn forward(p: &Params, ids: &[usize], targets: &[usize]) -> Forward {
    let n = targets.len();
    let d = p.table.shape()[1];
    let x = p.table.index_select(0, ids).reshape(&[n, CTX * d]); // (N*CTX, D) -> (N, CTX*D)
    let a = x.matmul(&p.w1).add(&p.b1); // (N, H)
    let h = a.tanh(); // (N, H)
    let logits = h.matmul(&p.w2).add(&p.b2); // (N, V)
    let v = logits.shape()[1];
    let log_probs = logits.log_softmax(-1).to_vec(); // (N, V), row-major
    let loss = -targets.iter().enumerate().map(|(i, &t)| log_probs[i * v + t]).sum::<f64>() / n as f64;
    Forward { x, h, logits, loss }
}

/// Your backward: every gradient of the loss, from `logits` back to `table`.
pub fn backward(p: &Params, ids: &[usize], targets: &[usize], f: &Forward) -> Grads {
    // Start with `let dlogits = ...;` and return `Grads { logits: Some(dlogits), ..Grads::default() }`;
    // then add the next gradient, and the next.
    let _ = (p, ids, targets, f);
    Grads::default()
}
