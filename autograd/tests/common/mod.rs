//! The strided inputs the gradient-check tests share: a layout of a tensor over its storage
//! (contiguous, transposed, narrowed), the tensor built in it, and the strategy that draws one.

#![allow(dead_code)] // each test binary uses its own part of this module

use proptest::prelude::*;
use tensor::{Tensor, TensorRng, rng_from_seed};

/// How a test input is laid out over its storage. The gradient checker keeps the layout.
#[derive(Clone, Copy, Debug)]
pub enum Strided {
    Contiguous,
    /// Storage in reversed axis order, viewed through the reversing permutation.
    Transposed,
    /// Storage with one extra element on each side of the last axis, viewed through `narrow`.
    Narrowed,
}

/// A tensor of logical shape `shape` in layout `layout`; `fill` fills the (contiguous) storage.
/// A scalar (no axes) has only the one layout.
pub fn make(
    shape: &[usize],
    layout: Strided,
    seed: u64,
    fill: impl Fn(&[usize], &mut TensorRng) -> Tensor<f64>,
) -> Tensor<f64> {
    let mut rng = rng_from_seed(seed);
    let n = shape.len();
    match layout {
        _ if n == 0 => fill(shape, &mut rng),
        Strided::Contiguous => fill(shape, &mut rng),
        Strided::Transposed => {
            let reversed: Vec<usize> = shape.iter().rev().copied().collect();
            let perm: Vec<isize> = (0..n as isize).rev().collect();
            fill(&reversed, &mut rng).permute(&perm)
        }
        Strided::Narrowed => {
            let mut padded = shape.to_vec();
            padded[n - 1] += 2;
            fill(&padded, &mut rng).narrow(-1, 1, shape[n - 1])
        }
    }
}

/// Any of the three layouts.
pub fn layout() -> impl Strategy<Value = Strided> {
    prop_oneof![Just(Strided::Contiguous), Just(Strided::Transposed), Just(Strided::Narrowed)]
}
