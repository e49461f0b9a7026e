//! How fast can one core of this machine multiply matrices, and how close do the GEMMs come?
//!
//! 1. **FMA peak**: sixteen independent AVX-512 fused multiply-adds per loop, all in registers.
//! 2. **matrixmultiply's microkernel pattern**: a 16 x 16 tile of C in sixteen registers; per step
//!    of `k`, one 16-wide vector of B and sixteen scalars of A broadcast from memory (17 loads per
//!    16 FMAs). Packed panels, `k = 128`, all in L1: the ceiling of that kernel shape here.
//! 3. **A 12 x 32 tile**, the shape of the project's AVX-512 kernel (`tensor/src/gemm`): two
//!    vectors of B and twelve broadcasts per step (14 loads per 24 FMAs), same conditions.
//! 4. **Whole products** on the training step's shapes, in the layouts the step uses, and on
//!    squares: `tensor::gemm::sgemm` (ours), `matrixmultiply::sgemm` and the `gemm` crate (a
//!    dev-dependency, here only to be measured against) on one thread; ours (through
//!    `Tensor::matmul_into`, rows split on rayon) and `gemm` on two.
//!
//! Run with `cargo bench --bench gemm_ceiling` (x86_64 with AVX-512 only; elsewhere it says so
//! and exits). The tiles of 2 and 3 exist only to be timed; the library's kernel is in
//! `tensor/src/gemm/kernels.rs`.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::hint::black_box;
use std::time::Instant;

/// Best of `rounds` timings of `f`, as GFLOP/s for `flops` floating-point operations per call.
fn best_gflops(rounds: usize, flops: f64, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            flops / t.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `iters` rounds of 16 independent FMAs on 16-lane registers; returns a sum so the work stays.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_peak(iters: usize) -> f32 {
        let mut acc = [_mm512_setzero_ps(); 16];
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-6));
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm512_fmadd_ps(*r, a, b);
            }
        }
        let mut s = _mm512_setzero_ps();
        for r in acc {
            s = _mm512_add_ps(s, r);
        }
        _mm512_reduce_add_ps(s)
    }

    /// C (MR x 16 NV) = A (MR x k, packed by step) B (k x 16 NV, packed by step): per step, NV
    /// vectors of B and MR broadcasts of A. `c` receives the tile.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const MR: usize, const NV: usize>(k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        assert!(a.len() >= k * MR && b.len() >= k * NV * 16 && c.len() >= MR * NV * 16);
        let (a, b) = (a.as_ptr(), b.as_ptr());
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        for p in 0..k {
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, slot) in bv.iter_mut().enumerate() {
                // SAFETY: in bounds by the assert above.
                *slot = unsafe { _mm512_loadu_ps(b.add((p * NV + v) * 16)) };
            }
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: in bounds by the assert above.
                let ai = _mm512_set1_ps(unsafe { *a.add(p * MR + i) });
                for (r, &bv) in row.iter_mut().zip(&bv) {
                    *r = _mm512_fmadd_ps(ai, bv, *r);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &r) in row.iter().enumerate() {
                // SAFETY: in bounds by the assert above.
                unsafe { _mm512_storeu_ps(c.as_mut_ptr().add((i * NV + v) * 16), r) };
            }
        }
    }
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        run();
        return;
    }
    println!("gemm_ceiling measures AVX-512 kernels: this CPU has no AVX-512F, nothing to measure.");
}

#[cfg(target_arch = "x86_64")]
fn run() {
    println!("One core, best of 5 rounds each, GFLOP/s:");
    let iters = 20_000_000;
    let peak = best_gflops(5, (iters * 16 * 16 * 2) as f64, || {
        // SAFETY: the CPU has AVX-512F, checked by the caller.
        black_box(unsafe { avx512::fma_peak(black_box(iters)) });
    });
    println!("{:<58} {peak:>7.1}", "FMA peak (16 register FMAs per loop, no loads)");

    let k = 128;
    let (a, b, mut c) = (vec![1.0f32; k * 16], vec![1.0f32; k * 32], vec![0.0f32; 16 * 32]);
    let calls = 200_000;
    let mm = best_gflops(5, (calls * 2 * k * 16 * 16) as f64, || {
        for _ in 0..calls {
            // SAFETY: the CPU has AVX-512F (checked by the caller); `a`, `b` and `c` hold the
            // k x 16, k x 32 and 16 x 32 elements the tile reads and writes.
            unsafe { avx512::tile::<16, 1>(k, black_box(&a), black_box(&b), black_box(&mut c)) };
        }
    });
    println!(
        "{:<58} {mm:>7.1}  ({:.0} % of peak)",
        "16 x 16 tile, matrixmultiply's kernel shape, k = 128, L1",
        100.0 * mm / peak
    );
    let wide = best_gflops(5, (calls * 2 * k * 12 * 32) as f64, || {
        for _ in 0..calls {
            // SAFETY: as above; the 12 x 32 tile reads and writes within the same buffers.
            unsafe { avx512::tile::<12, 2>(k, black_box(&a), black_box(&b), black_box(&mut c)) };
        }
    });
    println!("{:<58} {wide:>7.1}  ({:.0} % of peak)", "12 x 32 tile, k = 128, L1", 100.0 * wide / peak);

    products(peak);
}

/// A row-major (or, when `t`, column-major) `rows x cols` matrix: its values and strides.
#[cfg(target_arch = "x86_64")]
struct Operand {
    data: Vec<f32>,
    rs: isize,
    cs: isize,
}

#[cfg(target_arch = "x86_64")]
impl Operand {
    fn new(rows: usize, cols: usize, t: bool, seed: u64) -> Self {
        let data = tensor::Tensor::<f32>::rand_uniform(&[rows * cols], -1.0, 1.0, seed).to_vec();
        let (rs, cs) = if t { (1, rows as isize) } else { (cols as isize, 1) };
        Operand { data, rs, cs }
    }

    /// The same matrix as a tensor view (a transposed view when column-major).
    fn tensor(&self, rows: usize, cols: usize) -> tensor::Tensor<f32> {
        if self.cs == 1 {
            tensor::Tensor::from_vec(self.data.clone(), &[rows, cols])
        } else {
            tensor::Tensor::from_vec(self.data.clone(), &[cols, rows]).mt()
        }
    }
}

/// The median of `xs`.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The training step's products (`gradlab bench`'s model: 768 tokens, width 128, MLP 512, QKV
/// 384) in the layouts the step uses them, and three squares. Per product: our GEMM, matrixmultiply
/// and the `gemm` crate on one thread, then ours (`Tensor::matmul_into`, rows split on rayon) and
/// `gemm` on two; rounds interleave the contenders so drift hits all alike; medians of 9 rounds.
/// Each timed batch follows one untimed call of the same contender, so the operands and that
/// GEMM's own buffers are back in cache ("warm"); without it the batch's first call ran after the
/// other contenders had filled the caches, and ours measured 75-87 % of peak instead of 87-93 %
/// on the step's shapes (docs/benchmarks.md).
#[cfg(target_arch = "x86_64")]
fn products(peak: f64) {
    // (what, m, k, n, A transposed, B transposed)
    let shapes = [
        ("x W^T: QKV forward", 768, 128, 384, false, true),
        ("x W^T: MLP up", 768, 128, 512, false, true),
        ("x W^T: MLP down", 768, 512, 128, false, true),
        ("dY W: MLP up, dX", 768, 512, 128, false, false),
        ("dY^T X: MLP up, dW", 512, 768, 128, true, false),
        ("dY^T X: QKV, dW", 384, 768, 128, true, false),
        ("one token, GPT-2 small's MLP up", 1, 768, 3072, false, true),
        ("one token, GPT-2 small's MLP down", 1, 3072, 768, false, true),
        ("square 256", 256, 256, 256, false, false),
        ("square 512", 512, 512, 512, false, false),
        ("square 1024", 1024, 1024, 1024, false, false),
    ];
    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let (one, two) = (pool(1), pool(2));
    println!();
    println!("Products, GFLOP/s (median of 9 interleaved rounds; % of the FMA peak of one core):");
    println!(
        "{:<34} {:>16} {:>16} {:>16} | {:>14} {:>14}",
        "m x k x n", "ours 1t", "matrixmult. 1t", "gemm crate 1t", "ours 2t", "gemm crate 2t"
    );
    for (what, m, k, n, a_t, b_t) in shapes {
        let (a, b) = (Operand::new(m, k, a_t, 1), Operand::new(k, n, b_t, 2));
        let (ta, tb) = (a.tensor(m, k), b.tensor(k, n));
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let reps = (4e8 / flops).ceil().min(2000.0) as usize;
        let time = |f: &mut dyn FnMut()| {
            f(); // untimed: the operands and this contender's buffers come back into cache
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9
        };
        let mut results = vec![Vec::new(); 5];
        for _ in 0..9 {
            results[0].push(one.install(|| {
                time(&mut || {
                    // SAFETY: a, b and c hold the m x k, k x n and m x n elements their strides address.
                    unsafe {
                        tensor::gemm::sgemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.data.as_ptr(),
                            a.rs,
                            a.cs,
                            b.data.as_ptr(),
                            b.rs,
                            b.cs,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                })
            }));
            results[1].push(time(&mut || {
                // SAFETY: as above.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.data.as_ptr(),
                        a.rs,
                        a.cs,
                        b.data.as_ptr(),
                        b.rs,
                        b.cs,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            }));
            for (slot, parallelism) in [(2, gemm::Parallelism::None), (4, gemm::Parallelism::Rayon(2))] {
                results[slot].push(two.install(|| {
                    time(&mut || {
                        // SAFETY: as above (gemm takes column stride before row stride).
                        unsafe {
                            gemm::gemm(
                                m,
                                n,
                                k,
                                c.as_mut_ptr(),
                                1,
                                n as isize,
                                false,
                                a.data.as_ptr(),
                                a.cs,
                                a.rs,
                                b.data.as_ptr(),
                                b.cs,
                                b.rs,
                                0.0,
                                1.0,
                                false,
                                false,
                                false,
                                parallelism,
                            )
                        }
                    })
                }));
            }
            results[3].push(two.install(|| time(&mut || ta.matmul_into(&tb, &mut c))));
        }
        let [ours, mm, gm, ours2, gm2] = [0, 1, 2, 3, 4].map(|i| median(results[i].clone()));
        let cell = |g: f64| format!("{g:7.1} ({:3.0} %)", 100.0 * g / peak);
        println!(
            "{:<34} {:>16} {:>16} {:>16} | {:>14.1} {:>14.1}",
            format!("{m}x{k}x{n} {what}"),
            cell(ours),
            cell(mm),
            cell(gm),
            ours2,
            gm2
        );
        black_box(&mut c);
    }
}
