//! What the gradient-check tests (first order `grad_*.rs`, second order `gradgrad_primitives.rs`,
//! `second_order_fused.rs`) share: the strided inputs (a layout of a tensor over its storage:
//! contiguous, transposed, narrowed; the tensor built in it, and the strategy that draws one), the
//! values that fill them, the strategies for shapes, axes, indices, masks and reduction problems,
//! cross-entropy targets with an ignore index, attention masks, the softmax family's ops, and the
//! largest magnitude the tolerances scale by.

#![allow(dead_code)] // each test binary uses its own part of this module

use autograd::{Var, composed};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Float, Tensor, TensorRng, rng_from_seed};

/// How a test input is laid out over its storage. The gradient checker keeps the layout.
#[derive(Clone, Copy, Debug)]
pub enum Strided {
    Contiguous,
    /// Storage in reversed axis order, viewed through the reversing permutation.
    Transposed,
    /// Storage with one extra element on each side of the last axis, viewed through `narrow`.
    Narrowed,
}

/// The largest magnitude in `t`, as `f64`: the scale the tests' tolerances are relative to.
pub fn largest<T: Float>(t: &Tensor<T>) -> f64 {
    t.to_vec().iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()))
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

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// Uniform values in `[lo, hi)` passed through `f`.
pub fn uniform(lo: f64, hi: f64, f: fn(f64) -> f64) -> impl Fn(&[usize], &mut TensorRng) -> Tensor<f64> {
    move |s, rng| Tensor::rand_uniform_with(s, lo, hi, rng).map(f)
}

/// The identity, for [`uniform`] values used as drawn.
pub fn same(x: f64) -> f64 {
    x
}

/// Moves x at least 0.1 away from 0, where abs and relu have their kink.
pub fn away_from_zero(x: f64) -> f64 {
    if x < 0.0 { x - 0.1 } else { x + 0.1 }
}

/// Pairwise distinct values (ranks of random numbers, spaced 0.5 apart), so that every group has
/// one maximum and a step of eps never changes which element it is.
pub fn distinct(s: &[usize], rng: &mut TensorRng) -> Tensor<f64> {
    let u = Tensor::<f64>::rand_uniform_with(s, 0.0, 1.0, rng).to_vec();
    let mut order: Vec<usize> = (0..u.len()).collect();
    order.sort_by(|&i, &j| u[i].total_cmp(&u[j]));
    let mut ranked = vec![0.0; u.len()];
    for (rank, &i) in order.iter().enumerate() {
        ranked[i] = rank as f64 * 0.5 - 3.0;
    }
    Tensor::from_vec(ranked, s)
}

/// Multiples of 0.5 in [-2, 2], shifted by `offset`: with offsets 0 and 0.25, two operands
/// never come closer than 0.25, far from maximum's and minimum's kink at a tie.
pub fn grid(offset: f64) -> impl Fn(&[usize], &mut TensorRng) -> Tensor<f64> {
    move |s, rng| Tensor::rand_uniform_with(s, -2.0, 2.0, rng).map(|u: f64| (u * 2.0).round() / 2.0 + offset)
}

/// One unary op under test: its name, the input domain (away from kinks and singularities): values
/// uniform in `[lo, hi)` passed through `shift`, and the op.
pub struct Unary {
    pub name: &'static str,
    pub lo: f64,
    pub hi: f64,
    pub shift: fn(f64) -> f64,
    pub op: fn(&Var<f64>) -> Var<f64>,
}

// ---------------------------------------------------------------------------------------------
// Shapes, axes and indices
// ---------------------------------------------------------------------------------------------

/// A shape of 1 to `max_ndim` axes of sizes 1..=4.
pub fn arb_shape(max_ndim: usize) -> impl Strategy<Value = Vec<usize>> {
    vec(1usize..=4, 1..=max_ndim)
}

/// A shape of 1 to `max_ndim` axes of sizes 1 to 4, and an axis of it, negative half of the time.
pub fn shape_and_axis(max_ndim: usize) -> impl Strategy<Value = (Vec<usize>, isize)> {
    arb_shape(max_ndim).prop_flat_map(|shape| {
        let n = shape.len() as isize;
        (Just(shape), -n..n)
    })
}

/// A shape of 1 to 3 axes, an axis of it, and 1..=`max_indices` indices into that axis (repeats
/// likely).
pub fn shape_axis_indices(max_indices: usize) -> impl Strategy<Value = (Vec<usize>, usize, Vec<usize>)> {
    arb_shape(3)
        .prop_flat_map(|s| {
            let n = s.len();
            (Just(s), 0..n)
        })
        .prop_flat_map(move |(s, axis)| {
            let size = s[axis];
            (Just(s), Just(axis), vec(0..size, 1..=max_indices))
        })
}

/// Broadcast operand shapes for `out`: drop `drop` leading axes, then set the axes flagged in `ones` to 1.
pub fn operand_shape(out: &[usize], drop: usize, ones: &[bool]) -> Vec<usize> {
    let drop = drop.min(out.len());
    out[drop..].iter().zip(&ones[drop..]).map(|(&d, &one)| if one { 1 } else { d }).collect()
}

/// A 0/1 mask of `numel` entries.
pub fn arb_mask_bits(numel: usize) -> impl Strategy<Value = Vec<f64>> {
    vec(prop::bool::weighted(0.4).prop_map(|b| if b { 1.0 } else { 0.0 }), numel)
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

/// A reduction problem: a shape (1..=3 axes of sizes 1..4), a subset of its axes, each written
/// as a negative axis or not, in increasing or decreasing order, and keepdim; the input's layout
/// (of type `L`, the test's own set of layouts) and seed.
#[derive(Clone, Debug)]
pub struct Problem<L> {
    pub shape: Vec<usize>,
    pub axes: Vec<isize>,
    pub keepdim: bool,
    pub layout: L,
    pub seed: u64,
}

impl<L> Problem<L> {
    /// Elements per reduced group.
    pub fn group_size(&self) -> usize {
        let nd = self.shape.len() as isize;
        self.axes.iter().map(|&a| self.shape[a.rem_euclid(nd) as usize]).product()
    }
}

/// A [`Problem`] with its layout drawn from `layouts`.
pub fn problem<L: Clone + std::fmt::Debug>(layouts: impl Strategy<Value = L>) -> impl Strategy<Value = Problem<L>> {
    (
        vec(1usize..4, 1..=3),
        vec(any::<bool>(), 3),
        vec(any::<bool>(), 3),
        any::<bool>(),
        any::<bool>(),
        layouts,
        any::<u64>(),
    )
        .prop_map(|(shape, pick, negative, reversed, keepdim, layout, seed)| {
            let nd = shape.len();
            let mut axes: Vec<isize> = (0..nd)
                .filter(|&i| pick[i])
                .map(|i| if negative[i] { i as isize - nd as isize } else { i as isize })
                .collect();
            if reversed {
                axes.reverse();
            }
            Problem { shape, axes, keepdim, layout, seed }
        })
}

// ---------------------------------------------------------------------------------------------
// The softmax family and cross-entropy
// ---------------------------------------------------------------------------------------------

/// An op along an axis, fused or composed.
pub type AxisOp = fn(&Var<f64>, isize) -> Var<f64>;

/// The softmax family along an axis: each op's name, the fused op and its composed twin.
pub const SOFTMAX_FAMILY: [(&str, AxisOp, AxisOp); 4] = [
    ("softmax", |x, a| x.softmax(a), |x, a| composed::softmax(x, a)),
    ("log_softmax", |x, a| x.log_softmax(a), |x, a| composed::log_softmax(x, a)),
    ("logsumexp keepdim", |x, a| x.logsumexp(a, true), |x, a| composed::logsumexp(x, a, true)),
    ("logsumexp", |x, a| x.logsumexp(a, false), |x, a| composed::logsumexp(x, a, false)),
];

/// Random targets for `n` rows of `c` classes, about a third of them replaced by `ignore` when
/// given; row 0 always keeps a real class different from `ignore`, so the loss is never NaN.
pub fn targets(n: usize, c: usize, ignore: Option<usize>, rng: &mut TensorRng) -> Vec<usize> {
    use rand::Rng;
    let mut t: Vec<usize> = (0..n).map(|_| rng.random_range(0..c)).collect();
    if let Some(ig) = ignore {
        for ti in t.iter_mut().skip(1) {
            if rng.random::<f64>() < 0.35 {
                *ti = ig;
            }
        }
        if t[0] == ig {
            t[0] = (ig + 1) % c;
        }
    }
    t
}

/// The three ways to mark ignored rows (`mode` 0, 1, 2): none, a value outside the classes (like
/// PyTorch's -100), and a real class (e.g. a padding token id).
pub fn ignore_for(mode: u8, c: usize) -> Option<usize> {
    match mode {
        0 => None,
        1 => Some(c),
        _ => Some(c / 2),
    }
}

/// A cross-entropy case: logits of shape `(lead.., c)` and the way ignored rows are marked
/// (`mode`, see [`ignore_for`]).
#[derive(Clone, Debug)]
pub struct CrossEntropyCase {
    pub lead: Vec<usize>,
    pub c: usize,
    pub mode: u8,
}

impl CrossEntropyCase {
    /// The logits' shape `(lead.., c)`.
    pub fn shape(&self) -> Vec<usize> {
        let mut shape = self.lead.clone();
        shape.push(self.c);
        shape
    }

    /// The ignore value of `mode`.
    pub fn ignore(&self) -> Option<usize> {
        ignore_for(self.mode, self.c)
    }

    /// [`targets`] for every row, from `seed`.
    pub fn targets(&self, seed: u64) -> Vec<usize> {
        let n: usize = self.lead.iter().product();
        targets(n, self.c, self.ignore(), &mut rng_from_seed(seed))
    }
}

/// One or two leading axes of sizes 1..=3, 2..=`max_c` classes, and each way to mark ignored rows.
pub fn cross_entropy_case(max_c: usize) -> impl Strategy<Value = CrossEntropyCase> {
    (vec(1usize..=3, 1..=2), 2..=max_c, 0u8..3).prop_map(|(lead, c, mode)| CrossEntropyCase { lead, c, mode })
}

// ---------------------------------------------------------------------------------------------
// Attention masks
// ---------------------------------------------------------------------------------------------

/// The causal mask `(tq, tk)` (1 = blocked): query `i` sits at position `i + tk - tq` and sees keys
/// up to it. With `tq == tk`, the upper triangle above the diagonal (the future).
pub fn causal<T: Float>(tq: usize, tk: usize) -> Tensor<T> {
    let data = (0..tq).flat_map(|i| (0..tk).map(move |j| if j > i + tk - tq { T::ONE } else { T::ZERO })).collect();
    Tensor::from_vec(data, &[tq, tk])
}

/// An attention mask for scores `(lead.., tq, tk)`: none (kind 0), causal (kind 1), or causal
/// combined with a padding mask of shape `(lead.., 1, tk)` that blocks the last key of the first
/// sequence (kind 2; broadcast over the queries, and over the heads when `lead` is `(B, 1)`).
/// Every query sees key 0, so padding the last key leaves each row a key when `tk >= 2`.
pub fn attention_mask(kind: u8, lead: &[usize], tq: usize, tk: usize) -> Option<Tensor<f64>> {
    if kind == 0 {
        return None;
    }
    let causal = causal::<f64>(tq, tk);
    if kind == 1 || tk < 2 {
        return Some(causal);
    }
    let mut shape = lead.to_vec();
    shape.extend([1, tk]);
    let mut bits = vec![0.0; shape.iter().product()];
    bits[tk - 1] = 1.0; // the first sequence's last key
    Some(causal.maximum(&Tensor::from_vec(bits, &shape)))
}

/// The shapes of an attention problem: q `(lead.., tq, d)`, k `(lead.., tk, d)` and v
/// `(lead.., tk, dv)`, with `tq <= tk`, and the kind of its [`attention_mask`].
#[derive(Clone, Debug)]
pub struct AttentionShapes {
    pub lead: Vec<usize>,
    pub tq: usize,
    pub tk: usize,
    pub d: usize,
    pub dv: usize,
    pub mask_kind: u8,
}

impl AttentionShapes {
    /// `lead` followed by `a, b`.
    fn with_lead(&self, a: usize, b: usize) -> Vec<usize> {
        let mut s = self.lead.clone();
        s.extend([a, b]);
        s
    }

    /// The queries' shape `(lead.., tq, d)`.
    pub fn q(&self) -> Vec<usize> {
        self.with_lead(self.tq, self.d)
    }

    /// The keys' shape `(lead.., tk, d)`.
    pub fn k(&self) -> Vec<usize> {
        self.with_lead(self.tk, self.d)
    }

    /// The values' shape `(lead.., tk, dv)`.
    pub fn v(&self) -> Vec<usize> {
        self.with_lead(self.tk, self.dv)
    }

    /// The mask of kind `mask_kind` for these scores.
    pub fn mask(&self) -> Option<Tensor<f64>> {
        attention_mask(self.mask_kind, &self.lead, self.tq, self.tk)
    }
}

/// Any leading axes (none to two, of sizes 1..=2), 1..=3 queries and 0..=2 more keys, `d` in
/// 1..=`max_d` and `dv` in 1..=3 (so d != dv happens), and each mask kind.
pub fn attention_shapes(max_d: usize) -> impl Strategy<Value = AttentionShapes> {
    (vec(1usize..=2, 0..=2), 1usize..=3, 0usize..=2, (1usize..=max_d, 1usize..=3), 0u8..3).prop_map(
        |(lead, tq, extra, (d, dv), mask_kind)| AttentionShapes { lead, tq, tk: tq + extra, d, dv, mask_kind },
    )
}
