//! Solution 9: with `gh = g w`, `dx = rstd (gh - mean(gh) - xhat mean(gh xhat))`;
//! `dw = sum_rows(g xhat)`, `db = sum_rows(g)`. The mean path of the variance vanishes because
//! `d var / d mu = -2 mean(x - mu) = 0`.

use tensor::Tensor;

use crate::e09_layer_norm::EPS;

/// `(dx, dw, db)` for layer norm over the last axis.
pub fn backward(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    _b: &Tensor<f64>,
    g: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>, Tensor<f64>) {
    let rstd = x.var(&[-1], true, false).add_scalar(EPS).rsqrt(); // (4, 1)
    let xhat = x.sub(&x.mean(&[-1], true)).mul(&rstd); // (4, 5)
    let gh = g.mul(w); // (4, 5): the gradient at xhat
    let dx = rstd.mul(&gh.sub(&gh.mean(&[-1], true)).sub(&xhat.mul(&gh.mul(&xhat).mean(&[-1], true))));
    let dw = g.mul(&xhat).sum(&[0], false); // (5)
    let db = g.sum(&[0], false); // (5)
    (dx, dw, db)
}
