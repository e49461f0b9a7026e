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

/// Packs rows `0..mc` and columns `0..kc` of the matrix at `a` (strides `rs`, `cs`) into
/// `ceil(mc / mr)` panels of `mr * kc` values each, zero-padding the last panel's missing rows.
///
/// # Safety
/// Every element `a + i * rs + p * cs` for `i < mc`, `p < kc` must be readable, and `out` must
/// hold at least `mc.div_ceil(mr) * mr * kc` values.
pub(super) unsafe fn pack_a(a: *const f32, rs: isize, cs: isize, mc: usize, kc: usize, mr: usize, out: &mut [f32]) {
    debug_assert!(out.len() >= mc.div_ceil(mr) * mr * kc);
    for (panel, dst) in out.chunks_exact_mut(mr * kc).take(mc.div_ceil(mr)).enumerate() {
        let i0 = panel * mr;
        let rows = mr.min(mc - i0);
        if rows < mr {
            dst.fill(0.0);
        }
        if rs == 1 {
            // A transposed A (the weight gradient's `dY^T X`): each column's rows are
            // contiguous, so walk step by step and copy the panel's rows of that column.
            for p in 0..kc {
                // SAFETY: rows i0..i0 + rows <= mc of column p < kc: inside the caller's matrix.
                let src = unsafe { std::slice::from_raw_parts(a.offset(p as isize * cs).add(i0), rows) };
                dst[p * mr..p * mr + rows].copy_from_slice(src);
            }
            continue;
        }
        // A row-major A (or any other strides): step by step, gather the panel's rows of each
        // column. Reading 'rows' rows side by side keeps the writes contiguous; each row's
        // cache line serves the next 15 steps.
        // SAFETY: rows i0 + i < mc, columns p < kc: inside the caller's matrix.
        let base = unsafe { a.offset(i0 as isize * rs) };
        for p in 0..kc {
            let d = &mut dst[p * mr..p * mr + rows];
            for (i, v) in d.iter_mut().enumerate() {
                // SAFETY: as above.
                *v = unsafe { *base.offset(i as isize * rs + p as isize * cs) };
            }
        }
    }
}

/// Packs rows `0..kc` and columns `0..nc` of the matrix at `b` (strides `rs`, `cs`) into
/// `ceil(nc / nr)` panels of `nr * kc` values each, zero-padding the last panel's missing columns.
///
/// # Safety
/// Every element `b + p * rs + j * cs` for `p < kc`, `j < nc` must be readable, and `out` must
/// hold at least `nc.div_ceil(nr) * nr * kc` values.
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
                let d = &mut dst[p * nr..(p + 1) * nr];
                d[..cols].copy_from_slice(src);
                d[cols..].fill(0.0);
            }
        } else {
            // A transposed B (the linear layer's `x W^T`): walk each column contiguously when
            // rs == 1, scattering into the panel.
            if cols < nr {
                dst.fill(0.0);
            }
            for j in 0..cols {
                // SAFETY: column j0 + j < nc, rows p < kc: inside the caller's matrix.
                let col = unsafe { b.offset((j0 + j) as isize * cs) };
                for p in 0..kc {
                    // SAFETY: as above.
                    dst[p * nr + j] = unsafe { *col.offset(p as isize * rs) };
                }
            }
        }
    }
}
