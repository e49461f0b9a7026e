//! Forward values against naive index-by-index references written from the formulas: a gradient
//! check proves the backward matches the forward, these prove the forward is the right function.

mod common;

use autograd::{Var, no_grad};
use common::{eval_state, layer_config, max_diff, mha, randn, randomize};
use tensor::{Tensor, rng_from_seed};
use transformer::{
    Activation, Block, FeedForward, Gpt, GptConfig, Init, LayerNorm, Linear, Module, MultiHeadAttention, NormPlacement,
    causal_mask,
};

/// `x: (N, in)` as rows, `w: (out, in)`, `b: (out)` -> `x W^T + b`, `(N, out)`.
fn naive_linear(x: &[Vec<f64>], w: &Tensor<f64>, b: Option<&Tensor<f64>>) -> Vec<Vec<f64>> {
    let (out, inp) = (w.shape()[0], w.shape()[1]);
    x.iter()
        .map(|r| {
            (0..out)
                .map(|o| (0..inp).map(|k| r[k] * w.get(&[o, k])).sum::<f64>() + b.map_or(0.0, |b| b.get(&[o])))
                .collect()
        })
        .collect()
}

/// The rows of the last axis of a tensor.
fn rows(t: &Tensor<f64>) -> Vec<Vec<f64>> {
    let d = *t.shape().last().unwrap();
    t.to_vec().chunks(d).map(<[f64]>::to_vec).collect()
}

fn flat(r: &[Vec<f64>]) -> Vec<f64> {
    r.concat()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    let err = a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(err < tol, "max abs difference {err:e}");
}

#[test]
fn linear_matches_naive() {
    for bias in [true, false] {
        let lin = Linear::<f64>::new(5, 3, bias, Init::Normal(1.0), &mut rng_from_seed(1));
        randomize(&lin.named_parameters(), 1.0, 2);
        let x = randn(&[2, 4, 5], 1.0, 3);
        let y = lin.forward(&Var::constant(x.clone())).value();
        assert_eq!(y.shape(), &[2, 4, 3]);
        let want = naive_linear(&rows(&x), &lin.weight.value(), lin.bias.as_ref().map(|b| b.value()).as_ref());
        assert_close(&y.to_vec(), &flat(&want), 1e-12);
    }
}

fn naive_layer_norm(r: &[f64], g: &[f64], b: &[f64]) -> Vec<f64> {
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n; // biased, as PyTorch
    r.iter().enumerate().map(|(i, x)| (x - mean) / (var + 1e-5).sqrt() * g[i] + b[i]).collect()
}

#[test]
fn layer_norm_matches_naive() {
    let ln = LayerNorm::<f64>::new(6, true);
    randomize(&ln.named_parameters(), 0.5, 4);
    // A small-variance row, where eps matters, and an ordinary one.
    let x =
        Tensor::from_vec([vec![1.0, 1.001, 0.999, 1.0, 1.002, 0.998], randn(&[6], 2.0, 5).to_vec()].concat(), &[2, 6]);
    let y = ln.forward(&Var::constant(x.clone())).value();
    let (g, b) = (ln.weight.value().to_vec(), ln.bias.as_ref().unwrap().value().to_vec());
    let want: Vec<f64> = rows(&x).iter().flat_map(|r| naive_layer_norm(r, &g, &b)).collect();
    assert_close(&y.to_vec(), &want, 1e-12);
}

#[test]
fn feed_forward_matches_naive() {
    let gelu_tanh =
        |x: f64| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh());
    let cases: [(Activation, &dyn Fn(f64) -> f64); 2] =
        [(Activation::Relu, &|x: f64| x.max(0.0)), (Activation::GeluTanh, &gelu_tanh)];
    for (act, f) in cases {
        let ff = FeedForward::<f64>::new(4, 8, act, true, Init::Xavier, Init::Xavier, &mut rng_from_seed(6));
        randomize(&ff.named_parameters(), 0.7, 7);
        let x = randn(&[3, 4], 1.0, 8);
        let y = ff.forward(&Var::constant(x.clone())).value();
        let h = naive_linear(&rows(&x), &ff.fc.weight.value(), Some(&ff.fc.bias.as_ref().unwrap().value()));
        let h: Vec<Vec<f64>> = h.iter().map(|r| r.iter().map(|&v| f(v)).collect()).collect();
        let want = naive_linear(&h, &ff.proj.weight.value(), Some(&ff.proj.bias.as_ref().unwrap().value()));
        assert_close(&y.to_vec(), &flat(&want), 1e-12);
    }
}

/// Multi-head attention with loops: head `h` owns features `h*dh .. (h+1)*dh` of each projection
/// (PyTorch's and nanoGPT's split); `mask(i, j)` blocks query `i` from key `j`.
fn naive_mha(
    m: &MultiHeadAttention<f64>,
    xq: &Tensor<f64>,
    xkv: &Tensor<f64>,
    mask: impl Fn(usize, usize) -> bool,
) -> Vec<f64> {
    let (b, tq, d) = (xq.shape()[0], xq.shape()[1], xq.shape()[2]);
    let tk = xkv.shape()[1];
    let (nh, dh) = (m.n_head, d / m.n_head);
    let proj = |l: &Linear<f64>, x: &Tensor<f64>| {
        naive_linear(&rows(x), &l.weight.value(), l.bias.as_ref().map(|b| b.value()).as_ref())
    };
    let (q, k, v) = (proj(&m.q_proj, xq), proj(&m.k_proj, xkv), proj(&m.v_proj, xkv)); // rows (B*T, d)
    let mut concat = vec![vec![0.0; d]; b * tq];
    for bi in 0..b {
        for h in 0..nh {
            let f = h * dh..(h + 1) * dh;
            for i in 0..tq {
                let qi = &q[bi * tq + i][f.clone()];
                let scores: Vec<f64> = (0..tk)
                    .map(|j| {
                        let kj = &k[bi * tk + j][f.clone()];
                        if mask(i, j) {
                            f64::NEG_INFINITY
                        } else {
                            qi.iter().zip(kj).map(|(a, c)| a * c).sum::<f64>() / (dh as f64).sqrt()
                        }
                    })
                    .collect();
                let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for (c, out) in f.clone().zip(concat[bi * tq + i][f.clone()].iter_mut()) {
                    *out = (0..tk).map(|j| e[j] / z * v[bi * tk + j][c]).sum();
                }
            }
        }
    }
    flat(&naive_linear(&concat, &m.out_proj.weight.value(), m.out_proj.bias.as_ref().map(|b| b.value()).as_ref()))
}

#[test]
fn multi_head_attention_matches_naive() {
    let m = mha(8, 4, 9);
    randomize(&m.named_parameters(), 0.6, 10);
    let xq = randn(&[2, 3, 8], 1.0, 11);
    let xkv = randn(&[2, 5, 8], 1.0, 12);
    let (cross, _) = m.forward_cross(&Var::constant(xq.clone()), &Var::constant(xkv.clone()), None);
    assert_close(&cross.value().to_vec(), &naive_mha(&m, &xq, &xkv, |_, _| false), 1e-12);
    let (causal, _) = m.forward_self(&Var::constant(xq.clone()), Some(&causal_mask(3, 3)));
    assert_close(&causal.value().to_vec(), &naive_mha(&m, &xq, &xq, |i, j| j > i), 1e-12);
}

#[test]
fn block_residual_placement() {
    let x = randn(&[2, 3, 8], 1.0, 13);
    for norm in [NormPlacement::Post, NormPlacement::Pre] {
        let l =
            Block::<f64>::new(&layer_config(8, 2, 16, norm, Activation::Relu), &eval_state(), &mut rng_from_seed(14));
        randomize(&l.named_parameters(), 0.5, 15);
        let xv = Var::constant(x.clone());
        let got = l.forward(&xv, None).value();
        let want = match norm {
            // LN(x + Sublayer(x)), twice.
            NormPlacement::Post => {
                let h = l.ln_1.forward(&xv.add(&l.attn.forward_self(&xv, None).0));
                l.ln_2.forward(&h.add(&l.mlp.forward(&h)))
            }
            // x + Sublayer(LN(x)), twice.
            NormPlacement::Pre => {
                let a = l.ln_1.forward(&xv);
                let h = xv.add(&l.attn.forward_self(&a, None).0);
                h.add(&l.mlp.forward(&l.ln_2.forward(&h)))
            }
        };
        assert!(max_diff(&got, &want.value()) < 1e-12, "{norm:?}");
    }
}

#[test]
fn gpt_forward_and_loss_match_their_definition() {
    let config = GptConfig { vocab_size: 9, block_size: 4, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true };
    let gpt = Gpt::<f64>::new(config, 16);
    randomize(&gpt.named_parameters(), 0.4, 17);
    let ids = [1, 8, 3, 3, 0, 2, 7, 5];
    let targets = [8, 3, 3, 0, 2, 7, 5, 1];
    no_grad(|| {
        let logits = gpt.forward(&ids, [2, 4]).value();
        // tok + pos, pre-LN causal blocks, final LN, then the tied head: h @ wte^T.
        let wte = gpt.wte.weight.value();
        let tok = Tensor::from_vec(ids.iter().flat_map(|&i| wte.narrow(0, i, 1).to_vec()).collect(), &[2, 4, 8]);
        let mut h = Var::constant(tok).add(&Var::constant(gpt.wpe.weight.value()));
        for b in &gpt.blocks {
            h = b.forward(&h, Some(&causal_mask(4, 4)));
        }
        let h = gpt.ln_f.forward(&h).value();
        let want = naive_linear(&rows(&h), &wte, None);
        assert_close(&logits.to_vec(), &flat(&want), 1e-12);

        // Mean over positions of -log softmax(logits)[target].
        let nll: f64 = rows(&logits)
            .iter()
            .zip(targets)
            .map(|(r, t)| {
                let z: f64 = r.iter().map(|v| v.exp()).sum();
                z.ln() - r[t]
            })
            .sum::<f64>()
            / 8.0;
        assert!((gpt.loss(&ids, &targets, [2, 4]).item() - nll).abs() < 1e-12);
    });
}

#[test]
fn gpt_initialisation_follows_gpt2() {
    let config =
        GptConfig { vocab_size: 64, block_size: 32, n_layer: 4, n_head: 4, n_embd: 64, dropout: 0.0, bias: true };
    let gpt = Gpt::<f64>::new(config, 18);
    let std = |t: &Tensor<f64>| {
        let v = t.to_vec();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    for (name, p) in gpt.named_parameters() {
        let (v, s) = (p.value(), std(&p.value()));
        if name.ends_with("bias") {
            assert!(v.to_vec().iter().all(|&x| x == 0.0), "{name}");
        } else if name.contains("ln_") {
            assert!(v.to_vec().iter().all(|&x| x == 1.0), "{name}");
        } else if name.ends_with("out_proj.weight") || name.ends_with("mlp.proj.weight") {
            let want = 0.02 / (2.0 * 4.0f64).sqrt();
            assert!((s / want - 1.0).abs() < 0.1, "{name}: std {s}, want {want}");
        } else {
            assert!((s / 0.02 - 1.0).abs() < 0.1, "{name}: std {s}, want 0.02");
        }
    }
}
