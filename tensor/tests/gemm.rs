//! The project's GEMM (`tensor::gemm`) against a reference: every instruction set this CPU has,
//! every operand layout, odd sizes, `k = 0` and `1`, `alpha` and `beta`, outputs prefilled with
//! NaN; and the same bits from every instruction set and from any split of the rows.

use tensor::gemm::{Isa, sgemm_on};

/// A deterministic pseudo-random matrix in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A matrix stored row-major or column-major (a transposed view), inside a larger buffer with a
/// padded leading dimension, as a narrowed view would be.
struct Strided {
    data: Vec<f32>,
    rs: isize,
    cs: isize,
}

impl Strided {
    fn new(rows: usize, cols: usize, col_major: bool, pad: usize, seed: u64) -> Self {
        let (rs, cs) = if col_major { (1, (rows + pad) as isize) } else { ((cols + pad) as isize, 1) };
        let len = if col_major { (rows + pad) * cols } else { rows * (cols + pad) };
        Strided { data: values(len.max(1), seed), rs, cs }
    }

    fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs as usize + j * self.cs as usize]
    }
}

/// C = alpha A B + beta C0 in f64, and a bound on f32's error for each element:
/// `4 (k + 2) eps sum_p |a_ip b_pj| + ...`, generous for any summation order.
fn reference(
    a: &Strided,
    b: &Strided,
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    beta: f32,
    c0: &[f32],
) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let (mut sum, mut abs) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = a.get(i, p) as f64 * b.get(p, j) as f64;
                sum += t;
                abs += t.abs();
            }
            let c = if beta == 0.0 { 0.0 } else { beta as f64 * c0[i * n + j] as f64 };
            let value = alpha as f64 * sum + c;
            let tol = 4.0 * (k as f64 + 2.0) * f32::EPSILON as f64 * (alpha.abs() as f64 * abs + c.abs()) + 1e-30;
            out.push((value, tol));
        }
    }
    out
}

/// Runs `sgemm_on(isa)` into a row-major C prefilled with `c0` (NaN when beta = 0).
fn run(
    isa: Isa,
    a: &Strided,
    b: &Strided,
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    beta: f32,
    c0: &[f32],
) -> Vec<f32> {
    let mut c = c0.to_vec();
    // SAFETY: a and b address only elements inside their buffers (built by `Strided::new` for
    // these shapes); c is a row-major m x n buffer of its own.
    unsafe {
        sgemm_on(
            isa,
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs,
            a.cs,
            b.data.as_ptr(),
            b.rs,
            b.cs,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    };
    c
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 7, 1),
    (3, 1, 5),
    (5, 3, 1),
    (7, 13, 33),
    (12, 256, 32),
    (13, 257, 31),
    (25, 300, 65),
    (97, 70, 129),
    (100, 513, 17),
    (2, 600, 2100),
    (130, 40, 2050),
    (1, 700, 300),
    (4, 300, 130),
    (200, 300, 70),
];

#[test]
fn every_isa_matches_the_f64_reference_on_every_layout() {
    for isa in Isa::available() {
        for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
            for layout in 0..4 {
                let (a_t, b_t) = (layout & 1 == 1, layout & 2 == 2);
                let a = Strided::new(m, k, a_t, 3, s as u64 * 8 + layout);
                let b = Strided::new(k, n, b_t, 2, s as u64 * 8 + layout + 100);
                for (alpha, beta) in [(1.0, 0.0), (0.5, 0.0), (-1.5, 2.0), (1.0, 1.0)] {
                    let c0 = if beta == 0.0 { vec![f32::NAN; m * n] } else { values(m * n, 7 + s as u64) };
                    let got = run(isa, &a, &b, (m, k, n), alpha, beta, &c0);
                    for (idx, (&g, &(want, tol))) in
                        got.iter().zip(&reference(&a, &b, (m, k, n), alpha, beta, &c0)).enumerate()
                    {
                        assert!(
                            (g as f64 - want).abs() <= tol,
                            "{isa:?} {m}x{k}x{n} a_t={a_t} b_t={b_t} alpha={alpha} beta={beta}: element {idx} = {g}, want {want} (tol {tol:e})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn k_zero_writes_beta_c() {
    for isa in Isa::available() {
        let (a, b) = ([0.0f32; 1], [0.0f32; 1]);
        let mut c = vec![f32::NAN; 6];
        // SAFETY: k = 0, so nothing of a or b is read; c is 2 x 3 row-major.
        unsafe { sgemm_on(isa, 2, 0, 3, 1.0, a.as_ptr(), 0, 1, b.as_ptr(), 3, 1, 0.0, c.as_mut_ptr(), 3, 1) };
        assert_eq!(c, vec![0.0; 6], "{isa:?}");
        let mut c = vec![2.0f32; 6];
        // SAFETY: as above.
        unsafe { sgemm_on(isa, 2, 0, 3, 1.0, a.as_ptr(), 0, 1, b.as_ptr(), 3, 1, 0.5, c.as_mut_ptr(), 3, 1) };
        assert_eq!(c, vec![1.0; 6], "{isa:?}");
    }
}

#[test]
fn a_strided_output_is_written_only_where_it_should_be() {
    // A 9 x 4 result stored column-major with a leading dimension of 10 (row stride 1, column
    // stride 10): every element lands in its place and the padding rows stay untouched.
    let (m, k, n) = (9, 20, 4);
    let a = Strided::new(m, k, false, 0, 1);
    let b = Strided::new(k, n, true, 0, 2);
    for isa in Isa::available() {
        let mut c = vec![-7.0f32; 10 * n];
        // SAFETY: element (i, j) is at i + 10 j < 10 n: inside c.
        unsafe {
            sgemm_on(
                isa,
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
                1,
                10,
            )
        };
        let want = reference(&a, &b, (m, k, n), 1.0, 0.0, &[]);
        for j in 0..n {
            for i in 0..10 {
                if i < m {
                    let (w, tol) = want[i * n + j];
                    assert!((c[i + 10 * j] as f64 - w).abs() <= tol, "{isa:?} ({i}, {j})");
                } else {
                    assert_eq!(c[i + 10 * j], -7.0, "{isa:?} padding row {i} of column {j} was written");
                }
            }
        }
    }
}

#[test]
fn every_x86_kernel_gives_the_same_bits() {
    let kernels: Vec<Isa> = Isa::available().into_iter().filter(|&isa| isa != Isa::Portable).collect();
    for &(m, k, n) in SHAPES {
        let a = Strided::new(m, k, false, 0, 11);
        let b = Strided::new(k, n, true, 1, 12);
        let c0 = values(m * n, 13);
        let results: Vec<Vec<u32>> = kernels
            .iter()
            .map(|&isa| run(isa, &a, &b, (m, k, n), 0.75, 0.5, &c0).iter().map(|v| v.to_bits()).collect())
            .collect();
        for (isa, r) in kernels.iter().zip(&results).skip(1) {
            assert!(*r == results[0], "{isa:?} differs from {:?} at {m}x{k}x{n}", kernels[0]);
        }
    }
}

#[test]
fn any_split_of_the_rows_gives_the_same_bits() {
    // Tensor::matmul hands each thread a run of rows; each element must not depend on the cut.
    let (m, k, n) = (150, 530, 70);
    let a = Strided::new(m, k, false, 0, 21);
    let b = Strided::new(k, n, false, 0, 22);
    for isa in Isa::available() {
        let whole = run(isa, &a, &b, (m, k, n), 1.0, 0.0, &vec![f32::NAN; m * n]);
        for cut in [1, 5, 12, 64, 77, 149] {
            let mut parts = vec![f32::NAN; m * n];
            for (row0, rows) in [(0, cut), (cut, m - cut)] {
                // SAFETY: rows row0..row0 + rows of A and of C are in bounds.
                unsafe {
                    sgemm_on(
                        isa,
                        rows,
                        k,
                        n,
                        1.0,
                        a.data.as_ptr().add(row0 * k),
                        a.rs,
                        a.cs,
                        b.data.as_ptr(),
                        b.rs,
                        b.cs,
                        0.0,
                        parts.as_mut_ptr().add(row0 * n),
                        n as isize,
                        1,
                    )
                };
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(bits(&parts) == bits(&whole), "{isa:?}: cutting at row {cut} changed the result");
        }
    }
}

#[test]
fn a_short_last_row_panel_gives_the_bits_of_a_whole_tile() {
    // Rows past the last whole MR-row panel go through a kernel for exactly that many rows
    // (1..MR). Each row's bits must be the ones a whole tile gives it: compare every row count
    // against the first rows of a product of 24 rows (two whole AVX-512 panels, four AVX2 ones).
    let (m, k, n) = (24, 300, 64);
    let a = Strided::new(m, k, false, 0, 31);
    let b = Strided::new(k, n, true, 3, 32);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for isa in Isa::available() {
        for (alpha, beta) in [(1.0, 0.0), (0.5, 0.25)] {
            let c0 = values(m * n, 33);
            let whole = run(isa, &a, &b, (m, k, n), alpha, beta, &c0);
            for rows in 1..m {
                let part = run(isa, &a, &b, (rows, k, n), alpha, beta, &c0[..rows * n]);
                assert!(
                    bits(&part) == bits(&whole[..rows * n]),
                    "{isa:?}, alpha {alpha}, beta {beta}: {rows} rows differ from the same rows of {m}"
                );
            }
        }
    }
}
