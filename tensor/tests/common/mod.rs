//! The random-layout inputs the property tests share: a shape, a way of laying it out over its
//! storage (contiguous, permuted, narrowed, broadcast with stride 0) and the values, with the
//! strategy that draws them and the tensor they build.

#![allow(dead_code)] // each test file uses its own part

use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Float, Tensor};

/// How the input tensor is laid out over its storage.
#[derive(Clone, Debug)]
pub enum Kind {
    Contiguous,
    /// Storage in another axis order, viewed through `permute(perm)`.
    Permuted(Vec<usize>),
    /// Storage with `extra` more elements along `axis`, viewed through `narrow(axis, start, ..)`.
    Narrowed {
        axis: usize,
        start: usize,
        extra: usize,
    },
    /// Storage without the first `lead` axes and with size 1 where `ones`, broadcast (stride 0).
    Broadcast {
        ones: Vec<bool>,
        lead: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Input {
    /// The logical shape.
    pub shape: Vec<usize>,
    /// How it is laid out.
    pub kind: Kind,
    /// The storage's values.
    pub data: Vec<f64>,
}

/// The shape of the storage behind `kind`.
pub fn base_shape(shape: &[usize], kind: &Kind) -> Vec<usize> {
    match kind {
        Kind::Contiguous => shape.to_vec(),
        Kind::Permuted(perm) => {
            let mut base = vec![0; shape.len()];
            for (i, &p) in perm.iter().enumerate() {
                base[p] = shape[i];
            }
            base
        }
        Kind::Narrowed { axis, extra, .. } => {
            let mut base = shape.to_vec();
            base[*axis] += extra;
            base
        }
        Kind::Broadcast { ones, lead } => (*lead..shape.len()).map(|i| if ones[i] { 1 } else { shape[i] }).collect(),
    }
}

/// The input as a tensor of `T`, laid out as its kind says.
pub fn build<T: Float>(inp: &Input) -> Tensor<T> {
    let data: Vec<T> = inp.data.iter().map(|&v| T::from_f64(v)).collect();
    let base = Tensor::from_vec(data, &base_shape(&inp.shape, &inp.kind));
    let t = match &inp.kind {
        Kind::Contiguous => base,
        Kind::Permuted(perm) => base.permute(&perm.iter().map(|&p| p as isize).collect::<Vec<_>>()),
        Kind::Narrowed { axis, start, .. } => base.narrow(*axis as isize, *start, inp.shape[*axis]),
        Kind::Broadcast { .. } => base.broadcast_to(&inp.shape),
    };
    assert_eq!(t.shape(), &inp.shape[..]);
    t
}

/// Any of the four layouts for `nd` axes (only contiguous for a scalar).
pub fn kind(nd: usize) -> BoxedStrategy<Kind> {
    if nd == 0 {
        return Just(Kind::Contiguous).boxed();
    }
    prop_oneof![
        Just(Kind::Contiguous),
        Just((0..nd).collect::<Vec<_>>()).prop_shuffle().prop_map(Kind::Permuted),
        (0..nd, 0..3usize, 0..3usize).prop_map(|(axis, a, b)| Kind::Narrowed {
            axis,
            start: a.min(b),
            extra: a.max(b)
        }),
        (vec(any::<bool>(), nd), 0..=nd).prop_map(|(ones, lead)| Kind::Broadcast { ones, lead }),
    ]
    .boxed()
}

/// An input of `shape`, any layout, its storage filled from `value`.
pub fn input_with_shape(
    shape: Vec<usize>,
    value: impl Strategy<Value = f64> + Clone + 'static,
) -> impl Strategy<Value = Input> {
    let nd = shape.len();
    (Just(shape), kind(nd))
        .prop_flat_map(move |(shape, kind)| {
            let n: usize = base_shape(&shape, &kind).iter().product();
            (Just(shape), Just(kind), vec(value.clone(), n))
        })
        .prop_map(|(shape, kind, data)| Input { shape, kind, data })
}

/// An input of 1 to 4 axes of 1 to 5 each, any layout, values from `value`.
pub fn input_with(value: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = Input> {
    vec(1..=5usize, 1..=4).prop_flat_map(move |shape| input_with_shape(shape, value.clone()))
}

/// Every multi-index of `shape` in row-major order.
pub fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for &d in shape {
        out = out.into_iter().flat_map(|prefix| (0..d).map(move |i| [prefix.clone(), vec![i]].concat())).collect();
    }
    out
}
