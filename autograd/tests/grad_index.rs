//! Gradient checks for index_select (embedding lookup, with repeated indices), its scatter-add
//! inverse index_add_to_zeros, and masked_fill
//! (random masks, and a (T, T) attention mask broadcast over (B, H, T, T) scores), in f64 with
//! the default tolerances, on contiguous and strided inputs.

use autograd::{GradCheck, Var};
use proptest::prelude::*;
use tensor::Tensor;

mod common;
use common::{arb_mask_bits, arb_shape, causal, shape_axis_indices};

/// Random values in [-1, 1) of `shape`; `strided` builds them transposed (all axes reversed)
/// and permutes back, so the checked input is not contiguous.
fn make_input(shape: &[usize], strided: bool, seed: u64) -> Tensor<f64> {
    if !strided {
        return Tensor::rand_uniform(shape, -1.0, 1.0, seed);
    }
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    let axes: Vec<isize> = (0..shape.len() as isize).rev().collect();
    Tensor::rand_uniform(&reversed, -1.0, 1.0, seed).permute(&axes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn index_select_gradcheck(
        (shape, axis, indices) in shape_axis_indices(6),
        strided in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let x = make_input(&shape, strided, seed);
        GradCheck::default().assert(std::slice::from_ref(&x), |v| v[0].index_select(axis as isize, &indices));
        let negative = axis as isize - shape.len() as isize;
        GradCheck::default().assert(std::slice::from_ref(&x), |v| v[0].index_select(negative, &indices));
    }

    /// Scatter-add into zeros (index_select's backward, as an op): the input's slices are the
    /// rows added, so its shape is the table's with `indices.len()` along the axis.
    #[test]
    fn index_add_to_zeros_gradcheck(
        (shape, axis, indices) in shape_axis_indices(6),
        strided in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rows = shape.clone();
        rows[axis] = indices.len();
        let x = make_input(&rows, strided, seed);
        GradCheck::default().assert(std::slice::from_ref(&x), |v| v[0].index_add_to_zeros(&shape, axis as isize, &indices));
    }

    /// With an all-ones output gradient, every element of input slice `i` receives the number
    /// of times `i` was picked.
    #[test]
    fn index_select_gradient_counts_repeats((shape, axis, indices) in shape_axis_indices(8)) {
        let x = Var::parameter(Tensor::<f64>::rand_uniform(&shape, -1.0, 1.0, 7));
        let y = x.index_select(axis as isize, &indices);
        let g = y.backward_with_grad(&Tensor::ones(&y.shape()));
        let g = g.get(&x).unwrap();
        prop_assert_eq!(g.shape(), shape.as_slice());
        for i in 0..shape[axis] {
            let count = indices.iter().filter(|&&k| k == i).count() as f64;
            let slice = g.narrow(axis as isize, i, 1).to_vec();
            prop_assert!(slice.iter().all(|&v| v == count), "slice {} got {:?}, picked {} times", i, slice, count);
        }
    }

    #[test]
    fn masked_fill_with_random_masks(
        (shape, strided, seed, bits) in (arb_shape(4), any::<bool>(), any::<u64>()).prop_flat_map(|(s, st, seed)| {
            let numel = s.iter().product();
            (Just(s), Just(st), Just(seed), arb_mask_bits(numel))
        })
    ) {
        let x = make_input(&shape, strided, seed);
        let mask = Tensor::from_vec(bits.clone(), &shape);
        GradCheck::default().assert(std::slice::from_ref(&x), |v| v[0].masked_fill(&mask, -2.5));

        // Exactly: the output gradient passes where the mask is 0, and nothing where it is 1.
        let xv = Var::parameter(x.clone());
        let y = xv.masked_fill(&mask, -2.5);
        let out = Tensor::<f64>::rand_uniform(&shape, 0.5, 1.5, seed ^ 1);
        let g = y.backward_with_grad(&out);
        let g = g.get(&xv).unwrap().to_vec();
        let (yv, xs) = (y.value().to_vec(), x.to_vec());
        for (k, (&m, &w)) in bits.iter().zip(&out.to_vec()).enumerate() {
            let (want_g, want_y) = if m != 0.0 { (0.0, -2.5) } else { (w, xs[k]) };
            prop_assert_eq!(g[k], want_g);
            prop_assert_eq!(yv[k], want_y);
        }
    }

    /// A (T, T) mask over (B, H, T, T) attention scores, as in causal self-attention: random
    /// masks, the causal mask, and its transpose (a strided mask).
    #[test]
    fn masked_fill_with_a_broadcast_attention_mask(
        (b, h, t, strided, seed, bits) in (1usize..=2, 1usize..=3, 1usize..=4, any::<bool>(), any::<u64>())
            .prop_flat_map(|(b, h, t, st, seed)| (Just(b), Just(h), Just(t), Just(st), Just(seed), arb_mask_bits(t * t)))
    ) {
        let scores = make_input(&[b, h, t, t], strided, seed);
        let random = Tensor::from_vec(bits, &[t, t]);
        let causal = causal(t, t);
        for mask in [random, causal.clone(), causal.mt()] {
            GradCheck::default().assert(std::slice::from_ref(&scores), |v| v[0].masked_fill(&mask, 0.75));
        }
    }
}

#[test]
fn embedding_lookup_gradient_accumulates_repeated_tokens() {
    // vocab = 4, dim = 3; token 1 appears three times, token 3 once, tokens 0 and 2 never.
    let table = Var::parameter(Tensor::<f64>::rand_uniform(&[4, 3], -1.0, 1.0, 3));
    let ids = [1, 1, 3, 1];
    let emb = table.index_select(0, &ids).reshape(&[2, 2, 3]); // (B = 2, T = 2, dim = 3)
    let g = emb.backward_with_grad(&Tensor::ones(&[2, 2, 3]));
    assert_eq!(g.get(&table).unwrap().to_vec(), vec![0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    // And numerically, through a reshape, on a transposed table.
    let t = Tensor::<f64>::rand_uniform(&[3, 4], -1.0, 1.0, 4).mt();
    GradCheck::default().assert(&[t], |v| v[0].index_select(0, &ids).reshape(&[2, 2, 3]));
}

#[test]
fn causal_mask_with_negative_infinity_gives_zero_gradient_not_nan() {
    let (b, h, t) = (2, 2, 3);
    let scores = Var::parameter(Tensor::<f64>::rand_uniform(&[b, h, t, t], -1.0, 1.0, 5));
    let masked = scores.masked_fill(&causal(t, t), f64::NEG_INFINITY);
    let g = masked.backward_with_grad(&Tensor::ones(&[b, h, t, t]));
    let g = g.get(&scores).unwrap().to_vec();
    let v = masked.value().to_vec();
    for (k, (&gk, &vk)) in g.iter().zip(&v).enumerate() {
        let (i, j) = ((k / t) % t, k % t);
        if j > i {
            assert_eq!((gk, vk), (0.0, f64::NEG_INFINITY), "future position {k}");
        } else {
            assert_eq!(gk, 1.0, "past position {k}");
            assert!(vk.is_finite());
        }
    }
}

#[test]
#[should_panic(
    expected = "tensor op 'masked_fill': mask of shape [3, 3] does not broadcast to the tensor's shape [2, 4]"
)]
fn masked_fill_with_a_mask_that_does_not_fit_panics() {
    Var::parameter(Tensor::<f64>::zeros(&[2, 4])).masked_fill(&Tensor::zeros(&[3, 3]), 0.0);
}

#[test]
#[should_panic(expected = "tensor op 'index_select': index 3 (at position 1) is out of range for axis 0 of size 3")]
fn index_select_out_of_range_names_the_index() {
    Var::parameter(Tensor::<f64>::zeros(&[3, 2])).index_select(0, &[0, 3]);
}
