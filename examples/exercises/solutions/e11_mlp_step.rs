//! Solution 11: the whole backward pass, one line per forward line, in reverse.

use tensor::Tensor;

use crate::e11_mlp_step::{CTX, Forward, Grads, Params};

/// Every gradient of the MLP's loss.
pub fn backward(p: &Params, ids: &[usize], targets: &[usize], f: &Forward) -> Grads {
    let (n, v) = (f.logits.shape()[0], f.logits.shape()[1]);
    let d = p.table.shape()[1];
    // loss = cross_entropy(logits): (softmax - onehot) / N                    (exercise 7)
    let mut dl = f.logits.softmax(-1).to_vec();
    for (i, &t) in targets.iter().enumerate() {
        dl[i * v + t] -= 1.0;
    }
    let dlogits = Tensor::from_vec(dl, &[n, v]).mul_scalar(1.0 / n as f64); // (N, V)
    // logits = h @ w2 + b2                                                   (exercises 1, 3)
    let db2 = dlogits.sum(&[0], false); // (V)
    let dw2 = f.h.mt().matmul(&dlogits); // (H, N) @ (N, V) -> (H, V)
    let dh = dlogits.matmul(&p.w2.mt()); // (N, V) @ (V, H) -> (N, H)
    // h = tanh(a)                                                            (exercise 4)
    let da = dh.mul(&f.h.map(|h| 1.0 - h * h)); // (N, H)
    // a = x @ w1 + b1
    let db1 = da.sum(&[0], false); // (H)
    let dw1 = f.x.mt().matmul(&da); // (CTX*D, N) @ (N, H) -> (CTX*D, H)
    let dx = da.matmul(&p.w1.mt()); // (N, H) @ (H, CTX*D) -> (N, CTX*D)
    // x = table[ids].reshape(N, CTX*D): undo the reshape, then scatter-add     (exercise 8)
    let dtable = Tensor::zeros(p.table.shape()).index_add(0, ids, &dx.reshape(&[n * CTX, d])); // (V, D)
    Grads {
        logits: Some(dlogits),
        b2: Some(db2),
        w2: Some(dw2),
        h: Some(dh),
        a: Some(da),
        b1: Some(db1),
        w1: Some(dw1),
        x: Some(dx),
        table: Some(dtable),
    }
}
