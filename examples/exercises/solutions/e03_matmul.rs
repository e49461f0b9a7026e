//! Solution 3: `da[i, p] = sum_j g[i, j] b[p, j] = (g b^T)[i, p]` and
//! `db[p, j] = sum_i a[i, p] g[i, j] = (a^T g)[p, j]`.

use tensor::Tensor;

/// `(da, db)` for `c = a @ b`.
pub fn backward(a: &Tensor<f64>, b: &Tensor<f64>, g: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    let da = g.matmul(&b.mt()); // (3, 5) @ (5, 4) -> (3, 4)
    let db = a.mt().matmul(g); //  (4, 3) @ (3, 5) -> (4, 5)
    (da, db)
}
