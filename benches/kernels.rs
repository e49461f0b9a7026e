//! The tensor crate's non-matmul kernels, on the shapes one training step of the reference GPT
//! (batch 12, block 64, 4 heads, n_embd 128, MLP 512: B*T = 768 rows) sends through them, at 1 and
//! 2 rayon threads.
//!
//! - `add_bias`: `(768, 128) + (128)`, a linear layer's bias add (the bias is broadcast per row);
//! - `mul_rowscale`: `(768, 128) * (768, 1)`, layer norm's `x * rstd` (one scalar per row);
//! - `softmax`: attention probabilities, `(12, 4, 64, 64)` along the last axis;
//! - `gelu_erf`: the MLP activation on `(768, 512)`, for wide inputs (uniform in [-3, 3], mostly in
//!   erf's costlier branches) and, as `gelu_erf_normal`, for inputs spread as in a network (N(0, 1));
//! - `sum_to_shape`: a bias gradient, `(768, 128) -> (128)`;
//! - `permute_contiguous`: merging heads, `(12, 4, 64, 32)` viewed as `(12, 64, 4, 32)` and copied.
//!
//! Throughput is in elements of the output (or of the input, for `sum_to_shape`).
//!
//! Run with `cargo bench --bench kernels`; pass a filter to run a few, e.g.
//! `cargo bench --bench kernels -- softmax`.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tensor::Tensor;

fn kernels(c: &mut Criterion) {
    let x = Tensor::<f32>::rand_uniform(&[768, 128], -2.0, 2.0, 1);
    let bias = Tensor::<f32>::rand_uniform(&[128], -1.0, 1.0, 2);
    let rstd = Tensor::<f32>::rand_uniform(&[768, 1], 0.5, 2.0, 3);
    let scores = Tensor::<f32>::rand_uniform(&[12, 4, 64, 64], -4.0, 4.0, 4);
    let hidden = Tensor::<f32>::rand_uniform(&[768, 512], -3.0, 3.0, 5);
    let hidden_normal = Tensor::<f32>::rand_normal(&[768, 512], 0.0, 1.0, 7);
    let heads = Tensor::<f32>::rand_uniform(&[12, 4, 64, 32], -1.0, 1.0, 6);

    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut group = c.benchmark_group(format!("kernels_f32_{threads}t"));
        group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(1000));

        group.throughput(Throughput::Elements(x.numel() as u64));
        group.bench_function("add_bias_768x128+128", |b| pool.install(|| b.iter(|| black_box(x.add(&bias)))));
        group.bench_function("mul_rowscale_768x128*768x1", |b| pool.install(|| b.iter(|| black_box(x.mul(&rstd)))));
        group.bench_function("sum_to_shape_768x128->128", |b| {
            pool.install(|| b.iter(|| black_box(x.sum_to_shape(&[128]))))
        });

        group.throughput(Throughput::Elements(scores.numel() as u64));
        group.bench_function("softmax_12x4x64x64", |b| pool.install(|| b.iter(|| black_box(scores.softmax(-1)))));

        group.throughput(Throughput::Elements(hidden.numel() as u64));
        group.bench_function("gelu_erf_768x512", |b| pool.install(|| b.iter(|| black_box(hidden.gelu_erf()))));
        group.bench_function("gelu_erf_normal_768x512", |b| {
            pool.install(|| b.iter(|| black_box(hidden_normal.gelu_erf())))
        });

        group.throughput(Throughput::Elements(heads.numel() as u64));
        group.bench_function("permute_contiguous_12x4x64x32", |b| {
            pool.install(|| b.iter(|| black_box(heads.permute(&[0, 2, 1, 3]).contiguous())))
        });
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
