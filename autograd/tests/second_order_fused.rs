//! Second derivatives of the fused ops against those of their composed twins, in f64.
//!
//! For each fused op (softmax, log_softmax, logsumexp, cross_entropy and cross_entropy_smoothed
//! with ignore_index, layer_norm with its weight and bias as inputs too, attention without a mask,
//! with a causal mask and with a causal and a broadcast padding mask, attention_packed against
//! splitting into heads and composed attention, gelu_erf, gelu_tanh), at random inputs `x` of
//! random shapes, strided (transposed, narrowed) or not, with a random output gradient `v` and
//! random directions `u` (one per input):
//!
//! ```text
//! g = grad_with([f(x)], [v], x, create_graph = true)     (v^T J, recorded)
//! h = grad_with(g, u, x, create_graph = false)          (the Hessian-vector product of v^T f)
//! ```
//!
//! and the same for the twin in `autograd::composed`. The two must agree element-wise to 1e-10
//! of the largest magnitude (for first-order gradients, of the gradient or of `v`, whichever is
//! larger; see `close_gradient`): the values, the plain first-order gradients (the fused op's fast
//! kernel against the twin's chained primitive backwards), the recorded gradients, and the
//! Hessian-vector products. Within the fused op, the recorded gradient (differentiated twin) must
//! also equal the fast kernel's.
//!
//! A fused op's recorded backward *is* its twin differentiated, so agreeing with the twin at
//! second order is close to true by construction; what makes it a test is that the engine has to
//! route the recorded gradient through the fused node (inputs, output gradient, graph kept), and
//! the fast kernel has to match. As an independent check, each Hessian-vector product is also
//! compared with central differences of the fast first-order gradient along `u`:
//! `(g(x + t u) - g(x - t u)) / 2t`, which never touches the twin. A last test chains several
//! fused ops (layer norm, packed attention, GELU, cross-entropy), so the gradient reaching each
//! fused op depends on the inputs.

use autograd::{Var, composed, grad_with};
use proptest::collection::vec;
use proptest::prelude::*;
use tensor::{Tensor, rng_from_seed};

mod common;
use common::{
    SOFTMAX_FAMILY, Strided, attention_mask, attention_shapes, causal, cross_entropy_case, largest, layout, make, same,
    shape_and_axis, targets, uniform,
};

/// The relative tolerance of fused against twin (of the reference's largest magnitude).
const TIGHT: f64 = 1e-10;
/// The relative tolerance of a Hessian-vector product against central differences.
const FINITE_DIFFERENCES: f64 = 1e-6;
/// The step of the central differences along `u`: their truncation error is about
/// `STEP^2 |h'''|`, large where a layer norm row is nearly constant (its curvature grows as
/// `rstd^3`, up to `eps^(-3/2)`), and their rounding error about `1e-16 |g| / STEP`.
const STEP: f64 = 1e-6;

/// A function of several variables, fused or composed.
type F<'a> = &'a dyn Fn(&[Var<f64>]) -> Var<f64>;

/// Values in `[lo, hi)` of `shape` in `layout`.
fn input(shape: &[usize], layout: Strided, seed: u64, lo: f64, hi: f64) -> Tensor<f64> {
    make(shape, layout, seed, uniform(lo, hi, same))
}

/// The output gradient `v` (shape of the output) and one direction `u` per input, from `seed`.
fn directions(seed: u64, out_shape: &[usize], inputs: &[Tensor<f64>]) -> (Tensor<f64>, Vec<Tensor<f64>>) {
    let mut rng = rng_from_seed(seed);
    let v = Tensor::rand_uniform_with(out_shape, -1.0, 1.0, &mut rng);
    let u = inputs.iter().map(|x| Tensor::rand_uniform_with(x.shape(), -1.0, 1.0, &mut rng)).collect();
    (v, u)
}

/// `g` as a tensor, zeros of `like`'s shape when the input received no gradient.
fn or_zeros(g: Option<&Var<f64>>, like: &Var<f64>) -> Tensor<f64> {
    g.map_or_else(|| Tensor::zeros(&like.shape()), Var::value)
}

/// What is compared between a fused op and its twin at one point.
struct Derivatives {
    value: Tensor<f64>,
    /// The largest magnitude in the output gradient `v`.
    v_scale: f64,
    /// `v^T J` from a plain backward (the fast kernel, for a fused op).
    grads: Vec<Tensor<f64>>,
    /// `v^T J` with create_graph (the twin differentiated, for a fused op).
    recorded: Vec<Tensor<f64>>,
    /// `d/dx_j sum_i <g_i, u_i>`: the Hessian of `v^T f` applied to `u`.
    hvp: Vec<Tensor<f64>>,
}

fn derivatives(inputs: &[Tensor<f64>], seed: u64, f: F) -> Derivatives {
    let xs: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let refs: Vec<&Var<f64>> = xs.iter().collect();
    let y = f(&xs);
    let (v, u) = directions(seed, &y.shape(), inputs);
    let (v, u) = (Var::constant(v), u.into_iter().map(Var::constant).collect::<Vec<_>>());

    let plain = grad_with(&[&y], &[&v], &refs, false);
    let recorded = grad_with(&[&y], &[&v], &refs, true);
    // Only gradients that depend on an input have second derivatives (a bias's is `sum_rows(v)`).
    let (outs, dirs): (Vec<&Var<f64>>, Vec<&Var<f64>>) =
        recorded.iter().zip(&u).filter_map(|(g, u)| g.as_ref().filter(|g| g.requires_grad()).map(|g| (g, u))).unzip();
    let hvp = if outs.is_empty() { vec![None; xs.len()] } else { grad_with(&outs, &dirs, &refs, false) };
    Derivatives {
        value: y.value(),
        v_scale: largest(&v.value()),
        grads: plain.iter().zip(&xs).map(|(g, x)| or_zeros(g.as_ref(), x)).collect(),
        recorded: recorded.iter().zip(&xs).map(|(g, x)| or_zeros(g.as_ref(), x)).collect(),
        hvp: hvp.iter().zip(&xs).map(|(g, x)| or_zeros(g.as_ref(), x)).collect(),
    }
}

/// The Hessian-vector product by central differences of plain first-order gradients along `u`.
fn hvp_by_differences(inputs: &[Tensor<f64>], seed: u64, f: F) -> Vec<Tensor<f64>> {
    let out_shape = f(&inputs.iter().map(|t| Var::constant(t.clone())).collect::<Vec<_>>()).shape();
    let (v, u) = directions(seed, &out_shape, inputs);
    let grads_at = |t: f64| {
        let xs: Vec<Var<f64>> = inputs.iter().zip(&u).map(|(x, u)| Var::parameter(x.add(&u.mul_scalar(t)))).collect();
        let y = f(&xs);
        let g = grad_with(&[&y], &[&Var::constant(v.clone())], &xs.iter().collect::<Vec<_>>(), false);
        g.iter().zip(&xs).map(|(g, x)| or_zeros(g.as_ref(), x)).collect::<Vec<_>>()
    };
    let (plus, minus) = (grads_at(STEP), grads_at(-STEP));
    plus.iter().zip(&minus).map(|(p, m)| p.sub(m).div_scalar(2.0 * STEP)).collect()
}

/// `a` against the reference `b`, element-wise within `rel` of `b`'s largest magnitude (a
/// relative test of elements that cancel to near 0 would say nothing about the computation).
fn close(what: &str, part: &str, a: &Tensor<f64>, b: &Tensor<f64>, rel: f64) -> Result<(), TestCaseError> {
    close_at_scale(what, part, a, b, rel, largest(b))
}

/// A first-order gradient `a` against the reference `b`, element-wise within `TIGHT` of the
/// larger of `b`'s largest magnitude and `v_scale`, the output gradient's. A backward adds and
/// subtracts terms the size of `v` (times the Jacobian's entries), so its rounding error is a few
/// ulps of `|v|` however small a gradient comes out: a layer norm of 2 values has an input
/// gradient near 0 (its output is +-1 whatever the input, up to `eps`), 3.8e-8 at one input,
/// where the fast kernel and the twin differed by 3e-17, beyond `TIGHT` of the gradient alone.
fn close_gradient(what: &str, part: &str, a: &Tensor<f64>, b: &Tensor<f64>, v_scale: f64) -> Result<(), TestCaseError> {
    close_at_scale(what, part, a, b, TIGHT, largest(b).max(v_scale))
}

/// `a` against `b`, element-wise within `rel * scale`.
fn close_at_scale(
    what: &str,
    part: &str,
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    rel: f64,
    scale: f64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.shape(), b.shape(), "{}: {} shapes differ", what, part);
    let err = a.max_abs_diff(b);
    prop_assert!(
        a.allclose(b, rel, rel * scale) && err.is_finite(),
        "{}: {} differ by {:e} (tolerance {:e} of {:e})\n  got      {:?}\n  expected {:?}",
        what,
        part,
        err,
        rel,
        scale,
        a.to_vec(),
        b.to_vec()
    );
    Ok(())
}

/// The whole comparison of `fused` against `twin` at `inputs`.
fn compare(what: &str, inputs: &[Tensor<f64>], seed: u64, fused: F, twin: F) -> Result<(), TestCaseError> {
    let a = derivatives(inputs, seed, fused);
    let b = derivatives(inputs, seed, twin);
    close(what, "values", &a.value, &b.value, TIGHT)?;
    let fd = hvp_by_differences(inputs, seed, fused);
    let gradient_scale = a.grads.iter().map(largest).fold(0.0, f64::max);
    for (i, fd) in fd.iter().enumerate() {
        let part = |p: &str| format!("{p} of input {i}");
        let v = b.v_scale; // the same `v` for both: drawn from `seed`
        close_gradient(what, &part("first-order gradients (fast kernel vs twin)"), &a.grads[i], &b.grads[i], v)?;
        close_gradient(what, &part("recorded gradients"), &a.recorded[i], &b.recorded[i], v)?;
        close_gradient(what, &part("recorded vs fast gradients of the fused op"), &a.recorded[i], &a.grads[i], v)?;
        close(what, &part("Hessian-vector products"), &a.hvp[i], &b.hvp[i], TIGHT)?;
        // Central differences of `g` lose about `1e-16 |g| / STEP` to rounding: the tolerance is
        // relative to the gradients' magnitude as well as the product's.
        let scale = largest(fd).max(gradient_scale);
        let fd_part = part("Hessian-vector product vs finite differences of the fast gradient");
        close_at_scale(what, &fd_part, &a.hvp[i], fd, FINITE_DIFFERENCES, scale)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Packed attention split into heads
// ---------------------------------------------------------------------------------------------

/// The packed `(B, T, 3 d)` projection split into `(B, h, T, d / h)` heads q, k, v by views, the
/// way a reader would write it (narrow, reshape, permute).
fn split_heads(x: &Var<f64>, n_head: usize) -> [Var<f64>; 3] {
    let s = x.shape();
    let (b, t, d) = (s[0], s[1], s[2] / 3);
    let head = |i: usize| x.narrow(2, i * d, d).reshape(&[b, t, n_head, d / n_head]).permute(&[0, 2, 1, 3]);
    [head(0), head(1), head(2)]
}

// ---------------------------------------------------------------------------------------------
// The fused ops, one by one
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn softmax_log_softmax_logsumexp((shape, axis) in shape_and_axis(3), layout in layout(), seed in 0u64..1000) {
        let x = [input(&shape, layout, seed, -3.0, 3.0)];
        for (name, fused, twin) in SOFTMAX_FAMILY {
            let what = format!("{name} on {shape:?} ({layout:?}) along {axis}");
            compare(&what, &x, seed, &|v| fused(&v[0], axis), &|v| twin(&v[0], axis))?;
        }
    }

    #[test]
    fn cross_entropy_plain_and_smoothed_with_ignore_index(
        case in cross_entropy_case(5),
        eps in 0.0f64..=1.0,
        layout in layout(),
        seed in 0u64..1000,
    ) {
        let (shape, ignore, t) = (case.shape(), case.ignore(), case.targets(seed));
        let x = [input(&shape, layout, seed, -3.0, 3.0)];
        let what = format!("logits {shape:?} ({layout:?}), targets {t:?}, ignore {ignore:?}");
        compare(
            &format!("cross_entropy, {what}"),
            &x,
            seed,
            &|v| v[0].cross_entropy(&t, ignore),
            &|v| composed::cross_entropy(&v[0], &t, ignore),
        )?;
        compare(
            &format!("cross_entropy_smoothed({eps}), {what}"),
            &x,
            seed,
            &|v| v[0].cross_entropy_smoothed(&t, ignore, eps),
            &|v| composed::cross_entropy_smoothed(&v[0], &t, ignore, eps),
        )?;
    }

    /// x, weight and bias are all inputs: the Hessian-vector product mixes all three.
    #[test]
    fn layer_norm_with_weight_and_bias(
        lead in vec(1usize..=3, 0..=2),
        d in 2usize..=6,
        bias in any::<bool>(),
        layout in layout(),
        seed in 0u64..1000,
    ) {
        let mut shape = lead.clone();
        shape.push(d);
        let mut inputs = vec![input(&shape, layout, seed, -2.0, 2.0), Tensor::rand_uniform(&[d], 0.5, 1.5, seed + 1)];
        if bias {
            inputs.push(Tensor::rand_uniform(&[d], -0.5, 0.5, seed + 2));
        }
        compare(
            &format!("layer_norm of {shape:?} ({layout:?}), bias {bias}"),
            &inputs,
            seed,
            &|v| v[0].layer_norm(&v[1], v.get(2), 1e-5),
            &|v| composed::layer_norm(&v[0], &v[1], v.get(2), 1e-5),
        )?;
    }

    /// q, k and v all inputs, any leading axes, Tq <= Tk, d != dv, each mask kind.
    #[test]
    fn attention_with_and_without_a_mask(a in attention_shapes(4), layouts in vec(layout(), 3), seed in 0u64..1000) {
        let inputs = [
            input(&a.q(), layouts[0], seed, -1.5, 1.5),
            input(&a.k(), layouts[1], seed + 1, -1.5, 1.5),
            input(&a.v(), layouts[2], seed + 2, -1.5, 1.5),
        ];
        let mask = a.mask();
        compare(
            &format!("attention of q {:?}, k {:?}, v {:?} ({layouts:?}), mask {}", a.q(), a.k(), a.v(), a.mask_kind),
            &inputs,
            seed,
            &|x| x[0].attention(&x[1], &x[2], mask.as_ref()).0,
            &|x| composed::attention(&x[0], &x[1], &x[2], mask.as_ref()).0,
        )?;
    }

    /// The packed op against splitting its input into three head views and composed attention.
    #[test]
    fn attention_packed_against_split_heads(
        (b, t, h, dh) in (1usize..=2, 1usize..=4, 1usize..=3, 1usize..=2),
        mask_kind in 0u8..3,
        layout in layout(),
        seed in 0u64..1000,
    ) {
        let x = [input(&[b, t, 3 * h * dh], layout, seed, -1.5, 1.5)];
        let mask = attention_mask(mask_kind, &[b, 1], t, t);
        compare(
            &format!("attention_packed of ({b}, {t}, {}) ({layout:?}), {h} heads, mask {mask_kind}", 3 * h * dh),
            &x,
            seed,
            &|v| v[0].attention_packed(h, mask.as_ref()).0,
            &|v| {
                let [q, k, val] = split_heads(&v[0], h);
                composed::attention(&q, &k, &val, mask.as_ref()).0
            },
        )?;
    }

    #[test]
    fn gelu_erf_and_gelu_tanh(shape in vec(1usize..=4, 1..=3), layout in layout(), seed in 0u64..1000) {
        let x = [input(&shape, layout, seed, -3.0, 3.0)];
        let what = |op: &str| format!("{op} on {shape:?} ({layout:?})");
        compare(&what("gelu_erf"), &x, seed, &|v| v[0].gelu_erf(), &|v| composed::gelu_erf(&v[0]))?;
        compare(&what("gelu_tanh"), &x, seed, &|v| v[0].gelu_tanh(), &|v| composed::gelu_tanh(&v[0]))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Fused ops in a chain
// ---------------------------------------------------------------------------------------------

/// A small transformer-like block: layer norm, a packed projection into q, k, v, causal attention,
/// GELU, a projection to classes and the (smoothed) cross-entropy, with every fused op either
/// fused or composed. Inputs: the sequence `(B, T, d)`, the layer norm's weight and bias, the
/// projection `(d, 3 d)` and the classifier `(d_head, C)`.
fn block(v: &[Var<f64>], n_head: usize, targets: &[usize], smoothing: f64, fused: bool) -> Var<f64> {
    let (x, w, b, proj, cls) = (&v[0], &v[1], &v[2], &v[3], &v[4]);
    let t = x.shape()[1];
    let mask = causal(t, t);
    let normed = if fused { x.layer_norm(w, Some(b), 1e-5) } else { composed::layer_norm(x, w, Some(b), 1e-5) };
    let qkv = normed.matmul(proj); // (B, T, 3 d)
    let heads = if fused {
        qkv.attention_packed(n_head, Some(&mask)).0
    } else {
        let [q, k, val] = split_heads(&qkv, n_head);
        composed::attention(&q, &k, &val, Some(&mask)).0
    }; // (B, h, T, d_head)
    let act = if fused { heads.gelu_tanh() } else { composed::gelu_tanh(&heads) };
    let logits = act.matmul(cls); // (B, h, T, C)
    // log_softmax is idempotent, so this changes nothing but puts one more fused op in the chain.
    let logits = if fused { logits.log_softmax(-1) } else { composed::log_softmax(&logits, -1) };
    if fused {
        logits.cross_entropy_smoothed(targets, Some(0), smoothing)
    } else {
        composed::cross_entropy_smoothed(&logits, targets, Some(0), smoothing)
    }
}

#[test]
fn a_chain_of_fused_ops_has_the_second_derivatives_of_its_composed_twin() {
    let (b, t, d, n_head, c) = (2, 3, 4, 2, 3);
    let d_head = d / n_head;
    let inputs = [
        input(&[b, t, d], Strided::Transposed, 1, -2.0, 2.0),
        Tensor::rand_uniform(&[d], 0.5, 1.5, 2),
        Tensor::rand_uniform(&[d], -0.5, 0.5, 3),
        input(&[d, 3 * d], Strided::Narrowed, 4, -1.0, 1.0),
        input(&[d_head, c], Strided::Contiguous, 5, -1.0, 1.0),
    ];
    // Class 0 doubles as the ignore index: those rows drop out.
    let targets = targets(b * n_head * t, c, Some(0), &mut rng_from_seed(6));
    for smoothing in [0.0, 0.1] {
        let result = compare(
            &format!("the chain, smoothing {smoothing}"),
            &inputs,
            7,
            &|v| block(v, n_head, &targets, smoothing, true),
            &|v| block(v, n_head, &targets, smoothing, false),
        );
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

/// One variable in several input slots of a fused op (`x.attention(&x, &x)`, a layer norm whose
/// weight and bias are its input): with create_graph each slot must get its own partial
/// derivative, as the fast kernel gives it, and the engine add them. (Differentiating the twin
/// with respect to the variable itself would hand every slot the sum, counting it three times.)
#[test]
fn a_variable_in_several_slots_of_a_fused_op_is_counted_once_per_slot() {
    let mut rng = rng_from_seed(7);
    let x = Tensor::<f64>::rand_uniform_with(&[2, 3, 4], -1.0, 1.0, &mut rng);
    let mask = causal(3, 3);
    for mask in [None, Some(&mask)] {
        let fused = |v: &[Var<f64>]| v[0].attention(&v[0], &v[0], mask).0;
        let twin = |v: &[Var<f64>]| composed::attention(&v[0], &v[0], &v[0], mask).0;
        compare("attention(x, x, x)", std::slice::from_ref(&x), 1, &fused, &twin).unwrap();
    }
    let row = Tensor::<f64>::rand_uniform_with(&[4], 0.5, 1.5, &mut rng);
    let fused = |v: &[Var<f64>]| v[0].layer_norm(&v[0], Some(&v[0]), 1e-5);
    let twin = |v: &[Var<f64>]| composed::layer_norm(&v[0], &v[0], Some(&v[0]), 1e-5);
    compare("layer_norm(x, weight = x, bias = x)", &[row], 2, &fused, &twin).unwrap();
}
