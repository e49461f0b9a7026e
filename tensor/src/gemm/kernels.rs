//! The microkernels: an `MR x NR` tile of C held in vector registers while `kc` rank-1 updates
//! stream through them, written with `std::arch` intrinsics for two instruction sets.
//!
//! At each step `p` the kernel loads `NV` vectors of the packed B panel (`NR = NV * lanes`
//! columns of row `p`), then for each of the `MR` rows broadcasts one value of the packed A
//! panel and issues `NV` fused multiply-adds into that row's accumulators:
//!
//! ```text
//!            b[p][j .. j+NR]  (NV vector loads)
//! a[i][p] -> acc[i][0..NV] += a[i][p] * b[p][..]     for i in 0..MR   (MR broadcasts, MR*NV FMAs)
//! ```
//!
//! Loads per FMA is `(NV + MR) / (MR * NV)`: the wider and taller the tile, the fewer loads each
//! FMA needs, until the `MR * NV` accumulators, `NV` B vectors and one broadcast no longer fit in
//! the register file (32 registers with AVX-512, 16 with AVX2). See `docs/guide` chapter 10.
//!
//! **Every element's arithmetic is one chain:** `acc = 0; acc = fma(a_ip, b_pj, acc)` for `p` in
//! order, then the write-back below. It does not depend on the instruction set, on where the tile
//! sits in C, or on which rows share the call, so the AVX-512 and AVX2 kernels give the same bits,
//! and so does any split of the rows between threads.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// How a finished tile combines with what C holds.
#[derive(Clone, Copy, Debug)]
pub(super) enum WriteBack {
    /// `c = alpha * acc`: the first block of `k`, with `beta = 0` (C is not read).
    Overwrite(f32),
    /// `c = alpha * acc + beta * c`: the first block of `k`, with `beta != 0`.
    Scale(f32, f32),
    /// `c = c + alpha * acc`: every later block of `k`.
    Accumulate(f32),
}

impl WriteBack {
    /// The scalar form, used for edge tiles; the vector forms in the kernels perform the same
    /// operations in the same order, so both give the same bits.
    #[inline]
    pub(super) fn apply(self, acc: f32, c: &mut f32) {
        *c = match self {
            WriteBack::Overwrite(alpha) => alpha * acc,
            WriteBack::Scale(alpha, beta) => alpha * acc + beta * *c,
            WriteBack::Accumulate(alpha) => *c + alpha * acc,
        };
    }
}

/// A register-tiled microkernel: computes `MR x NR` tiles from packed panels.
pub(super) trait Microkernel {
    /// Rows of the tile.
    const MR: usize;
    /// Columns of the tile.
    const NR: usize;

    /// Computes the tile `A_panel (MR x kc) B_panel (kc x NR)` and combines it into the `MR x NR`
    /// row-major block at `c` (row stride `rsc`, unit column stride) as `wb` says.
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set; `a` holds `MR * kc` and `b` `NR * kc`
    /// readable values; `c + i * rsc + j` is valid to read and write for `i < MR`, `j < NR`, and
    /// no other thread touches those elements.
    unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: isize, wb: WriteBack);

    /// [`Microkernel::tile`] for the first `rows` rows only: the last row panel of a block whose
    /// rows are not a multiple of `MR` (64 attention rows are five panels of 12 and one of 4).
    /// Each of those rows gets exactly the arithmetic `tile` would give it, written straight into
    /// C, instead of a whole tile computed into scratch (two thirds of it padding, for 4 rows)
    /// and copied out element by element.
    ///
    /// # Safety
    /// As [`Microkernel::tile`], with `c` valid for rows `i < rows` only; `1 <= rows < MR`.
    unsafe fn tile_rows(rows: usize, kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: isize, wb: WriteBack);
}

/// `kernel::<MR, rows, NV>(args)` for a `rows` known only at run time: one arm per row count
/// `1..MR`, each a kernel compiled for exactly that many rows.
#[cfg(target_arch = "x86_64")]
macro_rules! short_tile {
    ($kernel:ident::<$mr:literal, _, $nv:literal>$args:tt, rows = $rows:expr, for $($r:literal)*) => {
        match $rows {
            $($r => $kernel::<$mr, $r, $nv> $args,)*
            rows => unreachable!("a short tile has 1 to {} rows, not {rows}", $mr - 1),
        }
    };
}

/// AVX-512F: a 12 x 32 tile (24 accumulators, 2 B vectors, 1 broadcast: 27 of 32 registers;
/// 14 loads per 24 FMAs).
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx512 {
    const MR: usize = 12;
    const NR: usize = 32;

    #[inline]
    unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: isize, wb: WriteBack) {
        // SAFETY: forwarded from the caller, who checked the CPU supports AVX-512F.
        unsafe { avx512_tile::<12, 12, 2>(kc, a, b, c, rsc, wb) }
    }

    #[inline]
    unsafe fn tile_rows(rows: usize, kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: isize, wb: WriteBack) {
        // SAFETY: forwarded from the caller, who checked the CPU supports AVX-512F.
        unsafe { short_tile!(avx512_tile::<12, _, 2>(kc, a, b, c, rsc, wb), rows = rows, for 1 2 3 4 5 6 7 8 9 10 11) }
    }
}

/// AVX2 + FMA: a 6 x 16 tile (12 accumulators, 2 B vectors, 1 broadcast: 15 of 16 registers;
/// 8 loads per 12 FMAs).
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Microkernel for Avx2 {
    const MR: usize = 6;
    const NR: usize = 16;

    #[inline]
    unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: isize, wb: WriteBack) {
        // SAFETY: forwarded from the caller, who checked the CPU supports AVX2 and FMA.
        unsafe { avx2_tile::<6, 6, 2>(kc, a, b, c, rsc, wb) }
    }

    #[inline]
    unsafe fn tile_rows(rows: usize, kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: isize, wb: WriteBack) {
        // SAFETY: forwarded from the caller, who checked the CPU supports AVX2 and FMA.
        unsafe { short_tile!(avx2_tile::<6, _, 2>(kc, a, b, c, rsc, wb), rows = rows, for 1 2 3 4 5) }
    }
}

/// Defines one instruction set's tile kernel: a single body, written once, instantiated with that
/// set's vector type and intrinsics, so the two kernels cannot drift apart (their results must be
/// the same bits; `tensor/tests/gemm.rs` checks it).
macro_rules! tile_kernel {
    (
        $(#[$doc:meta])*
        $name:ident, $feature:literal, lanes = $lanes:literal,
        zero = $zero:ident, load = $load:ident, store = $store:ident, splat = $splat:ident,
        fma = $fma:ident, mul = $mul:ident, add = $add:ident
    ) => {
        $(#[$doc])*
        ///
        /// `ROWS <= MR` is how many of the panel's rows to compute (`MR` for a whole tile; fewer
        /// for [`Microkernel::tile_rows`]); the A panel is laid out `MR` values per step either way.
        ///
        /// # Safety
        /// As [`Microkernel::tile`] with `c` valid for rows `i < ROWS`, and the instruction set
        /// enabled below supported.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const MR: usize, const ROWS: usize, const NV: usize>(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            rsc: isize,
            wb: WriteBack,
        ) {
            let mut acc = [[$zero(); NV]; ROWS];
            for p in 0..kc {
                let mut bv = [$zero(); NV];
                for (v, slot) in bv.iter_mut().enumerate() {
                    // SAFETY: p < kc and v < NV: inside the B panel's NR * kc values.
                    *slot = unsafe { $load(b.add((p * NV + v) * $lanes)) };
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    // SAFETY: p < kc and i < ROWS <= MR: inside the A panel's MR * kc values.
                    let ai = $splat(unsafe { *a.add(p * MR + i) });
                    for (r, &bv) in row.iter_mut().zip(&bv) {
                        *r = $fma(ai, bv, *r);
                    }
                }
            }
            let (alpha, beta) = match wb {
                WriteBack::Overwrite(al) | WriteBack::Accumulate(al) => (al, 0.0),
                WriteBack::Scale(al, be) => (al, be),
            };
            let (alpha, beta) = ($splat(alpha), $splat(beta));
            for (i, row) in acc.iter().enumerate() {
                for (v, &r) in row.iter().enumerate() {
                    // SAFETY: i < ROWS and (v + 1) * lanes <= NR: inside the caller's tile of C.
                    unsafe {
                        let dst = c.offset(i as isize * rsc).add(v * $lanes);
                        // The same operations, in the same order, as `WriteBack::apply`.
                        let t = $mul(alpha, r);
                        let out = match wb {
                            WriteBack::Overwrite(_) => t,
                            WriteBack::Scale(..) => $add(t, $mul(beta, $load(dst))),
                            WriteBack::Accumulate(_) => $add($load(dst), t),
                        };
                        $store(dst, out);
                    }
                }
            }
        }
    };
}

tile_kernel!(
    /// The AVX-512 kernel for an `MR x 16 NV` tile; see the module documentation.
    avx512_tile, "avx512f", lanes = 16,
    zero = _mm512_setzero_ps, load = _mm512_loadu_ps, store = _mm512_storeu_ps, splat = _mm512_set1_ps,
    fma = _mm512_fmadd_ps, mul = _mm512_mul_ps, add = _mm512_add_ps
);

tile_kernel!(
    /// The AVX2 kernel for an `MR x 8 NV` tile; see the module documentation.
    avx2_tile, "avx2,fma", lanes = 8,
    zero = _mm256_setzero_ps, load = _mm256_loadu_ps, store = _mm256_storeu_ps, splat = _mm256_set1_ps,
    fma = _mm256_fmadd_ps, mul = _mm256_mul_ps, add = _mm256_add_ps
);
