//! Cached decoding of the encoder-decoder: `DecodeState::step`, fed one token per row at a time,
//! gives the logits of `Transformer::decode` on the whole prefix; `greedy_decode` (cached) and
//! `greedy_decode_uncached` write the same tokens; `reorder` equals decoding the reordered batch
//! from scratch; the memory's cross-attention keys and values are computed once.

mod common;

use autograd::no_grad;
use common::{max_diff, randomize};
use tensor::Tensor;
use transformer::{DecodeState, Module, NormPlacement, Transformer, TransformerConfig};

const B: usize = 3;
const S: usize = 5;
const V: usize = 11;
const MAX_LEN: usize = 9;

/// Source `(B, S)`: row 0 unpadded, row 1 with two padding positions, row 2 with four.
const SRC: [usize; B * S] = [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 9, 0, 0, 0, 0];
const PAD: [bool; B * S] =
    [false, false, false, false, false, false, false, false, true, true, false, true, true, true, true];

fn config(norm: NormPlacement, tie_weights: bool) -> TransformerConfig {
    TransformerConfig {
        src_vocab: 10,
        tgt_vocab: V,
        d_model: 8,
        n_head: 2,
        d_ff: 16,
        n_encoder_layers: 2,
        n_decoder_layers: 3,
        max_len: MAX_LEN,
        dropout: 0.3,
        tie_weights,
        norm,
    }
}

/// An evaluation-mode f64 model with O(1) weights, so every position and source token matters.
fn model(norm: NormPlacement, tie_weights: bool) -> Transformer<f64> {
    let m = Transformer::new(config(norm, tie_weights), 5);
    m.set_training(false);
    randomize(&m.named_parameters(), 0.5, 6);
    m
}

/// The four configurations: post-LN and pre-LN, with and without a separate generator.
fn configurations() -> Vec<(NormPlacement, bool)> {
    vec![
        (NormPlacement::Post, false),
        (NormPlacement::Post, true),
        (NormPlacement::Pre, false),
        (NormPlacement::Pre, true),
    ]
}

/// Uncached reference: logits `(B, tgt_vocab)` of the last position of `prefixes` (one per row,
/// all of one length), decoded from scratch against `src (rows, S)`.
fn reference_logits(m: &Transformer<f64>, src: &[usize], pad: &[bool], prefixes: &[Vec<usize>]) -> Tensor<f64> {
    let (b, t) = (prefixes.len(), prefixes[0].len());
    let flat: Vec<usize> = prefixes.iter().flatten().copied().collect();
    let logits = no_grad(|| m.forward(src, [b, S], &flat, [b, t], Some(pad)).value()); // (B, t, V)
    logits.narrow(1, t - 1, 1).reshape(&[b, V])
}

/// The index of the largest logit of each row of `(B, V)`.
fn argmax_rows(logits: &Tensor<f64>) -> Vec<usize> {
    logits.argmax(-1, false).to_vec().into_iter().map(|x| x as usize).collect()
}

#[test]
fn every_cached_step_gives_the_uncached_logits() {
    for (norm, tie) in configurations() {
        let m = model(norm, tie);
        let mut state = DecodeState::new(&m, &SRC, [B, S], Some(&PAD));
        assert_eq!((state.batch(), state.src_len(), state.position()), (B, S, 0));
        // Greedy from start token 0, except row 1 is forced along fixed tokens (any prefix works).
        let mut prefixes: Vec<Vec<usize>> = vec![vec![0]; B];
        for t in 0..MAX_LEN {
            let newest: Vec<usize> = prefixes.iter().map(|p| *p.last().unwrap()).collect();
            let cached = state.step(&m, &newest);
            assert_eq!(cached.shape(), &[B, V]);
            assert_eq!(state.position(), t + 1);
            assert!(state.caches().iter().all(|c| c.len() == t + 1));
            let want = reference_logits(&m, &SRC, &PAD, &prefixes);
            let err = max_diff(&cached, &want);
            assert!(err < 1e-10, "{norm:?}, tie {tie}, step {t}: max |cached - uncached| = {err:e}");
            let next = argmax_rows(&cached);
            for (row, p) in prefixes.iter_mut().enumerate() {
                p.push(if row == 1 { (3 * t + 2) % V } else { next[row] });
            }
        }
    }
}

#[test]
fn cached_and_uncached_greedy_decoding_write_the_same_tokens() {
    // Untrained models often settle on repeating one token; at least one must not, or the
    // comparison says little.
    let mut varied = 0;
    for (norm, tie) in configurations() {
        let m = model(norm, tie);
        for pad in [Some(&PAD[..]), None] {
            // An end token outside the vocabulary: every row runs to max_len.
            let full = m.greedy_decode(&SRC, [B, S], pad, 0, V, MAX_LEN);
            assert_eq!(full, m.greedy_decode_uncached(&SRC, [B, S], pad, 0, V, MAX_LEN), "{norm:?}, tie {tie}");
            assert!(full.iter().all(|s| s.len() == MAX_LEN));
            if full.iter().flatten().any(|&x| x != full[0][0]) {
                varied += 1;
            }
            // The token row 0 writes sixth as the end token: rows may stop at different steps.
            let end = full[0][5];
            let cut = m.greedy_decode(&SRC, [B, S], pad, 0, end, MAX_LEN);
            assert_eq!(cut, m.greedy_decode_uncached(&SRC, [B, S], pad, 0, end, MAX_LEN), "{norm:?}, tie {tie}");
            assert!(cut[0].len() <= 6 && cut[0].last() == Some(&end));
        }
    }
    assert!(varied > 0, "every configuration repeats one token");
}

#[test]
fn greedy_decoding_in_f32_matches_too() {
    let m = Transformer::<f32>::new(config(NormPlacement::Post, false), 5);
    m.set_training(false);
    let cached = m.greedy_decode(&SRC, [B, S], Some(&PAD), 0, 10, MAX_LEN);
    assert_eq!(cached, m.greedy_decode_uncached(&SRC, [B, S], Some(&PAD), 0, 10, MAX_LEN));
}

/// Rows `rows` of a row-major `(B, S)` array.
fn select<X: Copy>(a: &[X], rows: &[usize]) -> Vec<X> {
    rows.iter().flat_map(|&r| a[r * S..(r + 1) * S].to_vec()).collect()
}

#[test]
fn reorder_with_repeated_rows_equals_decoding_the_reordered_batch_from_scratch() {
    for (norm, tie) in configurations() {
        let m = model(norm, tie);
        let mut state = DecodeState::new(&m, &SRC, [B, S], Some(&PAD));
        // Row r of `origin` is the original source row of the current row r.
        let mut origin: Vec<usize> = (0..B).collect();
        let mut prefixes: Vec<Vec<usize>> = vec![vec![0]; B];
        // Before steps 2 and 5, as beam search would: drop a row, repeat one, permute.
        let reorders: [(usize, &[usize]); 2] = [(2, &[2, 0, 0, 1]), (5, &[3, 3, 1, 0, 2])];
        for t in 0..7 {
            if let Some((_, rows)) = reorders.iter().find(|(at, _)| *at == t) {
                state.reorder(rows);
                origin = rows.iter().map(|&r| origin[r]).collect();
                prefixes = rows.iter().map(|&r| prefixes[r].clone()).collect();
                assert_eq!((state.batch(), state.position()), (rows.len(), t));
                assert_eq!(state.src_pad().unwrap(), &select(&PAD, &origin)[..]);
                assert!(state.memory_kv().iter().all(|kv| kv.batch() == rows.len()));
            }
            // Each row continues with its own token, so repeated rows part ways.
            for (r, p) in prefixes.iter_mut().enumerate().filter(|_| t > 0) {
                p.push((5 * r + 2 * t + 1) % V);
            }
            let newest: Vec<usize> = prefixes.iter().map(|p| *p.last().unwrap()).collect();
            let cached = state.step(&m, &newest);
            let want = reference_logits(&m, &select(&SRC, &origin), &select(&PAD, &origin), &prefixes);
            let err = max_diff(&cached, &want);
            assert!(err < 1e-10, "{norm:?}, tie {tie}, step {t}, rows {origin:?}: max |cached - scratch| = {err:e}");
        }
        assert_eq!(origin, [1, 1, 0, 2, 0]);
    }
}

#[test]
fn the_memory_keys_and_values_are_computed_once() {
    let m = model(NormPlacement::Post, false);
    let tokens = [[0, 0, 0], [4, 2, 7], [1, 9, 3], [6, 6, 5]];
    let prefix = |t: usize| -> Vec<Vec<usize>> { (0..B).map(|r| (0..=t).map(|i| tokens[i][r]).collect()).collect() };
    // The reference logits of every step, with the weights the state was made with.
    let want: Vec<Tensor<f64>> = (0..tokens.len()).map(|t| reference_logits(&m, &SRC, &PAD, &prefix(t))).collect();

    let mut state = DecodeState::new(&m, &SRC, [B, S], Some(&PAD));
    let first: Vec<(Tensor<f64>, Tensor<f64>)> =
        state.memory_kv().iter().map(|kv| (kv.keys().clone(), kv.values().clone())).collect();
    assert_eq!(first.len(), 3);
    assert_eq!(first[0].0.shape(), &[B, 2, S, 4]); // (B, h, S, d_head)
    assert!(max_diff(&state.step(&m, &tokens[0]), &want[0]) < 1e-10);

    // Now change the encoder and every cross-attention key and value projection. A step that
    // encoded the source or projected the memory again would see the new weights.
    let mut changed = m.encoder.named_parameters();
    for layer in &m.decoder.layers {
        changed.extend(layer.cross_attn.k_proj.named_parameters());
        changed.extend(layer.cross_attn.v_proj.named_parameters());
    }
    randomize(&changed, 0.5, 99);
    let moved = max_diff(&reference_logits(&m, &SRC, &PAD, &prefix(3)), &want[3]);
    assert!(moved > 1e-3, "the new weights must change the uncached logits (moved {moved:e})");

    for t in 1..tokens.len() {
        let err = max_diff(&state.step(&m, &tokens[t]), &want[t]);
        assert!(err < 1e-10, "step {t}: the cached step did not use the keys and values of the old memory ({err:e})");
    }
    // And they are the very tensors made at the start, not copies of them.
    for (kv, (k, v)) in state.memory_kv().iter().zip(&first) {
        assert!(kv.keys().shares_storage_with(k) && kv.values().shares_storage_with(v));
    }
}

#[test]
fn decode_state_from_memory_equals_new() {
    let m = model(NormPlacement::Pre, false);
    let memory = no_grad(|| m.encode(&SRC, [B, S], Some(&PAD)));
    let mut a = DecodeState::from_memory(&m, &memory, Some(&PAD));
    let mut b = DecodeState::new(&m, &SRC, [B, S], Some(&PAD));
    for tokens in [[0, 0, 0], [3, 1, 4]] {
        assert_eq!(a.step(&m, &tokens).to_vec(), b.step(&m, &tokens).to_vec());
    }
}

/// The panic message of `f`.
fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("should panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

#[test]
fn misuse_panics_naming_the_layer_and_shapes() {
    let m = model(NormPlacement::Post, true);
    let mut state = DecodeState::new(&m, &SRC, [B, S], Some(&PAD));
    let msg = panic_message(|| {
        state.step(&m, &[0, 0]);
    });
    assert!(msg.starts_with("layer 'DecodeState::step'") && msg.contains("[2]") && msg.contains("[3]"), "{msg}");
    let msg = panic_message(|| state.clone().reorder(&[0, 3]));
    assert!(msg.starts_with("layer 'DecodeState::reorder'") && msg.contains("row 3"), "{msg}");
    let msg = panic_message(|| state.clone().reorder(&[]));
    assert!(msg.starts_with("layer 'DecodeState::reorder'"), "{msg}");
    let msg = panic_message(|| {
        DecodeState::new(&m, &SRC, [B, S], Some(&PAD[..4]));
    });
    assert!(msg.contains("padding"), "{msg}");
    // Past max_len.
    for _ in 0..MAX_LEN {
        state.step(&m, &[1, 2, 3]);
    }
    let msg = panic_message(|| {
        state.step(&m, &[1, 2, 3]);
    });
    assert!(msg.contains("DecodeState::step") && msg.contains("max_len"), "{msg}");
    // Cross keys and values of another batch size.
    let layer = &m.decoder.layers[0];
    let kv = no_grad(|| layer.cross_attn.project_kv(&m.encode(&SRC, [B, S], None)));
    let x = autograd::Var::constant(Tensor::<f64>::zeros(&[2, 1, 8]));
    let msg = panic_message(|| {
        layer.cross_attn.forward_kv(&x, &kv, None);
    });
    assert!(msg.starts_with("layer 'MultiHeadAttention::forward_kv'"), "{msg}");
    assert!(msg.contains("[2, 1, 8]") && msg.contains("[3, 2, 5, 4]"), "{msg}");
}
