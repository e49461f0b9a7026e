//! Gradient checks for arithmetic and matmul: add, sub, mul, div, neg, the scalar forms, and
//! matmul (2-D, batched, transposed operands, broadcast batch dimensions), in f64 with
//! `GradCheck::default()` tolerances on random shapes, layouts and broadcasts.

use autograd::{GradCheck, Var};
use proptest::prelude::*;
use tensor::{Tensor, rng_from_seed};

/// A random tensor of logical shape `shape`; `transposed` stores it in reversed axis order and
/// views it through the reversing permutation (the checker keeps that layout).
fn input(shape: &[usize], transposed: bool, seed: u64) -> Tensor<f64> {
    let mut rng = rng_from_seed(seed);
    if !transposed || shape.len() < 2 {
        return Tensor::rand_uniform_with(shape, -1.0, 1.0, &mut rng);
    }
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    let perm: Vec<isize> = (0..shape.len() as isize).rev().collect();
    Tensor::rand_uniform_with(&reversed, -1.0, 1.0, &mut rng).permute(&perm)
}

/// Two shapes that broadcast together: a base shape and a copy with random axes set to 1 and
/// leading axes possibly dropped.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1usize..4, 1..=3).prop_flat_map(|base| {
        let n = base.len();
        (Just(base), prop::collection::vec(any::<bool>(), n), 0..n).prop_map(|(base, ones, drop)| {
            let other: Vec<usize> =
                base.iter().zip(&ones).map(|(&d, &one)| if one { 1 } else { d }).skip(drop).collect();
            (base, other)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn binary_arithmetic_with_broadcasting((a_shape, b_shape) in broadcast_pair(), swap in any::<bool>(), ta in any::<bool>(), tb in any::<bool>(), seed in 0u64..1000) {
        let (a_shape, b_shape) = if swap { (b_shape, a_shape) } else { (a_shape, b_shape) };
        let a = input(&a_shape, ta, seed);
        // Keep the divisor away from zero so the quotient is smooth.
        let b = input(&b_shape, tb, seed + 1).map(|x| if x < 0.0 { x - 0.5 } else { x + 0.5 });
        let check = GradCheck::default();
        check.assert(&[a.clone(), b.clone()], |v| v[0].add(&v[1]));
        check.assert(&[a.clone(), b.clone()], |v| v[0].sub(&v[1]));
        check.assert(&[a.clone(), b.clone()], |v| v[0].mul(&v[1]));
        check.assert(&[a.clone(), b.clone()], |v| v[0].div(&v[1]));
        // Operators, and an input used on both sides.
        check.assert(&[a, b], |v| &(&v[0] * &v[1]) - &(&v[0] / &v[1]));
    }

    #[test]
    fn unary_and_scalar_arithmetic(shape in prop::collection::vec(1usize..4, 0..=3), t in any::<bool>(), s in 0.5f64..3.0, seed in 0u64..1000) {
        let x = input(&shape, t, seed);
        let check = GradCheck::default();
        check.assert(std::slice::from_ref(&x), |v| v[0].neg());
        check.assert(std::slice::from_ref(&x), |v| v[0].add_scalar(s));
        check.assert(std::slice::from_ref(&x), |v| v[0].sub_scalar(s));
        check.assert(std::slice::from_ref(&x), |v| v[0].mul_scalar(s));
        check.assert(std::slice::from_ref(&x), |v| v[0].div_scalar(s));
        check.assert(&[x], |v| -(&(&v[0] * s) + 1.0));
    }

    #[test]
    fn matmul_2d_with_transposed_operands(m in 1usize..6, k in 1usize..6, n in 1usize..6, ta in any::<bool>(), tb in any::<bool>(), seed in 0u64..1000) {
        let a = input(&[m, k], ta, seed);
        let b = input(&[k, n], tb, seed + 1);
        GradCheck::default().assert(&[a, b], |v| v[0].matmul(&v[1]));
    }

    #[test]
    fn matmul_batched_with_broadcast_batch_dims(batch in 1usize..4, m in 1usize..4, k in 1usize..4, n in 1usize..4, which in 0usize..3, seed in 0u64..1000) {
        // (batch, m, k) @ (k, n); (batch, m, k) @ (batch, k, n); (2, 1, m, k) @ (batch, k, n)
        let (a_shape, b_shape) = match which {
            0 => (vec![batch, m, k], vec![k, n]),
            1 => (vec![batch, m, k], vec![batch, k, n]),
            _ => (vec![2, 1, m, k], vec![batch, k, n]),
        };
        let a = input(&a_shape, seed % 2 == 0, seed);
        let b = input(&b_shape, seed % 3 == 0, seed + 1);
        GradCheck::default().assert(&[a, b], |v| v[0].matmul(&v[1]));
    }
}

#[test]
fn matmul_of_a_transposed_view_in_the_graph() {
    // d/dA sum(A^T B) with the transpose taken inside the graph (a view op before the matmul).
    let a = input(&[3, 4], false, 1);
    let b = input(&[3, 2], false, 2);
    GradCheck::default().assert(&[a, b], |v| v[0].mt().matmul(&v[1]));
}

#[test]
fn broadcast_gradient_is_summed_back_to_the_input_shape() {
    let a = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    let bias = Var::parameter(Tensor::<f64>::zeros(&[3]));
    let g = a.add(&bias).mul_scalar(2.0).sum_all().backward();
    assert_eq!(g.get(&bias).unwrap().shape(), &[3]);
    assert_eq!(g.get(&bias).unwrap().to_vec(), vec![4.0, 4.0, 4.0]); // 2 rows x d/dx (2x)
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![2.0; 6]);
}
