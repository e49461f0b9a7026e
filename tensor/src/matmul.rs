//! Matrix products with `torch.matmul` semantics, over a strided GEMM: the project's own packed
//! GEMM for f32 on x86-64 ([`crate::gemm`]), `matrixmultiply` for f64 and on other CPUs.
//!
//! `C[.., i, j] = sum_p A[.., i, p] * B[.., p, j]`,  A: (..., m, k) @ B: (..., k, n) -> C: (..., m, n),
//! where the leading "batch" dimensions broadcast against each other: (2, 1, 3, 4) @ (5, 4, 6) -> (2, 5, 3, 6).
//! A 1-D left operand (k) is treated as (1, k) and a 1-D right operand (k) as (k, 1); the added axis is
//! removed from the result, so vector @ vector is a 0-d dot product.
//!
//! **No copies.** Both GEMMs take a row stride and a column stride for each matrix. Every 2-D slice `[b.., :, :]` of a strided tensor is exactly that: a pointer plus (row
//! stride, column stride). So transposed views (`.mt()`), narrowed views and broadcast batches (stride
//! 0 on a batch axis) all go straight into the GEMM. A copy would only be needed for a matrix whose
//! elements could not be addressed as `base + i * rs + j * cs`; no [`Layout`](crate::Layout) produces
//! one, so this file never copies an operand.
//!
//! **Parallel and deterministic.** Work is split on rayon in two ways, neither of which splits the
//! sum over `p`: (a) across the batch, each batch writing its own block of the output; (b) for one
//! large product, across runs of output rows, one run per thread, each run one GEMM call on its rows
//! of A and C. Runs are cut only on a fixed grid of [`Tensor::MATMUL_ROW_BLOCK`] rows, and a GEMM
//! computes each output element's sum over `p` the same way whichever rows share its call, so the
//! results are bit-identical for any number of threads (the integration test checks 1, 2 and 3, and
//! against one unsplit call). Our GEMM's bits do not depend on the cut at all (see [`crate::gemm`]);
//! the grid is what keeps matrixmultiply's the same. matrixmultiply's own `threading` feature stays
//! off (see Cargo.lock: no `thread-tree`), so rayon is the only source of parallelism.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::op_panic;
use crate::layout::{Layout, broadcast_shape, for_each_offsets};
use crate::{Float, Tensor};

/// Below this many floating-point operations (`2 m n k`, summed over the batch) a product runs on the
/// calling thread: rayon's task overhead (microseconds) would outweigh the work. It is also the least
/// work handed to one rayon task.
const PAR_MIN_FLOPS: usize = 1 << 22;

/// Everything the GEMM calls need, worked out once from the two layouts.
struct Plan {
    /// Result shape after removing the axes added for 1-D operands.
    out_shape: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    /// Storage offsets of the first element of each batch's A and B matrix, in output order.
    batches: Vec<(usize, usize)>,
    /// (row stride, column stride) of every A matrix and every B matrix.
    a_strides: (isize, isize),
    b_strides: (isize, isize),
}

impl<T: Float> Tensor<T> {
    /// The grid on which one large product's output rows are cut into per-thread runs.
    ///
    /// Our GEMM computes each element the same way wherever a cut falls. For matrixmultiply (f64,
    /// other CPUs), 64 is a multiple of every microkernel height (4, 8 or 16 rows) and equal to
    /// its row panel (64), so no cut lands inside a tile, and each element's arithmetic is the same as
    /// in one unsplit call. (It was 128 until the training step's weight gradients, whose 128 or 384
    /// rows split 1:0 or 2:1 between two threads on a 128 grid, showed up in the profile.) Runs are whole numbers of blocks, one run per thread (the GEMM repacks B
    /// once per call, so fewer, longer calls are faster). See docs/benchmarks.md.
    pub const MATMUL_ROW_BLOCK: usize = 64;

    /// Matrix product with `torch.matmul` semantics.
    ///
    /// | lhs | rhs | result |
    /// |-----|-----|--------|
    /// | (k) | (k) | () — dot product |
    /// | (k) | (.., k, n) | (.., n) |
    /// | (.., m, k) | (k) | (.., m) |
    /// | (.., m, k) | (.., k, n) | (broadcast(..), m, n) |
    ///
    /// Operands may be any views (transposed, narrowed, broadcast): their strides go to the GEMM
    /// without copying. The result is a new contiguous tensor. Large products run in parallel on
    /// rayon's current pool, with results bit-identical for every thread count.
    ///
    /// # Panics
    /// If an operand is 0-d, the inner dimensions differ, or the batch dimensions do not broadcast;
    /// the message names both shapes.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// let b = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    /// assert_eq!(a.matmul(&b).to_vec(), vec![4.0, 5.0, 10.0, 11.0]);
    /// // Transposed operand: a view, no copy. (2, 3) @ (3, 2)
    /// assert_eq!(a.matmul(&a.mt()).to_vec(), vec![14.0, 32.0, 32.0, 77.0]);
    /// // Vector @ vector is a 0-d dot product.
    /// let v = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    /// assert_eq!(v.matmul(&v).shape(), &[] as &[usize]);
    /// assert_eq!(v.matmul(&v).item(), 14.0);
    /// // Batch dimensions broadcast: (2, 1, 3, 4) @ (5, 4, 6) -> (2, 5, 3, 6).
    /// let x = Tensor::<f32>::ones(&[2, 1, 3, 4]);
    /// let w = Tensor::<f32>::ones(&[5, 4, 6]);
    /// assert_eq!(x.matmul(&w).shape(), &[2, 5, 3, 6]);
    /// ```
    #[track_caller]
    pub fn matmul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.matmul_split(other, true)
    }

    /// [`Tensor::matmul`] without cutting one product into per-thread row runs: each batch item is
    /// one GEMM call on whichever thread runs it. For callers that already run several products
    /// side by side (the matmul backward computes `dA` and `dB` at once on two threads): a cut
    /// would only repack the right operand once more per run. Same results, bit for bit.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::rand_uniform(&[600, 100], -1.0, 1.0, 1); // large enough to be cut
    /// let b = Tensor::<f32>::rand_uniform(&[100, 64], -1.0, 1.0, 2);
    /// assert_eq!(a.matmul_unsplit(&b).to_vec(), a.matmul(&b).to_vec());
    /// ```
    #[track_caller]
    pub fn matmul_unsplit(&self, other: &Tensor<T>) -> Tensor<T> {
        self.matmul_split(other, false)
    }

    #[track_caller]
    fn matmul_split(&self, other: &Tensor<T>, split_rows: bool) -> Tensor<T> {
        let plan = self.matmul_plan(other, "matmul");
        let len: usize = plan.out_shape.iter().product();
        // beta = 0 makes the GEMM write C without reading it, so the output needs no zeroing:
        // it saves a pass over m n elements (and, for a fresh allocation, the page faults zeroing
        // would trigger), a few percent on the mid-sized products of a transformer.
        let mut data = Vec::with_capacity(len);
        write_product(self, other, &plan, &mut data.spare_capacity_mut()[..len], split_rows);
        // SAFETY: `write_product` initialised all `len` elements (every output element is written
        // exactly once; the integration tests check this with NaN-filled buffers via `matmul_into`).
        unsafe { data.set_len(len) };
        Tensor::from_vec(data, &plan.out_shape)
    }

    /// The matrix product written into `out` in row-major order, instead of a new tensor.
    ///
    /// `out` must have exactly as many elements as the result ([`Tensor::matmul_shape`]); its
    /// previous contents are ignored and every element is overwritten. Same semantics, parallelism
    /// and determinism as [`Tensor::matmul`], which runs the same code into a fresh buffer.
    ///
    /// # Panics
    /// As [`Tensor::matmul`], and if `out.len()` differs from the result's element count.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// let mut out = vec![f32::NAN; 4];
    /// a.matmul_into(&a, &mut out);
    /// assert_eq!(out, vec![7.0, 10.0, 15.0, 22.0]);
    /// ```
    #[track_caller]
    pub fn matmul_into(&self, other: &Tensor<T>, out: &mut [T]) {
        let plan = self.matmul_plan(other, "matmul_into");
        let len: usize = plan.out_shape.iter().product();
        if out.len() != len {
            op_panic(
                "matmul_into",
                format!(
                    "output buffer has {} elements but shapes {:?} and {:?} give {:?} ({len} elements)",
                    out.len(),
                    self.shape(),
                    other.shape(),
                    plan.out_shape
                ),
            );
        }
        // SAFETY: `MaybeUninit<T>` has the layout of `T`, and only initialised `T` values are
        // written through the reborrow, so `out` stays fully initialised.
        let out = unsafe { &mut *(out as *mut [T] as *mut [MaybeUninit<T>]) };
        write_product(self, other, &plan, out, true);
    }

    /// The shape `self.matmul(other)` will have, or a panic naming both shapes if they don't fit.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::zeros(&[2, 1, 3, 4]);
    /// let b = Tensor::<f32>::zeros(&[5, 4, 6]);
    /// assert_eq!(a.matmul_shape(&b), vec![2, 5, 3, 6]);
    /// ```
    #[track_caller]
    pub fn matmul_shape(&self, other: &Tensor<T>) -> Vec<usize> {
        self.matmul_plan(other, "matmul").out_shape
    }

    /// Checks the shapes and resolves every batch to a pair of storage offsets.
    #[track_caller]
    fn matmul_plan(&self, other: &Tensor<T>, op: &str) -> Plan {
        let (sa, sb) = (self.shape(), other.shape());
        if sa.is_empty() || sb.is_empty() {
            op_panic(op, format!("cannot multiply shapes {sa:?} and {sb:?}: both need at least 1 dimension"));
        }
        // 1-D operands become a row (1, k) on the left or a column (k, 1) on the right.
        let a = if sa.len() == 1 { self.layout.unsqueeze(0) } else { self.layout.clone() };
        let b = if sb.len() == 1 { other.layout.unsqueeze(1) } else { other.layout.clone() };
        let (na, nb) = (a.ndim(), b.ndim());
        let (m, k, kb, n) = (a.shape()[na - 2], a.shape()[na - 1], b.shape()[nb - 2], b.shape()[nb - 1]);
        if k != kb {
            op_panic(
                op,
                format!("cannot multiply shapes {sa:?} and {sb:?}: lhs has {k} columns but rhs has {kb} rows"),
            );
        }
        let (batch_a, batch_b) = (&a.shape()[..na - 2], &b.shape()[..nb - 2]);
        let Some(batch) = broadcast_shape(batch_a, batch_b) else {
            op_panic(
                op,
                format!(
                    "cannot multiply shapes {sa:?} and {sb:?}: batch dimensions {batch_a:?} and {batch_b:?} do not broadcast"
                ),
            )
        };

        let mut out_shape = batch.clone();
        if sa.len() > 1 {
            out_shape.push(m);
        }
        if sb.len() > 1 {
            out_shape.push(n);
        }

        // The batch axes alone, stretched to the common batch shape (stride 0 where broadcast),
        // walked together to list each batch's two matrix offsets.
        let batch_layout = |l: &Layout| {
            let nd = l.ndim();
            Layout::new(l.shape()[..nd - 2].to_vec(), l.strides()[..nd - 2].to_vec(), l.offset()).broadcast_to(&batch)
        };
        let (la, lb) = (batch_layout(&a), batch_layout(&b));
        let mut batches = Vec::with_capacity(batch.iter().product());
        for_each_offsets(&batch, [&la, &lb], |[oa, ob]| batches.push((oa, ob)));

        let strides = |l: &Layout| {
            let s = l.strides();
            (s[s.len() - 2] as isize, s[s.len() - 1] as isize)
        };
        let mut plan = Plan { out_shape, m, k, n, batches, a_strides: strides(&a), b_strides: strides(&b) };
        fold_shared_rhs(&mut plan, &la);
        plan
    }
}

/// A batch of A matrices times one shared B (the linear layer `x (B, T, C) @ W (C, D)`) is one tall
/// product `(B T, C) @ (C, D)` when the batch and row axes of A step through storage as a single
/// axis. One GEMM call then packs B once instead of once per batch; the output, row-major
/// `(B, T, D)`, is the same memory either way.
fn fold_shared_rhs(plan: &mut Plan, a_batch: &Layout) {
    let nbatch = plan.batches.len();
    if nbatch <= 1 || plan.batches.iter().any(|&(_, ob)| ob != plan.batches[0].1) {
        return;
    }
    // Rows of A, counting every batch, must be `rows` apart: each non-trivial axis (outer to inner)
    // must step by the size of everything inside it.
    let mut axes: Vec<(usize, usize)> =
        a_batch.shape().iter().copied().zip(a_batch.strides().iter().copied()).collect();
    axes.push((plan.m, plan.a_strides.0 as usize));
    axes.retain(|&(d, _)| d != 1);
    let Some(&(_, row_stride)) = axes.last() else { return };
    if axes.windows(2).any(|w| w[0].1 != w[1].1 * w[1].0) {
        return;
    }
    plan.m *= nbatch;
    plan.a_strides.0 = row_stride as isize;
    plan.batches.truncate(1);
}

/// Computes the planned product into `out` (row-major, `batches * m * n` elements), writing
/// every element exactly once; `split_rows` allows cutting one large product into per-thread row
/// runs.
fn write_product<T: Float>(a: &Tensor<T>, b: &Tensor<T>, plan: &Plan, out: &mut [MaybeUninit<T>], split_rows: bool) {
    let (m, k, n) = (plan.m, plan.k, plan.n);
    let mn = m * n;
    debug_assert_eq!(out.len(), mn * plan.batches.len());
    if out.is_empty() {
        return;
    }
    if k == 0 {
        // An empty sum: zeros. Handled here so no pointer into a possibly empty storage is formed.
        out.fill(MaybeUninit::new(T::ZERO));
        return;
    }
    let (a_data, b_data) = (a.storage.as_slice(), b.storage.as_slice());
    let flops = 2 * m * n * k;
    let gemm_rows = |(oa, ob): (usize, usize), row0: usize, c: &mut [MaybeUninit<T>]| {
        let rows = c.len() / n;
        let (rsa, csa) = plan.a_strides;
        let (rsb, csb) = plan.b_strides;
        // SAFETY: the layouts are valid views of their storage, so A's rows row0..row0 + rows
        // (k columns each) and B's k x n matrix address only elements inside `a_data` and `b_data`;
        // `rows >= 1` and `k >= 1`, so the start pointers are themselves elements. `c` is an
        // exclusive borrow of exactly rows x n elements, written row-major (strides n, 1) and
        // read by no one else. beta = 0: neither GEMM reads C (matrixmultiply: "If β is zero, then C
        // does not need to be initialized"), so uninitialised memory is fine.
        unsafe {
            T::gemm(
                rows,
                k,
                n,
                T::ONE,
                a_data.as_ptr().add(oa + row0 * rsa as usize),
                rsa,
                csa,
                b_data.as_ptr().add(ob),
                rsb,
                csb,
                T::ZERO,
                c.as_mut_ptr().cast::<T>(),
                n as isize,
                1,
            );
        }
    };
    // One batch's product into its output block `c` (m x n). A large one is cut into one run of
    // rows per thread, each run a whole number of MATMUL_ROW_BLOCKs: the cuts always fall on the
    // same row grid, and each output element's sum over k is computed the same way whichever
    // run holds its row, so the result is bit-identical for every thread count (no reduction is
    // ever split). One run per thread, rather than one task per block, packs B once per thread;
    // the caller spins for the other runs rather than sleeping (`crate::parallel`).
    let product = |offsets: (usize, usize), c: &mut [MaybeUninit<T>]| {
        let block = Tensor::<T>::MATMUL_ROW_BLOCK;
        let blocks = m.div_ceil(block);
        let threads = rayon::current_num_threads().max(1);
        if split_rows && flops >= PAR_MIN_FLOPS && blocks > 1 && threads > 1 {
            let run_rows = block * blocks.div_ceil(threads);
            crate::parallel::for_each(c.chunks_mut(run_rows * n).enumerate(), |(i, rows)| {
                gemm_rows(offsets, i * run_rows, rows)
            });
        } else {
            gemm_rows(offsets, 0, c);
        }
    };

    if flops * plan.batches.len() < PAR_MIN_FLOPS {
        for (c, &offsets) in out.chunks_mut(mn).zip(&plan.batches) {
            gemm_rows(offsets, 0, c);
        }
    } else {
        out.par_chunks_mut(mn)
            .with_min_len(PAR_MIN_FLOPS.div_ceil(flops))
            .zip(&plan.batches)
            .for_each(|(c, &offsets)| product(offsets, c));
    }
}
