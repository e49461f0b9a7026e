//! What the benchmarks share.

/// C = A B for row-major A (m x k), B (k x n), C (m x n): one call of the project's GEMM
/// (`tensor::gemm::sgemm`, the one `Tensor::matmul` uses for f32).
pub fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: the asserts above: every addressed element lies inside its slice.
    unsafe {
        tensor::gemm::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}
