//! Fused layer normalisation over the last axis, forward and backward, one row at a time.
//!
//! ```text
//! mean = sum(x) / d      rstd = 1 / sqrt(sum((x - mean)^2) / d + eps)      x^ = (x - mean) rstd
//! y = x^ w + b
//!
//! dx = rstd (g w - mean(g w) - x^ mean(g w x^))      dw = sum_rows(g x^)      db = sum_rows(g)
//! ```
//!
//! Row sums use eight interleaved running sums in a fixed order (vectorisable, same bits every run).
//! Composed from primitives, the forward is seven ops and the backward about fifteen, each a full
//! pass over the activations. Here a row is read once forward (plus once for the variance) and
//! once backward. The autograd op (`Var::layer_norm`) keeps the composed version as its reference
//! and tests that both agree in value and gradient.
//!
//! Rows are independent and run on rayon in blocks of a fixed number of rows. `dw` and `db` sum
//! over rows: each block sums its rows in order, then the blocks' partial sums are added in block
//! order, so the result is the same bits on any number of threads.

use rayon::prelude::*;

use crate::error::op_panic;
use crate::lanes::{lane_dot, lane_sum};
use crate::{Float, Tensor};

/// Rows per parallel task (and per partial sum of `dw`, `db`): fixed, never the thread count.
const ROWS_PER_TASK: usize = 64;

/// What the forward saves for the backward: per row, the mean and `1 / sqrt(var + eps)`.
#[derive(Clone, Debug)]
pub struct LayerNormStats<T: Float> {
    /// Mean of each row, `(rows)`.
    pub mean: Vec<T>,
    /// Reciprocal standard deviation of each row, `(rows)`.
    pub rstd: Vec<T>,
}

/// The row width `d` and the number of rows, or a panic naming the op and the shapes.
#[track_caller]
fn rows_of<T: Float>(op: &str, x: &Tensor<T>, weight: &Tensor<T>, bias: Option<&Tensor<T>>) -> (usize, usize) {
    let d = x.shape().last().copied().unwrap_or(0);
    let fits = x.ndim() >= 1 && weight.shape() == [d] && bias.is_none_or(|b| b.shape() == [d]);
    if !fits {
        op_panic(
            op,
            format!(
                "x of shape {:?} needs weight and bias of shape [{d}], got weight {:?}, bias {:?}",
                x.shape(),
                weight.shape(),
                bias.map(|b| b.shape().to_vec())
            ),
        );
    }
    (d, x.numel().checked_div(d).unwrap_or(0))
}

impl<T: Float> Tensor<T> {
    /// Layer norm over the last axis with gain `weight` and optional shift `bias` (both `(d)`),
    /// returning `y` (contiguous, the shape of `x`) and the per-row statistics the backward
    /// needs. The variance is the biased one and `eps` sits inside the square root, as in
    /// PyTorch's `nn.LayerNorm`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]);
    /// let (y, stats) = x.layer_norm(&Tensor::ones(&[4]), None, 0.0);
    /// assert_eq!(stats.mean, vec![2.5]);
    /// assert!((y.to_vec()[3] - 1.5 / 1.25f64.sqrt()).abs() < 1e-12);
    /// ```
    #[track_caller]
    pub fn layer_norm(&self, weight: &Tensor<T>, bias: Option<&Tensor<T>>, eps: T) -> (Tensor<T>, LayerNormStats<T>) {
        let (d, rows) = rows_of("layer_norm", self, weight, bias);
        // The row kernels read plain slices: a strided input is copied once here.
        let (x, w) = (self.contiguous(), weight.contiguous());
        let b = bias.map(Tensor::contiguous);
        let (xs, ws) = (x.as_slice().expect("dense"), w.as_slice().expect("dense"));
        let bs = b.as_ref().map(|b| b.as_slice().expect("dense"));
        // `y` is written row by row below, never zeroed first.
        let (mut y, mut mean, mut rstd) = (Vec::with_capacity(rows * d), vec![T::ZERO; rows], vec![T::ZERO; rows]);
        if rows > 0 {
            let inv_d = T::ONE / T::from_usize(d);
            y.spare_capacity_mut()[..rows * d]
                .par_chunks_mut(ROWS_PER_TASK * d)
                .zip(xs.par_chunks(ROWS_PER_TASK * d))
                .zip(mean.par_chunks_mut(ROWS_PER_TASK).zip(rstd.par_chunks_mut(ROWS_PER_TASK)))
                .for_each(|((y, x), (mean, rstd))| {
                    let mut centered = vec![T::ZERO; d];
                    for (((yr, xr), m), r) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(mean).zip(rstd) {
                        let mu = lane_sum(xr) * inv_d;
                        for (c, &v) in centered.iter_mut().zip(xr) {
                            *c = v - mu;
                        }
                        let var = lane_dot(&centered, &centered) * inv_d;
                        let rs = T::ONE / (var + eps).sqrt();
                        match bs {
                            Some(bs) => {
                                for (((yi, &c), &wi), &bi) in yr.iter_mut().zip(&centered).zip(ws).zip(bs) {
                                    yi.write(c * rs * wi + bi);
                                }
                            }
                            None => {
                                for ((yi, &c), &wi) in yr.iter_mut().zip(&centered).zip(ws) {
                                    yi.write(c * rs * wi);
                                }
                            }
                        }
                        (*m, *r) = (mu, rs);
                    }
                });
        }
        // SAFETY: every row of `y` was written above (`rows * d` elements, row by row).
        unsafe { y.set_len(rows * d) };
        (Tensor::from_vec(y, self.shape()), LayerNormStats { mean, rstd })
    }

    /// The backward of [`Tensor::layer_norm`]: from the input `x`, the gain, the saved statistics
    /// and the output gradient `g`, returns `(dx, dweight, dbias)` (see the module doc for the
    /// formulas). `dbias` is computed whether or not the layer has a bias.
    #[track_caller]
    pub fn layer_norm_backward(
        x: &Tensor<T>,
        weight: &Tensor<T>,
        stats: &LayerNormStats<T>,
        g: &Tensor<T>,
    ) -> (Tensor<T>, Tensor<T>, Tensor<T>) {
        let (d, rows) = rows_of("layer_norm_backward", x, weight, None);
        if g.shape() != x.shape() || stats.mean.len() != rows || stats.rstd.len() != rows {
            op_panic(
                "layer_norm_backward",
                format!(
                    "gradient of shape {:?} (and {} saved rows) for x of shape {:?}",
                    g.shape(),
                    stats.mean.len(),
                    x.shape()
                ),
            );
        }
        let (x, w, g) = (x.contiguous(), weight.contiguous(), g.contiguous());
        let (xs, ws, gs) = (x.as_slice().expect("dense"), w.as_slice().expect("dense"), g.as_slice().expect("dense"));
        // `dx` is written row by row below, never zeroed first.
        let mut dx = Vec::with_capacity(rows * d);
        let tasks = rows.div_ceil(ROWS_PER_TASK);
        // Each task's partial sums of dw and db, side by side: (tasks, 2, d).
        let mut partial = vec![T::ZERO; tasks * 2 * d];
        if rows > 0 {
            let inv_d = T::ONE / T::from_usize(d);
            let chunk = ROWS_PER_TASK * d;
            dx.spare_capacity_mut()[..rows * d]
                .par_chunks_mut(chunk)
                .zip(xs.par_chunks(chunk).zip(gs.par_chunks(chunk)))
                .zip(stats.mean.par_chunks(ROWS_PER_TASK).zip(stats.rstd.par_chunks(ROWS_PER_TASK)))
                .zip(partial.par_chunks_mut(2 * d))
                .for_each(|(((dx, (x, g)), (mean, rstd)), part)| {
                    let (dw, db) = part.split_at_mut(d);
                    let (mut xhat, mut gw) = (vec![T::ZERO; d], vec![T::ZERO; d]);
                    for ((((dxr, xr), gr), &mu), &rs) in
                        dx.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(g.chunks_exact(d)).zip(mean).zip(rstd)
                    {
                        // Separate passes, each a loop the compiler vectorises.
                        for ((((xh, gwi), &xi), &gi), &wi) in xhat.iter_mut().zip(gw.iter_mut()).zip(xr).zip(gr).zip(ws)
                        {
                            *xh = (xi - mu) * rs;
                            *gwi = gi * wi;
                        }
                        for (((dwi, dbi), &gi), &xh) in dw.iter_mut().zip(db.iter_mut()).zip(gr).zip(&xhat) {
                            *dwi += gi * xh;
                            *dbi += gi;
                        }
                        let (mean_gw, mean_gwx) = (lane_sum(&gw) * inv_d, lane_dot(&gw, &xhat) * inv_d);
                        for ((dxi, &xh), &gwi) in dxr.iter_mut().zip(&xhat).zip(&gw) {
                            dxi.write(rs * (gwi - mean_gw - xh * mean_gwx));
                        }
                    }
                });
        }
        // SAFETY: every row of `dx` was written above.
        unsafe { dx.set_len(rows * d) };
        // Partial sums added in task order: the same bits on any number of threads.
        let (mut dw, mut db) = (vec![T::ZERO; d], vec![T::ZERO; d]);
        for part in partial.chunks_exact(2 * d) {
            for (a, &p) in dw.iter_mut().zip(&part[..d]) {
                *a += p;
            }
            for (a, &p) in db.iter_mut().zip(&part[d..]) {
                *a += p;
            }
        }
        (Tensor::from_vec(dx, x.shape()), Tensor::from_vec(dw, &[d]), Tensor::from_vec(db, &[d]))
    }
}
