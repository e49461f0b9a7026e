//! Gradient checks for the shape ops and for joining and splitting, on random shapes and
//! layouts (contiguous, transposed, narrowed), in f64 with the default tolerances; plus checks
//! that view ops really are views and that concat / stack / split round-trip.

use autograd::{GradCheck, Var};
use proptest::prelude::*;
use tensor::Tensor;

mod common;
use common::{Strided, arb_shape, layout as arb_layout, make};

/// Random values in [-1, 1) with the given shape and layout.
fn make_input(shape: &[usize], layout: Strided, seed: u64) -> Tensor<f64> {
    make(shape, layout, seed, |s, rng| Tensor::rand_uniform_with(s, -1.0, 1.0, rng))
}

/// A random input: (tensor, its layout for the failure message).
fn arb_input(max_ndim: usize) -> impl Strategy<Value = (Tensor<f64>, Strided)> {
    (arb_shape(max_ndim), arb_layout(), any::<u64>()).prop_map(|(s, l, seed)| (make_input(&s, l, seed), l))
}

fn check(input: &Tensor<f64>, f: impl Fn(&Var<f64>) -> Var<f64>) {
    GradCheck::default().assert(std::slice::from_ref(input), |v| f(&v[0]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn reshape_and_flatten((x, _) in arb_input(4)) {
        let reversed: Vec<usize> = x.shape().iter().rev().copied().collect();
        check(&x, |v| v.reshape(&reversed));
        check(&x, |v| v.flatten());
    }

    #[test]
    fn permute(
        (x, perm) in arb_input(4).prop_flat_map(|(x, _)| {
            let n = x.ndim();
            (Just(x), Just((0..n as isize).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let y = Var::parameter(x.clone()).permute(&perm);
        for (i, &a) in perm.iter().enumerate() {
            prop_assert_eq!(y.shape()[i], x.shape()[a as usize]);
        }
        check(&x, |v| v.permute(&perm));
        // Negative axes name the same permutation.
        let negative: Vec<isize> = perm.iter().map(|&a| a - x.ndim() as isize).collect();
        check(&x, |v| v.permute(&negative));
    }

    #[test]
    fn transpose_and_mt(
        (x, a, b) in arb_input(4).prop_flat_map(|(x, _)| {
            let n = x.ndim() as isize;
            (Just(x), -n..n, -n..n)
        })
    ) {
        check(&x, |v| v.transpose(a, b));
        if x.ndim() >= 2 {
            check(&x, |v| v.mt());
        }
    }

    #[test]
    fn narrow_and_slice(
        (x, axis, start, len) in arb_input(4).prop_flat_map(|(x, _)| {
            let n = x.ndim();
            (Just(x), 0..n).prop_flat_map(|(x, axis)| {
                let size = x.shape()[axis];
                (Just(x), Just(axis), 0..=size)
            }).prop_flat_map(|(x, axis, start)| {
                let size = x.shape()[axis];
                (Just(x), Just(axis), Just(start), 0..=size - start)
            })
        })
    ) {
        let axis = axis as isize;
        check(&x, |v| v.narrow(axis, start, len));
        check(&x, |v| v.slice(axis - x.ndim() as isize, start, start + len));
    }

    #[test]
    fn squeeze_and_unsqueeze(
        (x, at) in (arb_shape(3), arb_layout(), any::<u64>()).prop_flat_map(|(s, l, seed)| {
            let n = s.len();
            (Just(s), 0..=n, Just(l), Just(seed))
        }).prop_map(|(mut s, at, l, seed)| {
            s.insert(at, 1); // the input has a size-1 axis at `at` to squeeze
            (make_input(&s, l, seed), at)
        })
    ) {
        check(&x, |v| v.squeeze(at as isize));
        check(&x, |v| v.squeeze(at as isize - x.ndim() as isize));
        // Unsqueeze at every position, positive and negative, and squeeze it off again.
        for pos in 0..=x.ndim() as isize {
            check(&x, |v| v.unsqueeze(pos));
            check(&x, |v| v.unsqueeze(pos - x.ndim() as isize - 1));
            check(&x, |v| v.unsqueeze(pos).squeeze(pos));
        }
    }

    #[test]
    fn broadcast_to(
        (target, keep, lead, layout, seed) in (arb_shape(4), arb_layout(), any::<u64>()).prop_flat_map(|(t, l, seed)| {
            let n = t.len();
            (Just(t.clone()), prop::collection::vec(any::<bool>(), n), 0..n, Just(l), Just(seed))
        })
    ) {
        // The input drops `lead` leading axes and has size 1 wherever `keep` is false.
        let shape: Vec<usize> = target.iter().zip(&keep).skip(lead).map(|(&d, &k)| if k { d } else { 1 }).collect();
        let x = make_input(&shape, layout, seed);
        let y = Var::parameter(x.clone()).broadcast_to(&target);
        prop_assert_eq!(y.shape(), target.clone());
        check(&x, |v| v.broadcast_to(&target));
    }

    /// The inverse of broadcast_to: the input has the broadcast (target) shape, the output the
    /// smaller one.
    #[test]
    fn sum_to_shape(
        (big, keep, lead, layout, seed) in (arb_shape(4), arb_layout(), any::<u64>()).prop_flat_map(|(t, l, seed)| {
            let n = t.len();
            (Just(t.clone()), prop::collection::vec(any::<bool>(), n), 0..n, Just(l), Just(seed))
        })
    ) {
        let small: Vec<usize> = big.iter().zip(&keep).skip(lead).map(|(&d, &k)| if k { d } else { 1 }).collect();
        let x = make_input(&big, layout, seed);
        let y = Var::parameter(x.clone()).sum_to_shape(&small);
        prop_assert_eq!(y.shape(), small.clone());
        check(&x, |v| v.sum_to_shape(&small));
    }

    #[test]
    fn concat_of_random_pieces(
        (base, axis, sizes, layouts, seed) in arb_shape(3).prop_flat_map(|s| {
            let n = s.len();
            (Just(s), 0..n, prop::collection::vec(0usize..=3, 1..=3), prop::collection::vec(arb_layout(), 3), any::<u64>())
        })
    ) {
        let inputs: Vec<Tensor<f64>> = sizes.iter().zip(&layouts).enumerate().map(|(k, (&len, &l))| {
            let mut s = base.clone();
            s[axis] = len;
            // A zero-size piece can't be narrowed out of a wider one on every axis: keep it simple.
            if len == 0 { Tensor::zeros(&s) } else { make_input(&s, l, seed.wrapping_add(k as u64)) }
        }).collect();
        prop_assume!(sizes.iter().sum::<usize>() > 0);
        GradCheck::default().assert(&inputs, |v| Var::concat(&v.iter().collect::<Vec<_>>(), axis as isize));
        // Round trip: split_sizes of the concat gives the pieces back.
        let vars: Vec<Var<f64>> = inputs.iter().map(|t| Var::constant(t.clone())).collect();
        let joined = Var::concat(&vars.iter().collect::<Vec<_>>(), axis as isize - base.len() as isize);
        for (piece, input) in joined.split_sizes(&sizes, axis as isize).iter().zip(&inputs) {
            prop_assert_eq!(piece.value().to_vec(), input.to_vec());
        }
    }

    #[test]
    fn stack_of_random_pieces(
        (shape, axis, count, layouts, seed) in arb_shape(3).prop_flat_map(|s| {
            let n = s.len();
            (Just(s), 0..=n, 1usize..=3, prop::collection::vec(arb_layout(), 3), any::<u64>())
        })
    ) {
        let inputs: Vec<Tensor<f64>> =
            (0..count).map(|k| make_input(&shape, layouts[k], seed.wrapping_add(k as u64))).collect();
        GradCheck::default().assert(&inputs, |v| Var::stack(&v.iter().collect::<Vec<_>>(), axis as isize));
        // Round trip: chunking the stack along the new axis and squeezing it gives the inputs back.
        let vars: Vec<Var<f64>> = inputs.iter().map(|t| Var::constant(t.clone())).collect();
        let stacked = Var::stack(&vars.iter().collect::<Vec<_>>(), axis as isize);
        let pieces = stacked.chunk(count, axis as isize);
        prop_assert_eq!(pieces.len(), count);
        for (piece, input) in pieces.iter().zip(&inputs) {
            prop_assert_eq!(piece.squeeze(axis as isize).value().to_vec(), input.to_vec());
        }
    }

    #[test]
    fn split_and_chunk_then_concat(
        ((x, _), axis, size, chunks) in arb_input(3).prop_flat_map(|(x, l)| {
            let n = x.ndim();
            (Just((x, l)), 0..n, 1usize..=4, 1usize..=4)
        })
    ) {
        let axis = axis as isize;
        // Each piece goes through a different function, so a gradient sent to the wrong place shows.
        let recombine = |pieces: Vec<Var<f64>>| {
            let scaled: Vec<Var<f64>> = pieces.iter().enumerate().map(|(k, p)| p.mul_scalar(k as f64 + 1.0)).collect();
            Var::concat(&scaled.iter().collect::<Vec<_>>(), axis)
        };
        check(&x, |v| recombine(v.split(size, axis)));
        check(&x, |v| recombine(v.chunk(chunks, axis)));

        let v = Var::constant(x.clone());
        let pieces = v.split(size, axis);
        let n = x.shape()[axis as usize];
        prop_assert_eq!(pieces.len(), n.div_ceil(size));
        prop_assert!(pieces.iter().all(|p| p.value().shares_storage_with(&x)));
        let back = Var::concat(&pieces.iter().collect::<Vec<_>>(), axis);
        prop_assert_eq!(back.value().to_vec(), x.to_vec());
        let chunked = v.chunk(chunks, axis);
        prop_assert!(chunked.len() <= chunks);
        let back = Var::concat(&chunked.iter().collect::<Vec<_>>(), axis);
        prop_assert_eq!(back.value().to_vec(), x.to_vec());
    }
}

#[test]
fn view_ops_share_storage_with_their_input() {
    let x = Var::parameter(Tensor::<f64>::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]));
    let xv = x.value();
    let views = [
        x.reshape(&[6, 4]),
        x.flatten(),
        x.permute(&[2, 0, 1]),
        x.transpose(0, -1),
        x.mt(),
        x.narrow(1, 1, 2),
        x.slice(-1, 1, 3),
        x.unsqueeze(0),
        x.narrow(0, 1, 1).squeeze(0),
        x.unsqueeze(-1).broadcast_to(&[5, 2, 3, 4, 7]),
    ];
    for v in &views {
        assert!(v.value().shares_storage_with(&xv), "{v:?} copied its input");
    }
    for p in x.split(2, -1).iter().chain(&x.chunk(3, 1)) {
        assert!(p.value().shares_storage_with(&xv), "{p:?} copied its input");
    }
    // concat and stack build new values.
    assert!(!Var::concat(&[&x, &x], 0).value().shares_storage_with(&xv));
}

#[test]
fn narrow_gradient_is_zero_outside_the_window() {
    let x = Var::parameter(Tensor::<f64>::zeros(&[2, 5]));
    let y = x.narrow(-1, 1, 3);
    let g = y.backward_with_grad(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    assert_eq!(g.get(&x).unwrap().shape(), &[2, 5]);
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 4.0, 5.0, 6.0, 0.0]);
}

#[test]
fn permute_gradient_goes_back_through_the_inverse() {
    // A 3-cycle is not its own inverse: permuting the gradient by `axes` instead of its inverse
    // would give shape (4, 2, 3), not x's (2, 3, 4).
    let x = Var::parameter(Tensor::<f64>::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]));
    let y = x.permute(&[1, 2, 0]); // (3, 4, 2)
    let g = y.backward_with_grad(&y.value().contiguous());
    assert_eq!(g.get(&x).unwrap().shape(), &[2, 3, 4]);
    assert_eq!(g.get(&x).unwrap().to_vec(), x.value().to_vec());
}

#[test]
fn broadcast_gradient_sums_the_copies() {
    let b = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]));
    let y = b.broadcast_to(&[2, 3, 4]);
    let g = y.backward_with_grad(&Tensor::ones(&[2, 3, 4]));
    assert_eq!(g.get(&b).unwrap().to_vec(), vec![8.0, 8.0, 8.0]);
}

#[test]
fn a_variable_used_by_two_pieces_gets_both_gradients() {
    let x = Var::parameter(Tensor::<f64>::zeros(&[4]));
    let pieces = x.split(2, 0);
    let y = Var::concat(&[&pieces[1], &pieces[0], &pieces[1]], 0); // piece 1 used twice
    let g = y.backward_with_grad(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[6]));
    assert_eq!(g.get(&x).unwrap().to_vec(), vec![3.0, 4.0, 1.0 + 5.0, 2.0 + 6.0]);
}

#[test]
fn concat_sends_no_gradient_to_constants() {
    let a = Var::parameter(Tensor::<f64>::ones(&[2]));
    let c = Var::constant(Tensor::<f64>::ones(&[3]));
    let y = Var::concat(&[&c, &a], 0);
    let g = y.backward_with_grad(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0], &[5]));
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![4.0, 5.0]);
    assert!(g.get(&c).is_none());
}

#[test]
#[should_panic(expected = "tensor op 'concat': tensor 1 has shape [2, 3]")]
fn concat_mismatch_names_the_shapes() {
    let a = Var::parameter(Tensor::<f64>::zeros(&[3, 2]));
    let b = Var::parameter(Tensor::<f64>::zeros(&[2, 3]));
    Var::concat(&[&a, &b], 0);
}

#[test]
#[should_panic(expected = "tensor op 'slice': end 1 is before start 2")]
fn slice_backwards_panics() {
    Var::parameter(Tensor::<f64>::zeros(&[3])).slice(0, 2, 1);
}

#[test]
#[should_panic(expected = "tensor op 'squeeze': axis 1 has size 3")]
fn squeeze_of_a_long_axis_panics() {
    Var::parameter(Tensor::<f64>::zeros(&[2, 3])).squeeze(-1);
}
