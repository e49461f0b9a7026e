//! Fused layer norm (`Var::layer_norm`): finite-difference gradient checks (f64), agreement with
//! its composed twin `autograd::composed::layer_norm` in value and gradient, strided inputs, and
//! bit-identity across thread counts (the weight gradient sums over rows).

use autograd::{GradCheck, Var, composed};
use proptest::prelude::*;
use tensor::Tensor;

/// Output and the gradients of `sum(y * r)` (r fixed random) for x, weight and (if any) bias.
fn run(x: &Tensor<f64>, w: &Tensor<f64>, b: Option<&Tensor<f64>>, fused: bool) -> (Tensor<f64>, Vec<Tensor<f64>>) {
    let (xv, wv) = (Var::parameter(x.clone()), Var::parameter(w.clone()));
    let bv = b.map(|b| Var::parameter(b.clone()));
    let y =
        if fused { xv.layer_norm(&wv, bv.as_ref(), 1e-5) } else { composed::layer_norm(&xv, &wv, bv.as_ref(), 1e-5) };
    let r = Var::constant(Tensor::rand_uniform(&y.shape(), -1.0, 1.0, 7));
    let g = y.mul(&r).sum_all().backward();
    let mut grads = vec![g.get(&xv).unwrap().clone(), g.get(&wv).unwrap().clone()];
    grads.extend(bv.map(|b| g.get(&b).unwrap().clone()));
    (y.value(), grads)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn fused_matches_composed_and_finite_differences(
        lead in prop::collection::vec(1usize..=3, 0..=2),
        d in 1usize..=6,
        bias in any::<bool>(),
        transposed in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let mut shape = lead.clone();
        shape.push(d);
        // Half the time a strided view: the last axis of a transposed buffer.
        let x = if transposed && shape.len() >= 2 {
            let n = shape.len();
            let mut swapped = shape.clone();
            swapped.swap(n - 2, n - 1);
            Tensor::rand_uniform(&swapped, -2.0, 2.0, seed).transpose(-2, -1)
        } else {
            Tensor::rand_uniform(&shape, -2.0, 2.0, seed)
        };
        let w = Tensor::rand_uniform(&[d], 0.5, 1.5, seed + 1);
        let b = bias.then(|| Tensor::rand_uniform(&[d], -0.5, 0.5, seed + 2));
        let (fy, fg) = run(&x, &w, b.as_ref(), true);
        let (cy, cg) = run(&x, &w, b.as_ref(), false);
        tensor::assert_allclose(&fy, &cy, 1e-12, 1e-12);
        for (a, c) in fg.iter().zip(&cg) {
            tensor::assert_allclose(a, c, 1e-10, 1e-11);
        }
        let mut inputs = vec![x, w];
        inputs.extend(b);
        let report = GradCheck::default().check(&inputs, |v| v[0].layer_norm(&v[1], v.get(2), 1e-5));
        prop_assert!(report.is_ok(), "{}", report.err().unwrap());
    }
}

#[test]
fn f32_is_identical_on_any_thread_count() {
    // 300 rows: several row blocks, so dw and db add partial sums.
    let x = Tensor::<f32>::rand_uniform(&[3, 100, 48], -3.0, 3.0, 1);
    let w = Tensor::<f32>::rand_uniform(&[48], 0.5, 1.5, 2);
    let b = Tensor::<f32>::rand_uniform(&[48], -0.5, 0.5, 3);
    let run32 = || {
        let (xv, wv, bv) = (Var::parameter(x.clone()), Var::parameter(w.clone()), Var::parameter(b.clone()));
        let y = xv.layer_norm(&wv, Some(&bv), 1e-5);
        let g = y.mul(&y).sum_all().backward();
        let mut all = y.value().to_vec();
        for v in [&xv, &wv, &bv] {
            all.extend(g.get(v).unwrap().to_vec());
        }
        all.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run32);
    for threads in [2, 3] {
        let got = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(run32);
        assert!(got == one, "layer norm on {threads} threads differs from 1 thread");
    }
}

#[test]
fn a_constant_row_normalises_to_the_bias() {
    let x = Var::parameter(Tensor::<f64>::full(&[2, 4], 3.0));
    let w = Var::parameter(Tensor::ones(&[4]));
    let b = Var::parameter(Tensor::from_vec(vec![0.1, 0.2, 0.3, 0.4], &[4]));
    let y = x.layer_norm(&w, Some(&b), 1e-5).value();
    assert_eq!(y.to_vec(), vec![0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4]);
}

#[test]
#[should_panic(expected = "layer_norm")]
fn a_weight_of_the_wrong_width_panics_with_shapes() {
    let x = Var::parameter(Tensor::<f32>::zeros(&[2, 4]));
    let _ = x.layer_norm(&Var::parameter(Tensor::ones(&[5])), None, 1e-5);
}
