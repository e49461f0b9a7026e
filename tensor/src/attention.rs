//! Fused scaled dot-product attention: `softmax(Q K^T * scale, masked) V` and its backward, one
//! `(Tq, Tk)` score matrix at a time.
//!
//! Composed from primitives, attention is a batched matmul, a scale, a masked fill, a softmax and
//! a second batched matmul: five full `(..., Tq, Tk)` tensors written and read back, plus a copy
//! to merge the heads. Here each `(batch, head)` item runs start to finish while its scores are
//! in cache: one GEMM into a scratch row block, the mask and the softmax in place, one GEMM into
//! the output. The only `(..., Tq, Tk)` tensor kept is the softmax output, which the backward
//! needs (and which the attention plots show).
//!
//! Inputs are taken with their strides (the heads of a `(B, T, h, d)` projection, permuted to
//! `(B, h, T, d)`, are read in place), and outputs are laid out in the same axis order as the
//! matching input: the result for permuted heads is itself a permuted view over a `(B, T, h, d)`
//! buffer, so merging the heads afterwards is a view, not a copy.
//!
//! Items run in parallel on rayon, each computed entirely by one thread, so results do not depend
//! on the number of threads. The autograd op (`Var::attention`) checks this kernel against
//! its composition from primitives, in value and gradient.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::op_panic;
use crate::lanes::lane_dot;
use crate::layout::{Layout, broadcast_shape, for_each_offsets};
use crate::softmax::softmax_rows;
use crate::{Float, Tensor};

/// Below this many multiply-adds in all, the items run on the calling thread: handing a few
/// tiny items to rayon (one query per head while generating with a KV cache) costs more than it
/// saves. Items are independent either way, so the results are the same.
const PAR_MIN_MULADDS: usize = 1 << 20;

/// Whether `items` items of `per_item` multiply-adds each are worth spreading over threads.
fn in_parallel(items: usize, per_item: usize) -> bool {
    items > 1 && items * per_item >= PAR_MIN_MULADDS
}

/// A raw pointer that rayon tasks may share: each task writes only its own item's elements.
/// Private to this module: every value is made over a buffer this module allocates, and handed
/// to tasks that write disjoint elements of it (the per-call `SAFETY` comments say why).
#[derive(Clone, Copy)]
struct SharedMut<T>(*mut T);
// SAFETY: a `SharedMut` is only a pointer; sending it to another thread lets that thread write
// through it, which the module allows only for elements no other task writes (one `(batch,
// head)` item each, in buffers it allocated itself).
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as for `Send`: tasks sharing one `SharedMut` write disjoint elements through it.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// The pointer moved by `offset` elements (a method, so closures capture the whole `Sync`
    /// wrapper, not the raw field). The arithmetic is `wrapping_add`, safe for any offset: only a
    /// write through the result needs the offset to be inside the buffer, and every such write
    /// is in an `unsafe` block that says why it is.
    fn at(self, offset: usize) -> *mut T {
        self.0.wrapping_add(offset)
    }
}

/// One operand seen as a batch of matrices: the storage offset of each item and the strides of
/// its two matrix axes.
struct Items {
    offsets: Vec<usize>,
    rows: isize,
    cols: isize,
}

impl Items {
    fn of(layout: &Layout) -> Items {
        let nd = layout.ndim();
        let (shape, strides) = (layout.shape(), layout.strides());
        // The leading axes alone, walked by the crate's strided walker.
        let lead = Layout::new(shape[..nd - 2].to_vec(), strides[..nd - 2].to_vec(), layout.offset());
        let mut offsets = Vec::with_capacity(lead.numel());
        for_each_offsets(lead.shape(), [&lead], |[o]| offsets.push(o));
        Items { offsets, rows: strides[nd - 2] as isize, cols: strides[nd - 1] as isize }
    }

    /// Item `n` of an operand whose storage is `data`.
    fn mat<T>(&self, data: &[T], n: usize) -> Mat<T> {
        Mat { ptr: data.as_ptr().wrapping_add(self.offsets[n]), rows: self.rows, cols: self.cols }
    }

    /// Item `n` of an output written through `dst`.
    fn out<T>(&self, dst: SharedMut<T>, n: usize) -> MatMut<T> {
        MatMut { ptr: dst.at(self.offsets[n]), rows: self.rows, cols: self.cols }
    }
}

/// A GEMM operand: its first element and its (row, column) strides.
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rows: isize,
    cols: isize,
}

impl<T> Mat<T> {
    /// A row-major scratch matrix of `cols` columns.
    fn dense(data: &[T], cols: usize) -> Self {
        Mat { ptr: data.as_ptr(), rows: cols as isize, cols: 1 }
    }

    /// The transpose: the same elements with the strides swapped.
    fn t(self) -> Self {
        Mat { ptr: self.ptr, rows: self.cols, cols: self.rows }
    }
}

/// A GEMM output: its first element and its (row, column) strides.
struct MatMut<T> {
    ptr: *mut T,
    rows: isize,
    cols: isize,
}

impl<T> MatMut<T> {
    /// A row-major scratch matrix of `cols` columns.
    fn dense(data: &mut [T], cols: usize) -> Self {
        MatMut { ptr: data.as_mut_ptr(), rows: cols as isize, cols: 1 }
    }

    /// A row-major matrix of `cols` columns over memory not yet written: the GEMM (`beta = 0`)
    /// writes every element without reading any.
    fn uninit(data: &mut [MaybeUninit<T>], cols: usize) -> Self {
        MatMut { ptr: data.as_mut_ptr().cast(), rows: cols as isize, cols: 1 }
    }
}

/// `c = alpha a b` for `a` (m, k) and `b` (k, n), overwriting the (m, n) matrix `c`.
///
/// # Safety
/// Each matrix's pointer and strides must address valid elements for its shape, and no other
/// thread may touch `c`'s elements meanwhile.
unsafe fn gemm<T: Float>(m: usize, k: usize, n: usize, alpha: T, a: Mat<T>, b: Mat<T>, c: MatMut<T>) {
    // SAFETY: forwarded to the caller.
    unsafe { T::gemm(m, k, n, alpha, a.ptr, a.rows, a.cols, b.ptr, b.rows, b.cols, T::ZERO, c.ptr, c.rows, c.cols) }
}

/// A dense layout of `shape` whose axes are ordered in memory as `like`'s are (largest stride
/// first; ties keep the axis order), as PyTorch's `empty_like` preserves a permuted input's
/// format. For a contiguous `like` it is the contiguous layout.
fn dense_like(shape: &[usize], like: &Layout) -> Layout {
    let mut order: Vec<usize> = (0..shape.len()).collect();
    order.sort_by(|&a, &b| like.strides()[b].cmp(&like.strides()[a]).then(a.cmp(&b)));
    let mut strides = vec![0; shape.len()];
    let mut step = 1;
    for &a in order.iter().rev() {
        strides[a] = step;
        step *= shape[a];
    }
    Layout::new(shape.to_vec(), strides, 0)
}

/// Shapes of an attention call: `(lead, tq, tk, dh, dv)`, or a panic naming the op and shapes.
#[track_caller]
fn attention_dims<T: Float>(op: &str, q: &Tensor<T>, k: &Tensor<T>, v: &Tensor<T>) -> (Vec<usize>, [usize; 4]) {
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    let nd = qs.len();
    let fits = nd >= 2
        && ks.len() == nd
        && vs.len() == nd
        && qs[..nd - 2] == ks[..nd - 2]
        && qs[..nd - 2] == vs[..nd - 2]
        && qs[nd - 1] == ks[nd - 1]
        && ks[nd - 2] == vs[nd - 2];
    if !fits {
        op_panic(
            op,
            format!(
                "needs q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv) with the same leading axes; got q {qs:?}, k {ks:?}, v {vs:?}"
            ),
        );
    }
    (qs[..nd - 2].to_vec(), [qs[nd - 2], ks[nd - 2], qs[nd - 1], vs[nd - 1]])
}

/// A zeroed buffer for a tensor of `shape` laid out like `like` (see [`dense_like`]).
fn alloc_like<T: Float>(shape: &[usize], like: &Layout) -> (Vec<T>, Layout) {
    let layout = dense_like(shape, like);
    (vec![T::ZERO; layout.numel()], layout)
}

/// An empty buffer with room for a tensor of `shape` laid out like `like`, for a kernel that
/// writes every element before the caller sets its length: no zeroing pass over memory that is
/// about to be overwritten.
fn reserve_like<T: Float>(shape: &[usize], like: &Layout) -> (Vec<T>, Layout) {
    let layout = dense_like(shape, like);
    (Vec::with_capacity(layout.numel()), layout)
}

impl<T: Float> Tensor<T> {
    /// Fused scaled dot-product attention: `softmax(q k^T * scale + mask) v`, returning the output
    /// `(..., Tq, dv)` and the attention weights `(..., Tq, Tk)` (the softmax, which the backward
    /// needs). `q: (..., Tq, d)`, `k: (..., Tk, d)`, `v: (..., Tk, dv)` share their leading axes;
    /// `mask` (1 = blocked, 0 = allowed) broadcasts to `(..., Tq, Tk)`. A fully blocked row gives
    /// NaN weights, as the composed `softmax` of an all `-inf` row does.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let q = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]);
    /// let v = Tensor::<f64>::from_vec(vec![10.0, 20.0], &[2, 1]);
    /// let causal = Tensor::<f64>::from_vec(vec![0.0, 1.0, 0.0, 0.0], &[2, 2]);
    /// let (out, w) = Tensor::attention(&q, &q, &v, Some(&causal), 1.0);
    /// assert_eq!(w.to_vec()[..2], [1.0, 0.0]); // the first query sees only the first key
    /// assert_eq!(out.to_vec()[0], 10.0);
    /// ```
    #[track_caller]
    pub fn attention(
        q: &Tensor<T>,
        k: &Tensor<T>,
        v: &Tensor<T>,
        mask: Option<&Tensor<T>>,
        scale: T,
    ) -> (Tensor<T>, Tensor<T>) {
        let (lead, [tq, tk, _, dv]) = attention_dims("attention", q, k, v);
        let mut score_shape = lead.clone();
        score_shape.extend([tq, tk]);
        let mask = mask.map(|m| {
            if broadcast_shape(&score_shape, m.shape()).as_deref() != Some(&score_shape[..]) {
                op_panic(
                    "attention",
                    format!("mask of shape {:?} does not broadcast to the scores' shape {score_shape:?}", m.shape()),
                );
            }
            (m, m.layout().broadcast_to(&score_shape))
        });
        let mut out_shape = lead.clone();
        out_shape.extend([tq, dv]);
        // With at least one query and one key, every item writes all of its weights and output
        // rows (GEMMs with beta = 0), so neither buffer is zeroed first. With no keys the output
        // is an empty sum: zeros.
        let written = tq * tk > 0;
        let (mut out, out_layout) =
            if written { reserve_like::<T>(&out_shape, q.layout()) } else { alloc_like::<T>(&out_shape, q.layout()) };
        let n_weights: usize = score_shape.iter().product();
        let mut weights: Vec<T> = Vec::with_capacity(n_weights);
        let (iq, ik, iv, io) =
            (Items::of(q.layout()), Items::of(k.layout()), Items::of(v.layout()), Items::of(&out_layout));
        let im = mask.as_ref().map(|(_, l)| Items::of(l));
        let (qp, kp, vp) = (&q.storage()[..], &k.storage()[..], &v.storage()[..]);
        let op = SharedMut(out.as_mut_ptr());
        let dh = q.shape()[q.ndim() - 1];
        let item = |n: usize, w: &mut [MaybeUninit<T>]| {
            // SAFETY: every offset and stride comes from the operands' own layouts, which address
            // their storage; each item writes only its own rows of `out` (distinct per item).
            unsafe {
                // w = scale * q_n k_n^T  (Tq, Tk)
                gemm(tq, dh, tk, scale, iq.mat(qp, n), ik.mat(kp, n).t(), MatMut::uninit(w, tk));
            }
            // SAFETY: the GEMM above wrote every element of `w`.
            let w = unsafe { &mut *(w as *mut [MaybeUninit<T>] as *mut [T]) };
            if let (Some((m, _)), Some(im)) = (&mask, &im) {
                let ms = &m.storage()[..];
                for (i, row) in w.chunks_exact_mut(tk).enumerate() {
                    let base = (im.offsets[n] as isize + i as isize * im.rows) as usize;
                    if im.cols == 1 {
                        // A plain row of the mask: a loop the compiler vectorises.
                        for (s, &blocked) in row.iter_mut().zip(&ms[base..base + tk]) {
                            *s = if blocked != T::ZERO { T::NEG_INFINITY } else { *s };
                        }
                    } else {
                        for (j, s) in row.iter_mut().enumerate() {
                            if ms[(base as isize + j as isize * im.cols) as usize] != T::ZERO {
                                *s = T::NEG_INFINITY;
                            }
                        }
                    }
                }
            }
            // The softmax of `Tensor::softmax` on every row of scores (a fully blocked row of
            // `-inf` gives NaN, as the composed softmax does).
            softmax_rows(w, tk);
            // SAFETY: as above; `op` addresses `out`, whose item `n` no other task writes.
            unsafe {
                // out_n = w v_n  (Tq, dv)
                gemm(tq, tk, dv, T::ONE, Mat::dense(w, tk), iv.mat(vp, n), io.out(op, n));
            }
        };
        if written {
            let w = &mut weights.spare_capacity_mut()[..n_weights];
            if in_parallel(iq.offsets.len(), tq * tk * (dh + dv)) {
                w.par_chunks_mut(tq * tk).enumerate().for_each(|(n, w)| item(n, w));
            } else {
                w.chunks_mut(tq * tk).enumerate().for_each(|(n, w)| item(n, w));
            }
            // SAFETY: every item wrote its whole chunk of the weights and its rows of the output,
            // and the items cover both buffers.
            unsafe {
                weights.set_len(n_weights);
                out.set_len(out_layout.numel());
            }
        }
        let out = Tensor::from_storage(std::sync::Arc::new(out), out_layout);
        (out, Tensor::from_vec(weights, &score_shape))
    }

    /// The backward of [`Tensor::attention`]: given the saved `weights` (the softmax `P`) and the
    /// gradient `g` of the output, returns `(dq, dk, dv)`, each laid out like its input.
    ///
    /// ```text
    /// dV = P^T g        dP = g V^T        dS = P * (dP - rowsum(dP * P)) * scale
    /// dQ = dS K         dK = dS^T Q
    /// ```
    ///
    /// A blocked position has `P = 0`, so its score gets no gradient, as through a masked fill.
    #[track_caller]
    pub fn attention_backward(
        q: &Tensor<T>,
        k: &Tensor<T>,
        v: &Tensor<T>,
        weights: &Tensor<T>,
        g: &Tensor<T>,
        scale: T,
    ) -> (Tensor<T>, Tensor<T>, Tensor<T>) {
        check_backward_shapes("attention_backward", q, k, v, weights, g);
        let (mut dq, lq) = alloc_like::<T>(q.shape(), q.layout());
        let (mut dk, lk) = alloc_like::<T>(k.shape(), k.layout());
        let (mut dvv, lv) = alloc_like::<T>(v.shape(), v.layout());
        let dst = [
            (SharedMut(dq.as_mut_ptr()), Items::of(&lq)),
            (SharedMut(dk.as_mut_ptr()), Items::of(&lk)),
            (SharedMut(dvv.as_mut_ptr()), Items::of(&lv)),
        ];
        backward_kernel(q, k, v, weights, g, scale, &dst);
        let wrap = |data: Vec<T>, layout: Layout| Tensor::from_storage(std::sync::Arc::new(data), layout);
        (wrap(dq, lq), wrap(dk, lk), wrap(dvv, lv))
    }

    /// The query, key and value views of a packed projection `self: (B, T, 3 d)` holding them side
    /// by side (`[q | k | v]`, each `d = n_head * d_head` wide, as GPT-2's `c_attn` gives them),
    /// split into `n_head` heads: three `(B, n_head, T, d_head)` views, each laid out as
    /// `(B, T, n_head, d_head)` inside `self` (no copy when `self` is contiguous). They are the three
    /// disjoint thirds of the last axis.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let packed = Tensor::<f64>::arange(0.0, 72.0, 1.0).reshape(&[2, 3, 12]); // d = 4, 2 heads of 2
    /// let [q, k, v] = packed.packed_qkv(2);
    /// assert_eq!(q.shape(), &[2, 2, 3, 2]);
    /// assert_eq!(k.get(&[0, 1, 0, 0]), 6.0); // key half 2 of position 0: column 4 + 2
    /// assert!(v.shares_storage_with(&packed));
    /// ```
    ///
    /// # Panics
    /// Unless `self` is `(B, T, 3 d)` with `d` divisible by `n_head >= 1`.
    #[track_caller]
    pub fn packed_qkv(&self, n_head: usize) -> [Tensor<T>; 3] {
        let s = self.shape();
        if s.len() != 3 || n_head == 0 || !s[2].is_multiple_of(3 * n_head) {
            op_panic("packed_qkv", format!("needs (B, T, 3 d) with d divisible by n_head {n_head}, got shape {s:?}"));
        }
        let (b, t, dh) = (s[0], s[1], s[2] / (3 * n_head));
        let heads = self.reshape(&[b, t, 3, n_head, dh]); // (B, T, 3, h, d_head)
        [0, 1, 2].map(|i| heads.narrow(2, i, 1).squeeze(2).permute(&[0, 2, 1, 3])) // (B, h, T, d_head) each
    }

    /// The backward of [`Tensor::attention`] on the three views [`Tensor::packed_qkv`] makes of
    /// `packed`: the gradients of `q`, `k` and `v` are written straight into one gradient of
    /// `packed`'s shape, each where its input sits. No per-input buffers, no padding, no adds.
    ///
    /// The views are built here, not taken from the caller: the parallel writes below are sound
    /// because the three views are disjoint thirds of `packed` and each `(batch, head)` item of a
    /// view is a block of its own, which holds for views this function makes and not for any
    /// three tensors a caller might pass.
    ///
    /// # Panics
    /// As [`Tensor::packed_qkv`], and if `weights` or `g` do not fit the views (as in
    /// [`Tensor::attention_backward`]).
    #[track_caller]
    pub fn attention_backward_packed(
        packed: &Tensor<T>,
        n_head: usize,
        weights: &Tensor<T>,
        g: &Tensor<T>,
        scale: T,
    ) -> Tensor<T> {
        // The gradient buffer is addressed through the views' layouts, so `packed` must be exactly
        // its own storage (contiguous from element 0): copy it into such a tensor otherwise.
        let whole = packed.is_contiguous() && packed.layout().offset() == 0 && packed.storage().len() == packed.numel();
        let owned;
        let packed = if whole {
            packed
        } else {
            owned = Tensor::from_vec(packed.to_vec(), packed.shape());
            &owned
        };
        let [q, k, v] = packed.packed_qkv(n_head);
        check_backward_shapes("attention_backward_packed", &q, &k, &v, weights, g);
        let mut d = vec![T::ZERO; packed.numel()];
        let ptr = SharedMut(d.as_mut_ptr());
        // The views' own layouts address the gradient buffer exactly as they address `packed`.
        let dst = [(ptr, Items::of(q.layout())), (ptr, Items::of(k.layout())), (ptr, Items::of(v.layout()))];
        backward_kernel(&q, &k, &v, weights, g, scale, &dst);
        Tensor::from_vec(d, packed.shape())
    }
}

/// The shape checks of both backwards.
#[track_caller]
fn check_backward_shapes<T: Float>(
    op: &str,
    q: &Tensor<T>,
    k: &Tensor<T>,
    v: &Tensor<T>,
    weights: &Tensor<T>,
    g: &Tensor<T>,
) {
    let (lead, [tq, tk, _, dv]) = attention_dims(op, q, k, v);
    let mut score_shape = lead.clone();
    score_shape.extend([tq, tk]);
    let mut out_shape = lead;
    out_shape.extend([tq, dv]);
    if weights.shape() != score_shape || g.shape() != out_shape {
        op_panic(
            op,
            format!(
                "weights {:?} and output gradient {:?} do not fit q {:?}, k {:?}, v {:?}",
                weights.shape(),
                g.shape(),
                q.shape(),
                k.shape(),
                v.shape()
            ),
        );
    }
}

/// The backward of every `(batch, head)` item, in parallel, writing `dq`, `dk`, `dv` through
/// `dst` (a buffer and the item offsets and strides to write at, for each of the three).
fn backward_kernel<T: Float>(
    q: &Tensor<T>,
    k: &Tensor<T>,
    v: &Tensor<T>,
    weights: &Tensor<T>,
    g: &Tensor<T>,
    scale: T,
    dst: &[(SharedMut<T>, Items); 3],
) {
    let nd = q.ndim();
    let (tq, tk, dh, dv) = (q.shape()[nd - 2], k.shape()[nd - 2], q.shape()[nd - 1], v.shape()[nd - 1]);
    let p = weights.contiguous();
    let ps = p.as_slice().expect("contiguous");
    let (iq, ik, iv, ig) = (Items::of(q.layout()), Items::of(k.layout()), Items::of(v.layout()), Items::of(g.layout()));
    let [(dqp, idq), (dkp, idk), (dvp, idv)] = dst;
    let (dqp, dkp, dvp) = (*dqp, *dkp, *dvp);
    let (qp, kp, vp, gp) = (&q.storage()[..], &k.storage()[..], &v.storage()[..], &g.storage()[..]);
    // `ds` is scratch for dP and then dS, (Tq, Tk): one per task, reused across its items.
    let item = |n: usize, pn: &[T], ds: &mut [T]| {
        let (p, g) = (Mat::dense(pn, tk), ig.mat(gp, n));
        // SAFETY: offsets and strides come from the operands' layouts; item `n` of each gradient
        // is written by this task only, and the three gradients do not overlap.
        unsafe {
            // dV_n = P_n^T g_n  (Tk, dv)
            gemm(tk, tq, dv, T::ONE, p.t(), g, idv.out(dvp, n));
            // dP_n = g_n V_n^T  (Tq, Tk)
            gemm(tq, dv, tk, T::ONE, g, iv.mat(vp, n).t(), MatMut::dense(ds, tk));
        }
        // dS = P * (dP - sum(dP * P)) * scale, row by row (the softmax backward, then the scale).
        for (d, pr) in ds.chunks_exact_mut(tk).zip(pn.chunks_exact(tk)) {
            let dot = lane_dot(d, pr);
            for (a, &b) in d.iter_mut().zip(pr) {
                *a = b * (*a - dot) * scale;
            }
        }
        let ds = Mat::dense(ds, tk);
        // SAFETY: as above.
        unsafe {
            // dQ_n = dS K_n  (Tq, dh)
            gemm(tq, tk, dh, T::ONE, ds, ik.mat(kp, n), idq.out(dqp, n));
            // dK_n = dS^T Q_n  (Tk, dh)
            gemm(tk, tq, dh, T::ONE, ds.t(), iq.mat(qp, n), idk.out(dkp, n));
        }
    };
    if tq * tk > 0 {
        let scratch = || vec![T::ZERO; tq * tk];
        if in_parallel(iq.offsets.len(), 2 * tq * tk * (dh + dv)) {
            ps.par_chunks(tq * tk).enumerate().for_each_init(scratch, |ds, (n, pn)| item(n, pn, ds));
        } else {
            let mut ds = scratch();
            ps.chunks(tq * tk).enumerate().for_each(|(n, pn)| item(n, pn, &mut ds));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    /// `softmax(q k^T * scale) v` by the definition, one (item, query) at a time, in f64; with no
    /// keys the weighted sum is empty: zeros.
    fn reference(q: &Tensor<f64>, k: &Tensor<f64>, v: &Tensor<f64>, scale: f64) -> Vec<f64> {
        let (lead, tq, dh) = (q.shape()[0], q.shape()[1], q.shape()[2]);
        let (tk, dv) = (k.shape()[1], v.shape()[2]);
        let mut out = Vec::new();
        for b in 0..lead {
            for i in 0..tq {
                let s: Vec<f64> = (0..tk)
                    .map(|j| scale * (0..dh).map(|d| q.get(&[b, i, d]) * k.get(&[b, j, d])).sum::<f64>())
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                out.extend((0..dv).map(|c| (0..tk).map(|j| e[j] / z * v.get(&[b, j, c])).sum::<f64>()));
            }
        }
        out
    }

    #[test]
    fn empty_axes_give_empty_or_zero_results() {
        // (items, tq, tk, dh, dv): no keys (an empty weighted sum: zeros), no queries, zero-width
        // heads (every score 0: uniform weights), zero-width values, no items.
        for (lead, tq, tk, dh, dv) in
            [(2, 3, 0, 4, 5), (2, 0, 3, 4, 5), (2, 3, 4, 0, 5), (2, 3, 4, 2, 0), (0, 3, 4, 2, 5)]
        {
            let q = Tensor::<f64>::rand_uniform(&[lead, tq, dh], -1.0, 1.0, 1);
            let k = Tensor::<f64>::rand_uniform(&[lead, tk, dh], -1.0, 1.0, 2);
            let v = Tensor::<f64>::rand_uniform(&[lead, tk, dv], -1.0, 1.0, 3);
            let case = format!("items {lead}, tq {tq}, tk {tk}, dh {dh}, dv {dv}");
            let (out, w) = Tensor::attention(&q, &k, &v, None, 0.5);
            assert_eq!(out.shape(), &[lead, tq, dv], "{case}");
            assert_eq!(w.shape(), &[lead, tq, tk], "{case}");
            let want = reference(&q, &k, &v, 0.5);
            assert_eq!(out.numel(), want.len(), "{case}");
            for (got, want) in out.to_vec().iter().zip(&want) {
                assert!((got - want).abs() < 1e-12, "{case}: {got} against {want}");
            }
            let g = Tensor::<f64>::ones(&[lead, tq, dv]);
            let (dq, dk, dvv) = Tensor::attention_backward(&q, &k, &v, &w, &g, 0.5);
            assert_eq!((dq.shape(), dk.shape(), dvv.shape()), (q.shape(), k.shape(), v.shape()), "{case}");
            if tk == 0 || tq == 0 {
                // Nothing flows: every gradient element is exactly zero.
                for t in [&dq, &dk, &dvv] {
                    assert!(t.to_vec().iter().all(|&x| x == 0.0), "{case}");
                }
            }
        }
    }

    /// The packed backward makes its own views, so no caller can hand it overlapping ones: a
    /// `packed` that is not its own whole storage (an offset view, a transposed view) is copied
    /// first and gives the same gradient as the same values laid out plainly, and the result
    /// equals the three separate backwards put side by side.
    #[test]
    fn packed_backward_builds_its_own_disjoint_views() {
        let (b, t, h, dh) = (2, 5, 2, 3);
        let d = h * dh;
        let plain = Tensor::<f64>::rand_normal(&[b, t, 3 * d], 0.0, 1.0, 1);
        let big = Tensor::<f64>::rand_normal(&[2 * b, t, 3 * d], 0.0, 1.0, 2);
        let offset_view = Tensor::concat(&[&big.narrow(0, 0, b), &plain], 0).narrow(0, b, b); // offset > 0
        let transposed = plain.transpose(0, 1).contiguous().transpose(0, 1); // not contiguous
        let [q, k, v] = plain.packed_qkv(h);
        assert!([&q, &k, &v].iter().all(|x| x.shares_storage_with(&plain)));
        let scale = 1.0 / (dh as f64).sqrt();
        let (_, w) = Tensor::attention(&q, &k, &v, None, scale);
        let g = Tensor::<f64>::rand_normal(&[b, h, t, dh], 0.0, 1.0, 3);
        let expected = Tensor::attention_backward_packed(&plain, h, &w, &g, scale);
        for other in [&offset_view, &transposed] {
            assert_eq!(other.to_vec(), plain.to_vec());
            assert_eq!(Tensor::attention_backward_packed(other, h, &w, &g, scale).to_vec(), expected.to_vec());
        }
        // Side by side: the gradients of the three views, each in its third of the last axis.
        let (dq, dk, dv) = Tensor::attention_backward(&q, &k, &v, &w, &g, scale);
        let merge = |x: &Tensor<f64>| x.permute(&[0, 2, 1, 3]).contiguous().reshape(&[b, t, d]);
        let side_by_side = Tensor::concat(&[&merge(&dq), &merge(&dk), &merge(&dv)], 2);
        assert!(expected.max_abs_diff(&side_by_side) < 1e-12);
    }

    #[test]
    #[should_panic(expected = "packed_qkv")]
    fn a_packed_width_that_does_not_split_is_refused() {
        let _ = Tensor::<f64>::zeros(&[1, 2, 10]).packed_qkv(2);
    }
}
