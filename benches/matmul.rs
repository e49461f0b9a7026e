//! f32 matmul throughput: `Tensor::matmul` next to a direct `tensor::gemm::sgemm` call on the same
//! shapes and buffers, at 1 and 2 rayon threads.
//!
//! Throughput is reported as elements = 2 m n k floating-point operations per product, so criterion's
//! "Gelem/s" reads as GFLOP/s.
//!
//! Per shape and thread count:
//! - `ours`: `a.matmul(&b)`, the public API, including allocating the result;
//! - `ours_into`: `a.matmul_into(&b, &mut out)` into a preallocated buffer (no allocation);
//! - `direct_split`: `sgemm` called directly, split into the same row blocks on rayon as `matmul`
//!   does (so the gap to `ours` is the cost of our layer alone);
//! - `direct` (1 thread only): one `sgemm` call over the whole product, the best a single thread
//!   can do (so the gap to `direct_split` is the cost of splitting into row blocks).
//!
//! Run with `cargo bench --bench matmul`.
//!
//! On a shared or noisy machine, criterion's separate runs of each variant drift by several percent,
//! more than the differences being measured. `MATMUL_AB=1,2 cargo bench --bench matmul` (thread
//! counts, comma-separated) instead runs the variants interleaved, round after round, and prints
//! the median per-round throughput ratio of each to `direct_split`: drift then hits both sides of
//! every ratio alike.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rayon::prelude::*;
use tensor::Tensor;

mod common;
use common::sgemm;

/// (m, k, n): square sizes, then the transformer shapes (B*T = 768 rows, model width 128, MLP 512).
const SHAPES: &[(usize, usize, usize)] = &[
    (64, 64, 64),
    (128, 128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
    (768, 128, 384),
    (768, 128, 512),
    (768, 512, 128),
];

/// `sgemm` split on rayon into one run of rows per thread, each a whole number of
/// `Tensor::MATMUL_ROW_BLOCK` rows, as `matmul` splits a large product.
fn sgemm_row_blocks(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let block = Tensor::<f32>::MATMUL_ROW_BLOCK;
    let run = block * m.div_ceil(block).div_ceil(rayon::current_num_threads().max(1));
    c[..m * n].par_chunks_mut(run * n).enumerate().for_each(|(i, c)| {
        let rows = c.len() / n;
        sgemm(rows, k, n, &a[i * run * k..], b, c);
    });
}

fn matmul(c: &mut Criterion) {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut group = c.benchmark_group(format!("matmul_f32_{threads}t"));
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_millis(1500));
        for &(m, k, n) in SHAPES {
            let label = format!("{m}x{k}x{n}");
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            let a = Tensor::<f32>::rand_uniform(&[m, k], -1.0, 1.0, 1);
            let b = Tensor::<f32>::rand_uniform(&[k, n], -1.0, 1.0, 2);
            let (a_data, b_data) = (a.as_slice().unwrap(), b.as_slice().unwrap());
            let mut out = vec![0.0f32; m * n];

            group.bench_function(BenchmarkId::new("ours", &label), |bench| {
                pool.install(|| bench.iter(|| black_box(a.matmul(&b))))
            });
            group.bench_function(BenchmarkId::new("ours_into", &label), |bench| {
                pool.install(|| bench.iter(|| a.matmul_into(&b, black_box(&mut out))))
            });
            group.bench_function(BenchmarkId::new("direct_split", &label), |bench| {
                pool.install(|| bench.iter(|| sgemm_row_blocks(m, k, n, a_data, b_data, black_box(&mut out))))
            });
            if threads == 1 {
                group.bench_function(BenchmarkId::new("direct", &label), |bench| {
                    bench.iter(|| sgemm(m, k, n, a_data, b_data, black_box(&mut out)))
                });
            }
        }
        group.finish();
    }
}

/// Interleaved A/B comparison (`MATMUL_AB=1,2`): per round, each variant computes the product once
/// (or a few times for small shapes); prints median GFLOP/s and the median per-round throughput
/// ratios (x/y > 1: x is faster).
fn interleaved(thread_counts: &[usize]) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for &threads in thread_counts {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        println!("{threads} thread(s): median GFLOP/s of ours, ours_into, direct_split, direct | median ratios");
        for &(m, k, n) in SHAPES {
            let a = Tensor::<f32>::rand_uniform(&[m, k], -1.0, 1.0, 1);
            let b = Tensor::<f32>::rand_uniform(&[k, n], -1.0, 1.0, 2);
            let (a_data, b_data) = (a.as_slice().unwrap(), b.as_slice().unwrap());
            let mut out = vec![0.0f32; m * n];
            let flops = (2 * m * n * k) as f64;
            let reps = (2e7 / flops).ceil() as usize; // at least ~0.1 ms per timing
            let rounds = (7.5e10 / (flops * reps as f64)).clamp(30.0, 2000.0) as usize; // ~2 s per shape
            let mut times: Vec<Vec<f64>> = vec![vec![]; 4];
            pool.install(|| {
                for round in 0..rounds + 2 {
                    // Rotate the order each round, so no variant always runs right after the same
                    // other one (which would leave it a warmer or colder cache).
                    for variant in (0..4).map(|v| (v + round) % 4) {
                        let start = Instant::now();
                        for _ in 0..reps {
                            match variant {
                                0 => drop(black_box(a.matmul(&b))),
                                1 => a.matmul_into(&b, black_box(&mut out)),
                                2 => sgemm_row_blocks(m, k, n, a_data, b_data, black_box(&mut out)),
                                _ => sgemm(m, k, n, a_data, b_data, black_box(&mut out)),
                            }
                        }
                        if round >= 2 {
                            // 2 warm-up rounds
                            times[variant].push(start.elapsed().as_secs_f64() / reps as f64);
                        }
                    }
                }
            });
            let gflops: Vec<f64> = times.iter().map(|t| flops / median(t.clone()) / 1e9).collect();
            let ratio = |x: usize, y: usize| median(times[x].iter().zip(&times[y]).map(|(tx, ty)| ty / tx).collect());
            println!(
                "{m}x{k}x{n}: {:.1} {:.1} {:.1} {:.1} | ours/direct_split {:.3}, ours_into/direct_split {:.3}, \
                 direct_split/direct {:.3}",
                gflops[0],
                gflops[1],
                gflops[2],
                gflops[3],
                ratio(0, 2),
                ratio(1, 2),
                ratio(2, 3)
            );
        }
    }
}

criterion_group!(benches, matmul);

fn main() {
    // MATMUL_AB=1 (or =2, or =1,2): the interleaved comparison at these thread counts.
    if let Ok(list) = std::env::var("MATMUL_AB") {
        let counts: Vec<usize> = list.split(',').map(|c| c.trim().parse().expect("MATMUL_AB: thread counts")).collect();
        interleaved(&counts);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
