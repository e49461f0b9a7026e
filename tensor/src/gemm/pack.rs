//! Packing: copying a block of A or B into the order the microkernel reads it.
//!
//! The microkernel computes an `MR x NR` tile of C as `kc` rank-1 updates. At step `p` it needs
//! `MR` values of A's column `p` (rows `i..i + MR`) and `NR` values of B's row `p` (columns
//! `j..j + NR`). Packing lays each of those out contiguously, one step after another:
//!
//! ```text
//! A panel (MR rows):  a[i][p], a[i+1][p], .., a[i+MR-1][p],  then p + 1, ...   (MR * kc floats)
//! B panel (NR cols):  b[p][j], b[p][j+1], .., b[p][j+NR-1],  then p + 1, ...   (NR * kc floats)
//! ```
//!
//! so the kernel streams through both with unit stride, whatever the strides of the original
//! matrices: a transposed or narrowed view costs nothing beforehand, only a different walk here.
//! The last panel of a block that does not fill `MR` rows (or `NR` columns) is padded with zeros;
//! the padded lanes compute values that are never written to C.
//!
//! Both are `#[inline(always)]`: inlined into the driver of one kernel, the panel width is a
//! constant, so a panel row becomes a few vector moves instead of a `memcpy` call.

/// Packs rows `0..mc` and columns `0..kc` of the matrix at `a` (strides `rs`, `cs`) into
/// `ceil(mc / mr)` panels of `mr * kc` values each, zero-padding the last panel's missing rows.
///
/// # Safety
/// Every element `a + i * rs + p * cs` for `i < mc`, `p < kc` must be readable, and `out` must
/// hold at least `mc.div_ceil(mr) * mr * kc` values.
#[inline(always)]
pub(super) unsafe fn pack_a(a: *const f32, rs: isize, cs: isize, mc: usize, kc: usize, mr: usize, out: &mut [f32]) {
    debug_assert!(out.len() >= mc.div_ceil(mr) * mr * kc);
    if rs == 1 {
        // SAFETY: forwarded from the caller.
        unsafe { pack_a_columns(a, cs, mc, kc, mr, out) };
        return;
    }
    for (panel, dst) in out.chunks_exact_mut(mr * kc).take(mc.div_ceil(mr)).enumerate() {
        let i0 = panel * mr;
        let rows = mr.min(mc - i0);
        if rows < mr {
            dst.fill(0.0);
        }
        // A row-major A (or any other strides): step by step, gather the panel's rows of each
        // column. Reading 'rows' rows side by side keeps the writes contiguous; each row's
        // cache line serves the next 15 steps.
        // SAFETY: rows i0 + i < mc, columns p < kc: inside the caller's matrix.
        let base = unsafe { a.offset(i0 as isize * rs) };
        let mut p0 = 0;
        #[cfg(target_arch = "x86_64")]
        if cs == 1 && rows == mr && mr.is_multiple_of(4) {
            // SAFETY: rows i0..i0 + mr and columns 0..kc lie inside the caller's matrix.
            p0 = unsafe { transpose_rows_by_4x4(base, rs, kc, mr, dst) };
        }
        for p in p0..kc {
            let d = &mut dst[p * mr..p * mr + rows];
            for (i, v) in d.iter_mut().enumerate() {
                // SAFETY: as above.
                *v = unsafe { *base.offset(i as isize * rs + p as isize * cs) };
            }
        }
    }
}

/// One step of a panel: `src` (at most the panel's width) copied to the start of `d`, the rest of
/// `d` zeroed. Inlined where the width is a constant, a whole step is a fixed-size copy of a few
/// vector moves rather than a `memcpy` call.
#[inline(always)]
fn copy_step(src: &[f32], d: &mut [f32]) {
    if src.len() == d.len() {
        d.copy_from_slice(src);
    } else {
        d[..src.len()].copy_from_slice(src);
        d[src.len()..].fill(0.0);
    }
}

/// Steps packed together by [`pack_a_columns`]: their columns' rows of the block (16 lines of
/// `mc` floats) stay in L1 while every panel takes its share of them.
const STEPS_PER_SWEEP: usize = 16;

/// The transposed case of [`pack_a`] (`rs == 1`, the weight gradient's `dY^T X`): each column's
/// rows are contiguous, so every step of a panel is one copy of `mr` floats. The columns lie
/// `cs` floats apart (2 KB for the 512 rows of an MLP weight), so one panel's walk down all `kc`
/// columns maps the lines it reads to a few L1 sets and evicts them before the next panel, which
/// reads the same lines, comes by. Sweeping all panels over a few columns at a time reads each
/// line from L2 once and then from L1 (the step's two weight-gradient products: about 5 % faster,
/// docs/benchmarks.md).
///
/// # Safety
/// As [`pack_a`] with `rs == 1`.
#[inline(always)]
unsafe fn pack_a_columns(a: *const f32, cs: isize, mc: usize, kc: usize, mr: usize, out: &mut [f32]) {
    for p0 in (0..kc).step_by(STEPS_PER_SWEEP) {
        for (panel, dst) in out.chunks_exact_mut(mr * kc).take(mc.div_ceil(mr)).enumerate() {
            let i0 = panel * mr;
            let rows = mr.min(mc - i0);
            for p in p0..kc.min(p0 + STEPS_PER_SWEEP) {
                // SAFETY: rows i0..i0 + rows <= mc of column p < kc: inside the caller's matrix.
                let src = unsafe { std::slice::from_raw_parts(a.offset(p as isize * cs).add(i0), rows) };
                copy_step(src, &mut dst[p * mr..(p + 1) * mr]);
            }
        }
    }
}

/// The whole-panel, row-major case of [`pack_a`] (and the transposed case of [`pack_b`]), four
/// steps at a time: each 4 x 4 block of A
/// (four rows, four steps) is loaded as four vectors, transposed in registers and stored as four
/// steps of the panel, instead of one scalar load and store per value. Returns the number of
/// steps packed (`kc` rounded down to a multiple of 4); the caller packs the rest.
///
/// # Safety
/// `base + i * rs + p` is readable for `i < mr`, `p < kc`; `mr` is a multiple of 4 and `dst`
/// holds `mr * kc` values.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_rows_by_4x4(base: *const f32, rs: isize, kc: usize, mr: usize, dst: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    debug_assert!(dst.len() >= mr * kc);
    let steps = kc - kc % 4;
    let out = dst.as_mut_ptr();
    for p in (0..steps).step_by(4) {
        for i in (0..mr).step_by(4) {
            // SAFETY: rows i..i + 4 < mr and steps p..p + 4 <= kc: inside A and inside `dst`
            // (the caller). SSE is part of x86_64's baseline.
            unsafe {
                let row = |r: usize| _mm_loadu_ps(base.offset((i + r) as isize * rs).add(p));
                let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                // The 4 x 4 transpose: interleave pairs of rows, then pairs of pairs.
                let (t0, t1) = (_mm_unpacklo_ps(r0, r1), _mm_unpacklo_ps(r2, r3));
                let (t2, t3) = (_mm_unpackhi_ps(r0, r1), _mm_unpackhi_ps(r2, r3));
                _mm_storeu_ps(out.add(p * mr + i), _mm_movelh_ps(t0, t1));
                _mm_storeu_ps(out.add((p + 1) * mr + i), _mm_movehl_ps(t1, t0));
                _mm_storeu_ps(out.add((p + 2) * mr + i), _mm_movelh_ps(t2, t3));
                _mm_storeu_ps(out.add((p + 3) * mr + i), _mm_movehl_ps(t3, t2));
            }
        }
    }
    steps
}

/// Packs rows `0..kc` and columns `0..nc` of the matrix at `b` (strides `rs`, `cs`) into
/// `ceil(nc / nr)` panels of `nr * kc` values each, zero-padding the last panel's missing columns.
///
/// # Safety
/// Every element `b + p * rs + j * cs` for `p < kc`, `j < nc` must be readable, and `out` must
/// hold at least `nc.div_ceil(nr) * nr * kc` values.
#[inline(always)]
pub(super) unsafe fn pack_b(b: *const f32, rs: isize, cs: isize, kc: usize, nc: usize, nr: usize, out: &mut [f32]) {
    debug_assert!(out.len() >= nc.div_ceil(nr) * nr * kc);
    for (panel, dst) in out.chunks_exact_mut(nr * kc).take(nc.div_ceil(nr)).enumerate() {
        let j0 = panel * nr;
        let cols = nr.min(nc - j0);
        if cs == 1 {
            // Row-major B: each step's nr values are contiguous in memory.
            for p in 0..kc {
                // SAFETY: row p < kc, columns j0..j0 + cols <= nc: inside the caller's matrix.
                let src = unsafe { std::slice::from_raw_parts(b.offset(p as isize * rs).add(j0), cols) };
                copy_step(src, &mut dst[p * nr..(p + 1) * nr]);
            }
        } else {
            // A transposed B (the linear layer's `x W^T`): walk each column contiguously when
            // rs == 1, scattering into the panel.
            if cols < nr {
                dst.fill(0.0);
            }
            let mut p0 = 0;
            #[cfg(target_arch = "x86_64")]
            if rs == 1 && cols == nr && nr.is_multiple_of(4) {
                // B's columns are rows of the matrix it is the transpose of: the same 4 x 4
                // transposes as a row-major A panel.
                // SAFETY: columns j0..j0 + nr and rows 0..kc lie inside the caller's matrix.
                p0 = unsafe { transpose_rows_by_4x4(b.offset(j0 as isize * cs), cs, kc, nr, dst) };
            }
            for j in 0..cols {
                // SAFETY: column j0 + j < nc, rows p < kc: inside the caller's matrix.
                let col = unsafe { b.offset((j0 + j) as isize * cs) };
                for p in p0..kc {
                    // SAFETY: as above.
                    dst[p * nr + j] = unsafe { *col.offset(p as isize * rs) };
                }
            }
        }
    }
}
