//! How fast can one core of this machine multiply matrices, and how close does matrixmultiply's
//! GEMM (the core of `Tensor::matmul`) come? Four measurements, one core each, printed as a table:
//!
//! 1. **FMA peak**: sixteen independent AVX-512 fused multiply-adds per loop, all in registers.
//! 2. **matrixmultiply's microkernel pattern**: a 16 x 16 tile of C in sixteen registers; per step
//!    of `k`, one 16-wide vector of B and sixteen scalars of A broadcast from memory (17 loads per
//!    16 FMAs). Packed panels, `k = 128`, all in L1: the ceiling of that kernel shape here.
//! 3. **A 12 x 32 tile** for comparison: two vectors of B and twelve broadcasts per step (14 loads
//!    per 24 FMAs), the shape fast BLAS kernels use on AVX-512.
//! 4. **`matrixmultiply::sgemm`** on the training step's product shapes, warm in cache.
//!
//! Run with `cargo bench --bench gemm_ceiling` (x86_64 with AVX-512 only; elsewhere it says so
//! and exits). The AVX-512 intrinsics need Rust 1.89, which is why the root package asks for
//! 1.89 while the library crates build from 1.85. The kernels here exist only to be timed: the
//! library's products all go through matrixmultiply.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::hint::black_box;
use std::time::Instant;

#[cfg(target_arch = "x86_64")]
mod common;

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

    for (m, k, n) in [(768, 128, 384), (768, 128, 512), (768, 512, 128), (128, 768, 384), (1024, 1024, 1024)] {
        let (a, b, mut c) = (vec![0.5f32; m * k], vec![0.25f32; k * n], vec![0.0f32; m * n]);
        let flops = 2.0 * (m * n * k) as f64;
        let reps = (2e9 / flops).ceil() as usize;
        let g = best_gflops(5, flops * reps as f64, || {
            for _ in 0..reps {
                common::sgemm(m, k, n, &a, &b, &mut c);
            }
            black_box(&mut c);
        });
        println!(
            "{:<58} {g:>7.1}  ({:.0} % of peak)",
            format!("matrixmultiply::sgemm {m}x{k}x{n}, warm"),
            100.0 * g / peak
        );
    }
}
