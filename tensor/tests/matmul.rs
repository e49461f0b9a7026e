//! `matmul` against a naive triple loop accumulated in f64, over layouts (contiguous, transposed,
//! narrowed, broadcast batches with stride 0), 1-D operands, f32 and f64. Results are written into
//! NaN-filled buffers through `matmul_into`, so an element the GEMM never wrote shows up as NaN.
//! Large products must be bit-identical whatever the rayon thread count.

#![deny(clippy::undocumented_unsafe_blocks)]

use proptest::prelude::*;
use tensor::{Float, Tensor, broadcast_shape};

/// How an operand of logical shape (batch.., r, c) sits in memory.
#[derive(Clone, Copy, Debug)]
enum Form {
    Contiguous,
    /// A contiguous (batch.., c, r) tensor seen through `.mt()`: column stride != 1.
    Transposed,
    /// A window of a larger tensor: row stride > c and a non-zero offset.
    Narrowed,
    /// Both of the above.
    TransposedNarrowed,
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![Just(Form::Contiguous), Just(Form::Transposed), Just(Form::Narrowed), Just(Form::TransposedNarrowed)]
}

/// A random (batch.., r, c) operand with uniform values in [-1, 1), laid out as `form` says.
fn operand<T: Float>(batch: &[usize], r: usize, c: usize, form: Form, seed: u64) -> Tensor<T> {
    let rand = |x: usize, y: usize| Tensor::<T>::rand_uniform(&[batch, &[x, y]].concat(), -T::ONE, T::ONE, seed);
    let t = match form {
        Form::Contiguous => rand(r, c),
        Form::Transposed => rand(c, r).mt(),
        Form::Narrowed => rand(r + 3, c + 2).narrow(-2, 2, r).narrow(-1, 1, c),
        Form::TransposedNarrowed => rand(c + 2, r + 3).narrow(-2, 1, c).narrow(-1, 2, r).mt(),
    };
    assert_eq!(t.shape(), &[batch, &[r, c]].concat()[..]);
    t
}

/// A random 1-D operand of length k; strided (every third element of a column) when `strided`.
fn vector<T: Float>(k: usize, strided: bool, seed: u64) -> Tensor<T> {
    if strided {
        Tensor::<T>::rand_uniform(&[k, 3], -T::ONE, T::ONE, seed).narrow(1, 1, 1).squeeze(1)
    } else {
        Tensor::<T>::rand_uniform(&[k], -T::ONE, T::ONE, seed)
    }
}

/// The naive product in f64, with torch.matmul's 1-D and broadcasting rules spelled out:
/// returns (shape, values, bounds), where bound = k * eps * sum_p |a_ip b_pj| is the classical
/// worst-case rounding error of a length-k dot product in T (about twice the gamma_k = k u bound).
fn reference<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
    let a2 = if a.ndim() == 1 { a.unsqueeze(0) } else { a.clone() };
    let b2 = if b.ndim() == 1 { b.unsqueeze(-1) } else { b.clone() };
    let (sa, sb) = (a2.shape(), b2.shape());
    let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
    let batch = broadcast_shape(&sa[..sa.len() - 2], &sb[..sb.len() - 2]).unwrap();
    let av = a2.broadcast_to(&[&batch[..], &[m, k]].concat()).to_vec();
    let bv = b2.broadcast_to(&[&batch[..], &[k, n]].concat()).to_vec();
    let nbatch: usize = batch.iter().product();
    let (mut values, mut bounds) = (vec![], vec![]);
    for q in 0..nbatch {
        for i in 0..m {
            for j in 0..n {
                let (mut sum, mut abs) = (0.0, 0.0);
                for p in 0..k {
                    let prod = av[q * m * k + i * k + p].to_f64() * bv[q * k * n + p * n + j].to_f64();
                    sum += prod;
                    abs += prod.abs();
                }
                values.push(sum);
                bounds.push(k as f64 * T::EPSILON.to_f64() * abs);
            }
        }
    }
    let mut shape = batch;
    if a.ndim() > 1 {
        shape.push(m);
    }
    if b.ndim() > 1 {
        shape.push(n);
    }
    (shape, values, bounds)
}

/// matmul_into a NaN-filled buffer and matmul both agree with the naive loop, element by element.
fn check<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> Result<(), TestCaseError> {
    let (shape, want, bounds) = reference(a, b);
    prop_assert_eq!(a.matmul_shape(b), shape.clone());
    let mut out = vec![T::NAN; want.len()];
    a.matmul_into(b, &mut out);
    for (idx, ((&got, &w), &bound)) in out.iter().zip(&want).zip(&bounds).enumerate() {
        prop_assert!(
            (got.to_f64() - w).abs() <= bound,
            "{} {:?} @ {:?} (strides {:?}, {:?}): element {idx} is {got}, naive loop gives {w} (bound {bound:e})",
            T::NAME,
            a.shape(),
            b.shape(),
            a.strides(),
            b.strides(),
        );
    }
    let c = a.matmul(b);
    prop_assert_eq!(c.shape(), &shape[..]);
    prop_assert!(c.is_contiguous());
    let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
    prop_assert_eq!(bits(&c.to_vec()), bits(&out), "matmul and matmul_into differ");
    Ok(())
}

/// `which`: 0 expands the lhs, 1 the rhs, 2 both, from batch size 1 to 4 with stride 0.
#[allow(clippy::too_many_arguments)]
fn stride_zero_case<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    fa: Form,
    fb: Form,
    which: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let (expand_a, expand_b) = (which != 1, which != 0);
    let side = |expand: bool, r: usize, c: usize, f: Form, seed: u64| {
        if expand {
            operand::<T>(&[1], r, c, f, seed).broadcast_to(&[4, r, c])
        } else {
            operand::<T>(&[4], r, c, f, seed)
        }
    };
    let (a, b) = (side(expand_a, m, k, fa, seed), side(expand_b, k, n, fb, seed ^ 1));
    prop_assert_eq!(a.strides()[0] == 0, expand_a);
    prop_assert_eq!(b.strides()[0] == 0, expand_b);
    check(&a, &b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn matrix_products_match_naive_loop(
        m in 1usize..40, k in 1usize..40, n in 1usize..40, fa in form(), fb in form(), seed in any::<u64>()
    ) {
        check(&operand::<f32>(&[], m, k, fa, seed), &operand::<f32>(&[], k, n, fb, seed ^ 1))?;
        check(&operand::<f64>(&[], m, k, fa, seed), &operand::<f64>(&[], k, n, fb, seed ^ 1))?;
    }

    #[test]
    fn batched_products_broadcast_batch_dims(
        shapes in prop_oneof![
            Just((vec![2, 1], vec![3])),
            Just((vec![3], vec![])),
            Just((vec![], vec![2])),
            Just((vec![2, 3], vec![2, 3])),
            Just((vec![1, 2], vec![3, 1])),
            Just((vec![4], vec![1])),
        ],
        m in 1usize..12, k in 1usize..12, n in 1usize..12, fa in form(), fb in form(), seed in any::<u64>()
    ) {
        let (ba, bb) = shapes;
        check(&operand::<f32>(&ba, m, k, fa, seed), &operand::<f32>(&bb, k, n, fb, seed ^ 1))?;
        check(&operand::<f64>(&ba, m, k, fa, seed), &operand::<f64>(&bb, k, n, fb, seed ^ 1))?;
    }

    /// Operands explicitly expanded along a batch axis (stride 0), on the left, the right or both,
    /// so several batches read the same storage matrix.
    #[test]
    fn stride_zero_batches(
        m in 1usize..12, k in 1usize..12, n in 1usize..12, fa in form(), fb in form(), which in 0usize..3,
        seed in any::<u64>()
    ) {
        stride_zero_case::<f32>(m, k, n, fa, fb, which, seed)?;
        stride_zero_case::<f64>(m, k, n, fa, fb, which, seed)?;
    }

    #[test]
    fn vector_operands(
        m in 1usize..40, k in 1usize..40, n in 1usize..40, fa in form(), strided in any::<bool>(), seed in any::<u64>()
    ) {
        let v32 = vector::<f32>(k, strided, seed);
        let v64 = vector::<f64>(k, strided, seed);
        check(&v32, &vector::<f32>(k, !strided, seed ^ 1))?; // dot product, 0-d result
        check(&v64, &vector::<f64>(k, !strided, seed ^ 1))?;
        check(&v32, &operand::<f32>(&[], k, n, fa, seed ^ 2))?; // (k) @ (k, n) -> (n)
        check(&operand::<f64>(&[], m, k, fa, seed ^ 3), &v64)?; // (m, k) @ (k) -> (m)
        check(&v64, &operand::<f64>(&[2], k, n, fa, seed ^ 4))?; // (k) @ (2, k, n) -> (2, n)
        check(&operand::<f32>(&[3], m, k, fa, seed ^ 5), &v32)?; // (3, m, k) @ (k) -> (3, m)
    }
}

#[test]
fn vector_dot_is_zero_dimensional() {
    let v = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    let d = v.matmul(&v);
    assert_eq!(d.shape(), &[] as &[usize]);
    assert_eq!(d.item(), 14.0);
}

#[test]
fn empty_dimensions() {
    // k = 0: an empty sum, so zeros (written over the NaNs).
    let a = Tensor::<f32>::zeros(&[3, 0]);
    let b = Tensor::<f32>::zeros(&[0, 4]);
    let mut out = vec![f32::NAN; 12];
    a.matmul_into(&b, &mut out);
    assert_eq!(out, vec![0.0; 12]);
    assert_eq!(a.matmul(&b).to_vec(), vec![0.0; 12]);
    // m = 0 or an empty batch: an empty result of the right shape.
    assert_eq!(Tensor::<f32>::zeros(&[0, 3]).matmul(&Tensor::zeros(&[3, 4])).shape(), &[0, 4]);
    assert_eq!(Tensor::<f64>::zeros(&[2, 0, 3, 5]).matmul(&Tensor::zeros(&[5, 2])).shape(), &[2, 0, 3, 2]);
}

/// Runs `f` in a fresh rayon pool of `threads` threads.
fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

fn bits(t: &Tensor<f32>) -> Vec<u32> {
    t.to_vec().iter().map(|x| x.to_bits()).collect()
}

/// Products big enough to be split across threads (by batch and by row blocks) give the same bits
/// with 1, 2 and 3 threads, and the same bits as one unsplit GEMM call.
#[test]
fn large_products_are_bit_identical_for_any_thread_count() {
    // 300 rows: row blocks of 64 (four) and 44; B is a transposed view.
    let a = Tensor::<f32>::rand_uniform(&[300, 200], -1.0, 1.0, 1);
    let b = Tensor::<f32>::rand_uniform(&[150, 200], -1.0, 1.0, 2).mt();
    // Batched, each product large enough to be split into row blocks too.
    let ba = Tensor::<f32>::rand_uniform(&[3, 300, 64], -1.0, 1.0, 3);
    let bb = Tensor::<f32>::rand_uniform(&[3, 64, 150], -1.0, 1.0, 4);
    // A batch times one shared matrix (folded into one tall product), with a narrowed lhs.
    let fa = Tensor::<f32>::rand_uniform(&[4, 100, 210], -1.0, 1.0, 5).narrow(-1, 5, 200);
    let fb = Tensor::<f32>::rand_uniform(&[200, 150], -1.0, 1.0, 6);

    let run = || (a.matmul(&b), ba.matmul(&bb), fa.matmul(&fb));
    let (c1, bc1, fc1) = with_threads(1, run);
    for threads in [2, 3] {
        let (c, bc, fc) = with_threads(threads, run);
        assert_eq!(bits(&c), bits(&c1), "2-D product differs with {threads} threads");
        assert_eq!(bits(&bc), bits(&bc1), "batched product differs with {threads} threads");
        assert_eq!(bits(&fc), bits(&fc1), "shared-rhs product differs with {threads} threads");
        // Uncut products (one GEMM call per batch item) give the same bits too.
        let unsplit = with_threads(threads, || (a.matmul_unsplit(&b), ba.matmul_unsplit(&bb)));
        assert_eq!(bits(&unsplit.0), bits(&c1), "matmul_unsplit differs with {threads} threads");
        assert_eq!(bits(&unsplit.1), bits(&bc1), "batched matmul_unsplit differs with {threads} threads");
    }

    // The row-block split equals one GEMM call over the whole matrix.
    let mut single = vec![f32::NAN; 300 * 150];
    let ptr = |t: &Tensor<f32>| t.storage()[t.layout().offset()..].as_ptr();
    let (sa, sb) = (a.strides(), b.strides());
    // SAFETY: a and b are valid views of their storage; `single` holds 300 x 150 elements.
    unsafe {
        f32::gemm(
            300,
            200,
            150,
            1.0,
            ptr(&a),
            sa[0] as isize,
            sa[1] as isize,
            ptr(&b),
            sb[0] as isize,
            sb[1] as isize,
            0.0,
            single.as_mut_ptr(),
            150,
            1,
        );
    }
    assert_eq!(bits(&c1), single.iter().map(|x| x.to_bits()).collect::<Vec<_>>());

    // And the large results are right, not just repeatable.
    for (x, y, c) in [(&a, &b, &c1), (&ba, &bb, &bc1), (&fa, &fb, &fc1)] {
        let (shape, want, bounds) = reference(x, y);
        assert_eq!(c.shape(), &shape[..]);
        for ((got, w), bound) in c.to_vec().iter().zip(&want).zip(&bounds) {
            assert!((*got as f64 - w).abs() <= *bound, "{got} vs {w} (bound {bound:e})");
        }
    }
}

#[test]
#[should_panic(
    expected = "tensor op 'matmul': cannot multiply shapes [2, 3] and [4, 5]: lhs has 3 columns but rhs has 4 rows"
)]
fn inner_dimension_mismatch_names_both_shapes() {
    Tensor::<f32>::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
}

#[test]
#[should_panic(
    expected = "cannot multiply shapes [2, 3, 4] and [5, 4, 6]: batch dimensions [2] and [5] do not broadcast"
)]
fn batch_mismatch_names_both_shapes() {
    Tensor::<f64>::zeros(&[2, 3, 4]).matmul(&Tensor::zeros(&[5, 4, 6]));
}

#[test]
#[should_panic(expected = "tensor op 'matmul': cannot multiply shapes [] and [3]")]
fn zero_dimensional_operand_panics() {
    Tensor::<f32>::scalar(1.0).matmul(&Tensor::zeros(&[3]));
}

#[test]
#[should_panic(
    expected = "tensor op 'matmul_into': output buffer has 5 elements but shapes [2, 3] and [3, 2] give [2, 2]"
)]
fn matmul_into_wrong_length_panics() {
    let mut out = vec![0.0f32; 5];
    Tensor::<f32>::zeros(&[2, 3]).matmul_into(&Tensor::zeros(&[3, 2]), &mut out);
}
