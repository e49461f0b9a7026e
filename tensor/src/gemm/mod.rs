//! The project's own single-precision GEMM, `C = alpha A B + beta C`, in the manner of
//! GotoBLAS and BLIS: blocked for the caches, packed, and register-tiled.
//!
//! A matrix product does `2 m n k` floating-point operations on `m k + k n + m n` values, so
//! every value is used many times; the whole art is to use it from a register, not from memory.
//! Three loops around a small kernel do that (chapter 10 of the guide walks through them with
//! this machine's measurements):
//!
//! ```text
//! for jc in 0..n step NC                       B block kc x nc: lives in L3/L2
//!   for pc in 0..k step KC                     pack B[pc.., jc..] into NR-wide panels
//!     for ic in 0..m step MC                   pack A[ic.., pc..] into MR-tall panels (L2)
//!       for jr in panels of B                  one B panel kc x NR: lives in L1
//!         for ir in panels of A
//!           microkernel: C[ir.., jr..] (MR x NR, in registers) += A_panel B_panel
//! ```
//!
//! * **Register tile** (`kernels.rs`): the microkernel keeps an `MR x NR` block of C in vector
//!   registers for a whole `kc` loop, so each loaded value of A feeds `NR` multiply-adds and each
//!   loaded vector of B feeds `MR`. AVX-512: 12 x 32; AVX2: 6 x 16.
//! * **Packing** (`pack.rs`): A and B are copied block by block into the exact order the kernel
//!   reads, so it streams with unit stride from L1/L2 whatever the strides of the operands. This
//!   is also why transposed and narrowed views cost no copy beforehand: only the packing walk
//!   changes.
//! * **Cache blocking**: `KC` bounds a panel pair so both stay in L1 during a tile, `MC` bounds
//!   the packed A block to L2, and `NC` bounds the packed B block.
//!
//! **Bits.** Each element of C is one fixed chain of fused multiply-adds over `p`, restarted at
//! every `KC` block and combined as the write-back (`WriteBack` in `kernels.rs`) says. That
//! chain does not depend on the instruction set or on which rows share a call, so AVX-512 and
//! AVX2 give the same bits, and so does any split of the rows between threads
//! (`Tensor::matmul`'s parallel runs).
//!
//! **Which code runs.** [`Isa::detect`] picks AVX-512F, else AVX2 + FMA, at run time
//! (`is_x86_feature_detected!`), so one binary is fast on new CPUs and still runs on old ones.
//! Elsewhere, and for `f64`, products go to the `matrixmultiply` crate ([`Isa::Portable`]), which
//! the tests also use as the reference.

mod kernels;
mod pack;

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use kernels::{Microkernel, WriteBack};

/// Depth of one block of `k`: an A panel (`MR x KC`) and a B panel (`KC x NR`) stay in L1 for a
/// whole tile (AVX-512: 12 KB + 32 KB).
const KC: usize = 256;
/// Rows of A packed at a time (a multiple of every `MR`): 192 x 256 floats, 192 KB, stay in L2.
/// (96 and 384 measured slower on the step's products; see docs/benchmarks.md.)
const MC: usize = 192;
/// Columns of B packed at a time (a multiple of every `NR`): 256 x 2048 floats, 2 MB.
const NC: usize = 2048;

/// The instruction sets the GEMM has a microkernel for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: a 12 x 32 register tile.
    Avx512,
    /// AVX2 with FMA: a 6 x 16 register tile.
    Avx2,
    /// No kernel of ours: the `matrixmultiply` crate.
    Portable,
}

impl Isa {
    /// The fastest instruction set this CPU supports.
    ///
    /// ```
    /// let isa = tensor::gemm::Isa::detect();
    /// assert!(isa.is_supported());
    /// ```
    pub fn detect() -> Isa {
        // Asked on every product (attention makes thousands per step): worked out once.
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| Isa::ALL.into_iter().find(|isa| isa.is_supported()).unwrap_or(Isa::Portable))
    }

    /// Every instruction set this CPU supports, fastest first; always ends with
    /// [`Isa::Portable`]. Tests run each one against the reference.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_supported()).collect()
    }

    /// Every instruction set, fastest first.
    const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// Whether this CPU can run the instruction set's kernel.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            Isa::Portable => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// `C = alpha A B + beta C` for `A` (m x k), `B` (k x n) and `C` (m x n), each given by a pointer
/// to its first element and its (row, column) strides, on the fastest kernel this CPU has
/// ([`Isa::detect`]). With `beta = 0`, C is written without being read, so it may be
/// uninitialised.
///
/// # Safety
/// `a`, `b` and `c` must be valid for every element their shape and strides address, `c`'s
/// elements must be distinct, and no other thread may access them meanwhile.
///
/// ```
/// let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [5.0f32, 6.0, 7.0, 8.0]);
/// let mut c = [f32::NAN; 4];
/// // SAFETY: three row-major 2 x 2 matrices, all in bounds; beta = 0 never reads the NaNs.
/// unsafe { tensor::gemm::sgemm(2, 2, 2, 1.0, a.as_ptr(), 2, 1, b.as_ptr(), 2, 1, 0.0, c.as_mut_ptr(), 2, 1) };
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    // SAFETY: forwarded; the detected instruction set is supported.
    unsafe { sgemm_on(Isa::detect(), m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
}

/// [`sgemm`] on a chosen instruction set, for tests and benchmarks that compare them.
///
/// # Safety
/// As [`sgemm`].
///
/// # Panics
/// If this CPU does not support `isa` ([`Isa::is_supported`]).
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_on(
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    assert!(isa.is_supported(), "sgemm: this CPU does not support {isa:?}");
    let c_mat = CMat { ptr: c, rs: rsc, cs: csc };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C = beta C (zeros when beta = 0, without reading C).
        for i in 0..m {
            for j in 0..n {
                // SAFETY: (i, j) is inside C.
                unsafe {
                    let p = c_mat.at(i, j);
                    *p = if beta == 0.0 { 0.0 } else { beta * *p };
                }
            }
        }
        return;
    }
    let ops = Operands { m, k, n, alpha, beta, a, rsa, csa, b, rsb, csb, c: c_mat };
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller's contract on the operands; AVX-512F checked by `is_supported` above.
        Isa::Avx512 => unsafe { drive_avx512(&ops) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller's contract on the operands; AVX2 + FMA checked by `is_supported`.
        Isa::Avx2 => unsafe { drive_avx2(&ops) },
        // SAFETY: the caller's contract on the operands is matrixmultiply's.
        Isa::Portable => unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("checked by is_supported"),
    }
}

/// The output matrix: a pointer and (row, column) strides.
#[derive(Clone, Copy)]
struct CMat {
    ptr: *mut f32,
    rs: isize,
    cs: isize,
}

impl CMat {
    /// The address of element (i, j); in bounds when (i, j) is inside C.
    #[inline]
    fn at(self, i: usize, j: usize) -> *mut f32 {
        self.ptr.wrapping_offset(i as isize * self.rs + j as isize * self.cs)
    }
}

/// One product's arguments.
struct Operands {
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    beta: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: CMat,
}

/// 64-byte aligned storage for packed panels (a cache line; AVX-512 loads never straddle one).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A thread's packing buffers, reused from call to call.
#[derive(Default)]
struct PackBuffers {
    a: Vec<Line>,
    b: Vec<Line>,
}

/// `lines` as a slice of at least `len` floats, growing it if needed.
fn floats(lines: &mut Vec<Line>, len: usize) -> &mut [f32] {
    let need = len.div_ceil(16);
    if lines.len() < need {
        lines.resize(need, Line([0.0; 16]));
    }
    // SAFETY: `Line` is `repr(C)` around 16 f32s with no padding, so `lines.len() * 16` f32s are
    // initialised and contiguous; the borrow of `lines` covers the returned slice.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<f32>(), lines.len() * 16) }
}

thread_local! {
    /// Each thread packs into its own buffers, so parallel calls (one per row run) never share one.
    static BUFFERS: RefCell<PackBuffers> = RefCell::new(PackBuffers::default());
}

/// [`drive`] with the AVX-512 kernel, compiled for AVX-512F throughout: packing then copies
/// panel rows with 512-bit moves instead of calling `memcpy`.
///
/// # Safety
/// As [`drive`]; the CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn drive_avx512(o: &Operands) {
    // SAFETY: forwarded from the caller.
    unsafe { drive::<kernels::Avx512>(o) }
}

/// [`drive`] with the AVX2 kernel, compiled for AVX2 and FMA throughout.
///
/// # Safety
/// As [`drive`]; the CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn drive_avx2(o: &Operands) {
    // SAFETY: forwarded from the caller.
    unsafe { drive::<kernels::Avx2>(o) }
}

/// The blocked loops of the module documentation around the microkernel `K`; always inlined
/// into a caller compiled for `K`'s instruction set.
///
/// # Safety
/// The operands satisfy [`sgemm`]'s contract, `m, n, k >= 1`, and the CPU supports `K`.
#[inline(always)]
unsafe fn drive<K: Microkernel>(o: &Operands) {
    let (mr, nr) = (K::MR, K::NR);
    debug_assert!(MC.is_multiple_of(mr) && NC.is_multiple_of(nr));
    // The buffers are taken out of the thread-local for the call and put back after (no closure,
    // so everything below is compiled with the caller's target features).
    let mut buffers = BUFFERS.take();
    {
        let PackBuffers { a: a_lines, b: b_lines } = &mut buffers;
        let a_buf = floats(a_lines, MC * KC);
        // When A is a single row panel (one token at a time: generation with the KV cache), each
        // packed B panel serves one tile only, so B is packed a few panels at a time: the packed
        // block then stays in L1 instead of going out to L3 and back (`gemm_ceiling`'s one-token
        // rows: 7.2 -> 9.4 and 5.3 -> 7.0 GFLOP/s).
        let nc_block = if o.m <= mr { 4 * nr } else { NC };
        let b_buf = floats(b_lines, KC * nc_block.min(o.n.next_multiple_of(nr)));
        for jc in (0..o.n).step_by(nc_block) {
            let nc = nc_block.min(o.n - jc);
            for pc in (0..o.k).step_by(KC) {
                let kc = KC.min(o.k - pc);
                // SAFETY: rows pc..pc + kc and columns jc..jc + nc lie inside B.
                unsafe {
                    pack::pack_b(o.b.offset(pc as isize * o.rsb + jc as isize * o.csb), o.rsb, o.csb, kc, nc, nr, b_buf)
                };
                let wb = if pc > 0 {
                    WriteBack::Accumulate(o.alpha)
                } else if o.beta == 0.0 {
                    WriteBack::Overwrite(o.alpha)
                } else {
                    WriteBack::Scale(o.alpha, o.beta)
                };
                for ic in (0..o.m).step_by(MC) {
                    let mc = MC.min(o.m - ic);
                    // SAFETY: rows ic..ic + mc and columns pc..pc + kc lie inside A.
                    unsafe {
                        pack::pack_a(
                            o.a.offset(ic as isize * o.rsa + pc as isize * o.csa),
                            o.rsa,
                            o.csa,
                            mc,
                            kc,
                            mr,
                            a_buf,
                        )
                    };
                    for jr in (0..nc).step_by(nr) {
                        let b_panel = &b_buf[jr * kc..];
                        for ir in (0..mc).step_by(mr) {
                            let a_panel = &a_buf[ir * kc..];
                            let (rows, cols) = (mr.min(mc - ir), nr.min(nc - jr));
                            let (i0, j0) = (ic + ir, jc + jr);
                            // SAFETY: the panels hold MR * kc and NR * kc packed values; the tile's
                            // rows and columns lie inside C; the CPU supports K (the caller).
                            unsafe {
                                write_tile::<K>(kc, a_panel.as_ptr(), b_panel.as_ptr(), o.c, i0, j0, rows, cols, wb)
                            };
                        }
                    }
                }
            }
        }
    }
    BUFFERS.set(buffers);
}

/// Runs the kernel for the tile of C at (i0, j0) with `rows x cols` valid elements: straight into
/// C when C's rows are contiguous and the tile has all `NR` columns (with a kernel for exactly
/// `rows` rows when there are fewer than `MR`), otherwise into a scratch tile whose valid part is
/// then combined into C element by element with the same arithmetic.
///
/// # Safety
/// As [`Microkernel::tile`] for the panels; rows `i0..i0 + rows` and columns `j0..j0 + cols`
/// lie inside C.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn write_tile<K: Microkernel>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: CMat,
    i0: usize,
    j0: usize,
    rows: usize,
    cols: usize,
    wb: WriteBack,
) {
    if cols == K::NR && c.cs == 1 {
        if rows == K::MR {
            // SAFETY: the whole MR x NR tile lies inside C, rows rs apart and columns contiguous.
            unsafe { K::tile(kc, a, b, c.at(i0, j0), c.rs, wb) };
        } else {
            // SAFETY: as above, for the tile's first `rows` rows (1 <= rows < MR).
            unsafe { K::tile_rows(rows, kc, a, b, c.at(i0, j0), c.rs, wb) };
        }
        return;
    }
    // Large enough for every kernel's tile (at most 16 x 64). Not zeroed first (a 4 KB memset per
    // edge tile): the kernel writes all MR x NR values and only those are read.
    let mut scratch = [const { MaybeUninit::<f32>::uninit() }; 16 * 64];
    debug_assert!(K::MR * K::NR <= scratch.len());
    // SAFETY: the scratch tile is MR x NR, row stride NR; Overwrite(1.0) stores acc exactly.
    unsafe { K::tile(kc, a, b, scratch.as_mut_ptr().cast(), K::NR as isize, WriteBack::Overwrite(1.0)) };
    for i in 0..rows {
        for j in 0..cols {
            // SAFETY: the kernel wrote (i, j) of the MR x NR scratch tile; (i0 + i, j0 + j) lies
            // inside C (the caller).
            unsafe { wb.apply(scratch[i * K::NR + j].assume_init(), &mut *c.at(i0 + i, j0 + j)) };
        }
    }
}
