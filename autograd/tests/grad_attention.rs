//! Fused attention (`Var::attention`): finite-difference gradient checks (f64), agreement with
//! its composed twin `autograd::composed::attention` in value and gradient, masks, strided
//! (split-head) inputs, layouts of the results, and bit-identity across thread counts.

use autograd::{GradCheck, Var, composed};
use proptest::prelude::*;
use tensor::Tensor;

mod common;
use common::causal;

/// `(B, h, T, d)` heads as the attention layer makes them: a `(B, T, h, d)` tensor permuted.
fn heads(b: usize, h: usize, t: usize, d: usize, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(&[b, t, h, d], -1.5, 1.5, seed).permute(&[0, 2, 1, 3])
}

/// The gradients of `sum(out * w)` for fused and composed attention, and both outputs.
type Grads = (Tensor<f64>, [Tensor<f64>; 3]);

fn run(q: &Tensor<f64>, k: &Tensor<f64>, v: &Tensor<f64>, mask: Option<&Tensor<f64>>, fused: bool) -> Grads {
    let vars = [q, k, v].map(|t| Var::parameter(t.clone()));
    let out = if fused {
        vars[0].attention(&vars[1], &vars[2], mask).0
    } else {
        composed::attention(&vars[0], &vars[1], &vars[2], mask).0
    };
    let w = Var::constant(Tensor::rand_uniform(out.shape().as_slice(), -1.0, 1.0, 99));
    let g = out.mul(&w).sum_all().backward();
    (out.value(), vars.map(|v| g.get(&v).expect("every input gets a gradient").clone()))
}

#[track_caller]
fn assert_same(fused: &Grads, reference: &Grads) {
    tensor::assert_allclose(&fused.0, &reference.0, 1e-12, 1e-12);
    for (a, b) in fused.1.iter().zip(&reference.1) {
        assert_eq!(a.shape(), b.shape());
        tensor::assert_allclose(a, b, 1e-10, 1e-12);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Any leading axes, Tq <= Tk, d != dv, with and without a causal mask.
    #[test]
    fn fused_matches_composed_and_finite_differences(
        lead in prop::collection::vec(1usize..=3, 0..=2),
        tq in 1usize..=4,
        extra in 0usize..=2,
        d in 1usize..=4,
        dv in 1usize..=3,
        masked in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let tk = tq + extra;
        let shape = |a: usize, b: usize| { let mut s = lead.clone(); s.extend([a, b]); s };
        let q = Tensor::rand_uniform(&shape(tq, d), -1.5, 1.5, seed);
        let k = Tensor::rand_uniform(&shape(tk, d), -1.5, 1.5, seed + 1);
        let v = Tensor::rand_uniform(&shape(tk, dv), -1.5, 1.5, seed + 2);
        let mask = masked.then(|| causal::<f64>(tq, tk));
        assert_same(&run(&q, &k, &v, mask.as_ref(), true), &run(&q, &k, &v, mask.as_ref(), false));
        let report = GradCheck::default().check(&[q, k, v], |x| x[0].attention(&x[1], &x[2], mask.as_ref()).0);
        prop_assert!(report.is_ok(), "{}", report.err().unwrap());
    }
}

#[test]
fn split_heads_with_causal_and_padding_masks() {
    let (b, h, t, d) = (2, 3, 5, 4);
    let (q, k, v) = (heads(b, h, t, d, 1), heads(b, h, t, d, 2), heads(b, h, t, d, 3));
    // Batch 1 pads its last two keys; combined with the causal mask by maximum.
    let mut pad = vec![0.0; b * t];
    pad[t + 3] = 1.0;
    pad[t + 4] = 1.0;
    let mask = causal::<f64>(t, t).maximum(&Tensor::from_vec(pad, &[b, 1, 1, t]));
    let fused = run(&q, &k, &v, Some(&mask), true);
    assert_same(&fused, &run(&q, &k, &v, Some(&mask), false));
    GradCheck::default().assert(&[q.clone(), k.clone(), v.clone()], |x| x[0].attention(&x[1], &x[2], Some(&mask)).0);
    // Blocked keys weigh exactly 0, and get exactly no gradient through their values.
    let qv = Var::parameter(q);
    let (_, weights) = qv.attention(&Var::constant(k), &Var::constant(v), Some(&mask));
    for bi in 0..b {
        for hi in 0..h {
            for i in 0..t {
                for j in 0..t {
                    if mask.broadcast_to(&[b, h, t, t]).get(&[bi, hi, i, j]) != 0.0 {
                        assert_eq!(weights.get(&[bi, hi, i, j]), 0.0);
                    }
                }
            }
        }
    }
    let dv = &fused.1[2];
    for hi in 0..h {
        assert_eq!(dv.get(&[1, hi, 4, 0]), 0.0, "a padded key's value is never used");
    }
}

#[test]
fn results_are_laid_out_like_their_inputs() {
    // Split heads in, so merging heads afterwards (permute back, reshape) needs no copy.
    let (q, k, v) = (heads(2, 4, 3, 2, 1), heads(2, 4, 3, 2, 2), heads(2, 4, 3, 2, 3));
    let vars = [&q, &k, &v].map(|t| Var::parameter(t.clone()));
    let (out, _) = vars[0].attention(&vars[1], &vars[2], None);
    assert!(out.value().permute(&[0, 2, 1, 3]).is_contiguous());
    let g = out.sum_all().backward();
    for x in &vars {
        assert!(g.get(x).unwrap().permute(&[0, 2, 1, 3]).is_contiguous());
    }
    // Contiguous in, contiguous out.
    let c = Var::parameter(q.contiguous());
    let (out, _) = c.attention(&Var::constant(k.contiguous()), &Var::constant(v.contiguous()), None);
    assert!(out.value().is_contiguous());
}

#[test]
fn f32_agrees_with_f64_and_is_identical_on_any_thread_count() {
    let (q, k, v) = (heads(3, 4, 16, 8, 4), heads(3, 4, 16, 8, 5), heads(3, 4, 16, 8, 6));
    let mask = causal::<f32>(16, 16);
    let run32 = || {
        let vars = [&q, &k, &v].map(|t| Var::parameter(t.cast::<f32>()));
        let (out, _) = vars[0].attention(&vars[1], &vars[2], Some(&mask));
        let g = out.mul(&out).sum_all().backward();
        let mut all = out.value().to_vec();
        for x in &vars {
            all.extend(g.get(x).unwrap().to_vec());
        }
        all
    };
    let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| bits(run32()));
    for threads in [2, 3] {
        let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| bits(run32()));
        assert!(got == one, "attention on {threads} threads differs from 1 thread");
    }
    let out64 =
        Var::parameter(q.clone()).attention(&Var::constant(k.clone()), &Var::constant(v.clone()), Some(&mask.cast())).0;
    let out32 =
        Var::parameter(q.cast::<f32>()).attention(&Var::constant(k.cast()), &Var::constant(v.cast()), Some(&mask)).0;
    tensor::assert_allclose(&out32.value().cast::<f64>(), &out64.value(), 1e-5, 1e-6);
}

#[test]
#[should_panic(expected = "attention")]
fn mismatched_key_width_panics_with_shapes() {
    let q = Var::parameter(Tensor::<f32>::zeros(&[2, 3, 4]));
    let k = Var::constant(Tensor::zeros(&[2, 3, 5]));
    let _ = q.attention(&k, &k, None);
}

/// `attention_packed` on `(B, T, 3 d)` against splitting the same tensor into three views and
/// calling `attention`: same output, same gradient (the split's is assembled by the engine from
/// three padded pieces), and the gradient passes the finite-difference check.
#[test]
fn packed_projection_matches_three_views() {
    for (b, t, h, dh, masked) in [(2, 4, 2, 3, true), (1, 3, 1, 2, false), (3, 5, 3, 1, true)] {
        let d = h * dh;
        let x = Tensor::rand_uniform(&[b, t, 3 * d], -1.5, 1.5, (b * t * d) as u64);
        let mask = masked.then(|| causal::<f64>(t, t));
        let w = Tensor::rand_uniform(&[b, h, t, dh], -1.0, 1.0, 5);
        let packed = Var::parameter(x.clone());
        let out = packed.attention_packed(h, mask.as_ref()).0;
        let gp = out.mul(&Var::constant(w.clone())).sum_all().backward();
        let split = Var::parameter(x.clone());
        let heads = |i: usize| split.narrow(2, i * d, d).reshape(&[b, t, h, dh]).permute(&[0, 2, 1, 3]);
        let reference = heads(0).attention(&heads(1), &heads(2), mask.as_ref()).0;
        let gs = reference.mul(&Var::constant(w)).sum_all().backward();
        tensor::assert_allclose(&out.value(), &reference.value(), 1e-12, 1e-12);
        tensor::assert_allclose(gp.get(&packed).unwrap(), gs.get(&split).unwrap(), 1e-12, 1e-12);
        GradCheck::default().assert(&[x], |v| v[0].attention_packed(h, mask.as_ref()).0);
    }
}

#[test]
#[should_panic(expected = "attention_packed")]
fn a_packed_width_not_divisible_by_three_heads_panics() {
    let x = Var::parameter(Tensor::<f32>::zeros(&[1, 2, 10]));
    let _ = x.attention_packed(2, None);
}
