//! The generic elementwise kernels every pointwise op is written with: [`Tensor::map`] for one
//! input and [`Tensor::zip_with`] for two inputs under broadcasting.
//!
//! Both take a fast path over plain slices when their inputs are contiguous. Otherwise they walk
//! the inputs a row at a time with [`Rows`] (the strided walker, after merging the axes that
//! allow it): a row whose inputs all have stride 1, or stride 0 for a broadcast value, is a plain
//! slice loop the compiler vectorises; only other strides index element by element. Results are
//! always contiguous.
//!
//! Large outputs are filled in parallel on rayon, in chunks of a fixed [`PAR_CHUNK`] elements.
//! Each element is computed on its own, so the result is the same bit for bit whatever the number
//! of threads, and the chunk size never depends on it.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::op_panic;
use crate::layout::{Rows, broadcast_shape};
use crate::{Float, Tensor};

/// Elements per parallel task. A constant: how work is split must never depend on the number of
/// threads (a reduction split by thread count would round differently on another machine).
pub(crate) const PAR_CHUNK: usize = 1 << 15;

/// Outputs smaller than this (eight chunks, 1 MiB of `f32`) are computed on the calling thread.
/// Most elementwise ops are bound by memory, not arithmetic: on a second core they save little,
/// and whatever that core writes must travel back to the first core's cache for the next op. On
/// the reference GPT at two threads, moving this from two chunks to eight (so the 768 x 128
/// residual adds and their reductions stay on one thread, while the 768 x 512 GELU still
/// splits) made the step about 2-4 % faster (docs/benchmarks.md).
pub(crate) const PAR_MIN: usize = 8 * PAR_CHUNK;

/// A `Vec` of `n` elements, filled by `fill(start, out)` for consecutive pieces `out` of the
/// output that begin at element `start`: in parallel over chunks of [`PAR_CHUNK`] elements when
/// `n >= PAR_MIN`, else in one call. The output is never zeroed first.
///
/// # Safety
/// `fill` must initialise every element of each `out` it is given.
pub(crate) unsafe fn build_vec<T: Send>(n: usize, fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    let out = &mut v.spare_capacity_mut()[..n];
    if n >= PAR_MIN {
        out.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(c, out)| fill(c * PAR_CHUNK, out));
    } else {
        fill(0, out);
    }
    // SAFETY: the caller's `fill` initialised all `n` elements.
    unsafe { v.set_len(n) };
    v
}

/// Two `Vec`s of `n` elements filled side by side, as [`build_vec`] fills one: `fill(start, a, b)`
/// gets the same piece of both outputs. For kernels with two results per element.
///
/// # Safety
/// `fill` must initialise every element of each `a` and `b` it is given.
pub(crate) unsafe fn build_vec_pair<T: Send>(
    n: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) + Sync,
) -> (Vec<T>, Vec<T>) {
    let (mut va, mut vb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (a, b) = (&mut va.spare_capacity_mut()[..n], &mut vb.spare_capacity_mut()[..n]);
    if n >= PAR_MIN {
        a.par_chunks_mut(PAR_CHUNK)
            .zip(b.par_chunks_mut(PAR_CHUNK))
            .enumerate()
            .for_each(|(c, (a, b))| fill(c * PAR_CHUNK, a, b));
    } else {
        fill(0, a, b);
    }
    // SAFETY: the caller's `fill` initialised all `n` elements of both.
    unsafe {
        va.set_len(n);
        vb.set_len(n);
    }
    (va, vb)
}

/// `out[k] = f(x[k])`. Unit stride on both sides: the loop the compiler vectorises.
#[inline(always)]
fn map_slice<T: Float>(x: &[T], out: &mut [MaybeUninit<T>], f: &impl Fn(T) -> T) {
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(f(v));
    }
}

/// `out[k] = f(a[i + k sa], b[j + k sb])` for one run of `out.len()` elements, with a slice loop
/// for the common strides: both 1, or one 0 (a value broadcast along the row).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn zip_run<T: Float>(
    a: &[T],
    (i, sa): (usize, usize),
    b: &[T],
    (j, sb): (usize, usize),
    out: &mut [MaybeUninit<T>],
    f: &impl Fn(T, T) -> T,
) {
    let n = out.len();
    match (sa, sb) {
        (1, 1) => {
            for ((o, &x), &y) in out.iter_mut().zip(&a[i..i + n]).zip(&b[j..j + n]) {
                o.write(f(x, y));
            }
        }
        (1, 0) => {
            let y = b[j];
            for (o, &x) in out.iter_mut().zip(&a[i..i + n]) {
                o.write(f(x, y));
            }
        }
        (0, 1) => {
            let x = a[i];
            for (o, &y) in out.iter_mut().zip(&b[j..j + n]) {
                o.write(f(x, y));
            }
        }
        _ => {
            for (k, o) in out.iter_mut().enumerate() {
                o.write(f(a[i + k * sa], b[j + k * sb]));
            }
        }
    }
}

impl<T: Float> Tensor<T> {
    /// Applies `f` to every element, giving a new contiguous tensor of the same shape.
    ///
    /// `f` must be `Sync`: large tensors are processed in parallel chunks (see the module docs).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::arange(0.0, 4.0, 1.0).reshape(&[2, 2]).mt();
    /// assert_eq!(t.map(|x| x * 10.0).to_vec(), vec![0.0, 20.0, 10.0, 30.0]);
    /// ```
    pub fn map(&self, f: impl Fn(T) -> T + Sync) -> Tensor<T> {
        Tensor::from_vec(self.map_to_vec(f), self.shape())
    }

    /// `f` of every element, in row-major order: the body of [`Tensor::map`], and with the identity
    /// the strided copy behind [`Tensor::to_vec`] and [`Tensor::contiguous`].
    pub(crate) fn map_to_vec(&self, f: impl Fn(T) -> T + Sync) -> Vec<T> {
        let n = self.numel();
        if let Some(src) = self.as_slice() {
            // SAFETY: `map_slice` writes every element of `out`.
            return unsafe { build_vec(n, |start, out| map_slice(&src[start..start + out.len()], out, &f)) };
        }
        let rows = Rows::new(self.shape(), [&self.layout]);
        let [step] = rows.inner_strides;
        let src = &self.storage[..];
        let fill = |start: usize, out: &mut [MaybeUninit<T>]| {
            let mut o = 0;
            rows.for_each_run(start..start + out.len(), |[i], len| {
                let dst = &mut out[o..o + len];
                if step == 1 {
                    map_slice(&src[i..i + len], dst, &f);
                } else {
                    for (k, d) in dst.iter_mut().enumerate() {
                        d.write(f(src[i + k * step]));
                    }
                }
                o += len;
            });
        };
        // SAFETY: the runs of `start..start + out.len()` add up to `out.len()` elements, and each
        // run writes its `len` elements.
        unsafe { build_vec(n, fill) }
    }

    /// A new contiguous tensor of this shape from `kernel(x, out)`, which must write every element
    /// of `out` from the same-length piece `x` of the input in row-major order. For elementwise
    /// ops whose kernel works on whole slices at once (e.g. to vectorise by hand); a strided input
    /// is copied to contiguous first.
    ///
    /// # Safety
    /// `kernel` must initialise every element of each `out` it is given.
    pub(crate) unsafe fn map_slices(&self, kernel: impl Fn(&[T], &mut [MaybeUninit<T>]) + Sync) -> Tensor<T> {
        let x = self.contiguous();
        let src = x.as_slice().expect("contiguous() returns a contiguous tensor");
        // SAFETY: the caller's kernel writes every element of `out`.
        let data = unsafe { build_vec(src.len(), |start, out| kernel(&src[start..start + out.len()], out)) };
        Tensor::from_vec(data, self.shape())
    }

    /// Combines two tensors elementwise after broadcasting them to a common shape.
    ///
    /// `op` names the operation in the panic message when the shapes don't broadcast. `f` must be
    /// `Sync`: large outputs are computed in parallel chunks (see the module docs).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let col = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2, 1]);
    /// let row = Tensor::<f64>::from_vec(vec![10.0, 20.0, 30.0], &[3]);
    /// let s = col.zip_with(&row, "add", |a, b| a + b);
    /// assert_eq!(s.shape(), &[2, 3]);
    /// assert_eq!(s.to_vec(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    /// ```
    #[track_caller]
    pub fn zip_with(&self, other: &Tensor<T>, op: &str, f: impl Fn(T, T) -> T + Sync) -> Tensor<T> {
        let shape = self.broadcast_shape_with(other, op);
        let n = shape.iter().product();
        if self.shape() == other.shape()
            && let (Some(a), Some(b)) = (self.as_slice(), other.as_slice())
        {
            let fill = |start: usize, out: &mut [MaybeUninit<T>]| {
                zip_run(a, (start, 1), b, (start, 1), out, &f);
            };
            // SAFETY: `zip_run` writes every element of `out`.
            return Tensor::from_vec(unsafe { build_vec(n, fill) }, &shape);
        }
        let (la, lb) = (self.layout.broadcast_to(&shape), other.layout.broadcast_to(&shape));
        let rows = Rows::new(&shape, [&la, &lb]);
        let [sa, sb] = rows.inner_strides;
        let (a, b) = (&self.storage[..], &other.storage[..]);
        let fill = |start: usize, out: &mut [MaybeUninit<T>]| {
            let mut o = 0;
            rows.for_each_run(start..start + out.len(), |[i, j], len| {
                zip_run(a, (i, sa), b, (j, sb), &mut out[o..o + len], &f);
                o += len;
            });
        };
        // SAFETY: the runs of `start..start + out.len()` add up to `out.len()` elements, and
        // `zip_run` writes each run.
        Tensor::from_vec(unsafe { build_vec(n, fill) }, &shape)
    }

    /// The broadcast shape of two tensors, or a panic naming `op` and both shapes.
    #[track_caller]
    pub fn broadcast_shape_with(&self, other: &Tensor<T>, op: &str) -> Vec<usize> {
        match broadcast_shape(self.shape(), other.shape()) {
            Some(s) => s,
            None => {
                op_panic(op, format!("shapes {:?} and {:?} cannot be broadcast together", self.shape(), other.shape()))
            }
        }
    }

    /// Calls `f` on every element in row-major order, on the calling thread (`f` may keep state,
    /// e.g. a running sum, and sees the elements in a fixed order).
    pub fn for_each(&self, mut f: impl FnMut(T)) {
        if let Some(src) = self.as_slice() {
            src.iter().for_each(|&x| f(x));
            return;
        }
        let rows = Rows::new(self.shape(), [&self.layout]);
        let [step] = rows.inner_strides;
        let src = &self.storage[..];
        rows.for_each_run(0..rows.numel(), |[i], len| {
            if step == 1 {
                src[i..i + len].iter().for_each(|&x| f(x));
            } else {
                (0..len).for_each(|k| f(src[i + k * step]));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{PAR_CHUNK, PAR_MIN};
    use crate::{Float, Tensor, gelu_erf_scalar};

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    }

    fn bits(t: &Tensor<f32>) -> Vec<u32> {
        t.to_vec().iter().map(|x| x.to_bits()).collect()
    }

    /// `(rows, 128)` shapes whose element counts sit on both sides of the chunk boundaries.
    fn row_counts() -> Vec<usize> {
        let c = 128;
        vec![PAR_CHUNK / c - 1, PAR_CHUNK / c, PAR_MIN / c - 1, PAR_MIN / c, PAR_MIN / c + 1, 3 * PAR_CHUNK / c + 3]
    }

    /// Runs `op` under 1, 2 and 3 threads and checks the three results are the same bits.
    fn same_for_any_thread_count(what: &str, op: impl Fn() -> Tensor<f32> + Sync) -> Vec<u32> {
        let one = in_pool(1, || bits(&op()));
        for threads in [2, 3] {
            assert!(in_pool(threads, || bits(&op())) == one, "{what}: {threads} threads differ from 1");
        }
        one
    }

    #[test]
    fn elementwise_results_are_exact_for_any_thread_count() {
        for rows in row_counts() {
            let x = Tensor::<f32>::rand_uniform(&[rows, 128], -3.0, 3.0, rows as u64);
            let bias = Tensor::<f32>::rand_uniform(&[128], -1.0, 1.0, 1);
            let scale = Tensor::<f32>::rand_uniform(&[rows, 1], 0.5, 2.0, 2);
            let (xv, bv, sv) = (x.to_vec(), bias.to_vec(), scale.to_vec());
            let f = |a: f32, b: f32| a * 0.5 - b;
            let want = |g: &dyn Fn(usize, usize) -> f32| -> Vec<u32> {
                (0..rows * 128).map(|i| g(i / 128, i % 128).to_bits()).collect()
            };

            let got = same_for_any_thread_count("map", || x.map(|v| v * 3.0 + 1.0));
            assert_eq!(got, want(&|r, c| xv[r * 128 + c] * 3.0 + 1.0));
            let got = same_for_any_thread_count("map of a transpose", || x.mt().map(|v| v * 3.0 + 1.0).mt());
            assert_eq!(got, want(&|r, c| xv[r * 128 + c] * 3.0 + 1.0));
            let got = same_for_any_thread_count("zip_with", || x.zip_with(&x.mul_scalar(2.0), "t", f));
            assert_eq!(got, want(&|r, c| f(xv[r * 128 + c], xv[r * 128 + c] * 2.0)));
            let got = same_for_any_thread_count("bias add", || x.zip_with(&bias, "t", f));
            assert_eq!(got, want(&|r, c| f(xv[r * 128 + c], bv[c])));
            let got = same_for_any_thread_count("row scale", || x.zip_with(&scale, "t", f));
            assert_eq!(got, want(&|r, c| f(xv[r * 128 + c], sv[r])));
            let got = same_for_any_thread_count("scalar on the left", || scale.zip_with(&x, "t", f));
            assert_eq!(got, want(&|r, c| f(sv[r], xv[r * 128 + c])));
            let got = same_for_any_thread_count("transpose copy", || x.mt().contiguous().mt());
            assert_eq!(got, want(&|r, c| xv[r * 128 + c]));
            // The scalar reference, one element at a time.
            let gelu = |v: f32| gelu_erf_scalar(v).0;
            let erf1 = |u: f32| {
                let mut a = [u];
                f32::erf_in_place(&mut a);
                a[0]
            };
            let got = same_for_any_thread_count("gelu_erf", || x.gelu_erf());
            assert_eq!(got, want(&|r, c| gelu(xv[r * 128 + c])));
            // Two outputs per element (build_vec_pair): both exact, on any thread count.
            let got = same_for_any_thread_count("gelu_erf_with_cdf (y)", || x.gelu_erf_with_cdf().0);
            assert_eq!(got, want(&|r, c| gelu(xv[r * 128 + c])));
            let got = same_for_any_thread_count("gelu_erf_with_cdf (cdf)", || x.gelu_erf_with_cdf().1);
            assert_eq!(got, want(&|r, c| 0.5 * (1.0 + erf1(xv[r * 128 + c] / std::f32::consts::SQRT_2))));
        }
    }

    #[test]
    fn a_permuted_copy_moves_whole_runs_in_order() {
        // (B, h, T, dh) -> (B, T, h, dh), large enough to be split into chunks mid-row.
        let x = Tensor::<f64>::arange(0.0, (32 * 4 * 64 * 33) as f64, 1.0).reshape(&[32, 4, 64, 33]);
        assert!(x.numel() > PAR_MIN && !PAR_CHUNK.is_multiple_of(33));
        let y = in_pool(2, || x.permute(&[0, 2, 1, 3]).contiguous());
        assert_eq!(y.shape(), &[32, 64, 4, 33]);
        let v = y.to_vec();
        for (i, &got) in v.iter().enumerate() {
            let (d, h, t, b) = (i % 33, (i / 33) % 4, (i / (33 * 4)) % 64, i / (33 * 4 * 64));
            assert_eq!(got, x.get(&[b, h, t, d]));
        }
    }
}
