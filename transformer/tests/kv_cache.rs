//! The KV cache: `Gpt::forward_cached`, fed the sequence one token at a time or in chunks, gives
//! the logits of `Gpt::forward` on the whole sequence.

mod common;

use autograd::no_grad;
use common::{max_diff, randomize};
use tensor::Tensor;
use transformer::{Gpt, GptConfig, Module};

const B: usize = 2;
const T: usize = 7;

fn model(bias: bool) -> Gpt<f64> {
    let config = GptConfig { vocab_size: 13, block_size: T, n_layer: 3, n_head: 2, n_embd: 8, dropout: 0.2, bias };
    let gpt = Gpt::new(config, 21);
    gpt.set_training(false);
    randomize(&gpt.named_parameters(), 0.4, 22); // O(1) weights so every position matters
    gpt
}

/// Columns `start..start + len` of the row-major `(B, T)` ids, row-major `(B, len)`.
fn columns(ids: &[usize], start: usize, len: usize) -> Vec<usize> {
    (0..B).flat_map(|b| ids[b * T + start..b * T + start + len].to_vec()).collect()
}

/// Logits fed through the cache in chunks of the given sizes, concatenated back to `(B, T, V)`.
fn cached_logits(gpt: &Gpt<f64>, ids: &[usize], chunks: &[usize]) -> Tensor<f64> {
    assert_eq!(chunks.iter().sum::<usize>(), T);
    no_grad(|| {
        let mut caches = gpt.new_caches();
        let mut start = 0;
        let mut parts = Vec::new();
        for &len in chunks {
            let out = gpt.forward_cached(&columns(ids, start, len), [B, len], &mut caches).value();
            assert_eq!(out.shape(), &[B, len, 13]);
            start += len;
            assert!(caches.iter().all(|c| c.len() == start));
            parts.push(out);
        }
        Tensor::concat(&parts.iter().collect::<Vec<_>>(), 1)
    })
}

#[test]
fn cached_generation_matches_the_full_forward() {
    for bias in [true, false] {
        let gpt = model(bias);
        let ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7];
        let full = no_grad(|| gpt.forward(&ids, [B, T]).value());
        for chunks in [&[1usize; T][..], &[2, 3, 1, 1], &[4, 3], &[T]] {
            let cached = cached_logits(&gpt, &ids, chunks);
            let err = max_diff(&cached, &full);
            assert!(err < 1e-10, "bias {bias}, chunks {chunks:?}: max |cached - full| = {err:e}");
        }
    }
}

#[test]
fn cache_rejects_positions_past_the_block() {
    let gpt = model(true);
    let mut caches = gpt.new_caches();
    no_grad(|| gpt.forward_cached(&columns(&[0; B * T], 0, T), [B, T], &mut caches));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        no_grad(|| gpt.forward_cached(&[0; B], [B, 1], &mut caches));
    }))
    .expect_err("a token past block_size must be refused");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.starts_with("layer 'Gpt': cached length 7 + 1 new tokens exceeds block_size 7"), "{msg}");
}

#[test]
fn in_training_one_cached_chunk_is_the_same_function_as_forward() {
    // Same dropout stream for both: the cached path must draw the same masks in the same order,
    // which holds only if it applies every dropout `forward` applies (embeddings included).
    let gpt = model(true);
    gpt.set_training(true);
    let ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7];
    let saved = gpt.dropout_state().rng().borrow().clone();
    let full = no_grad(|| gpt.forward(&ids, [B, T]).value());
    *gpt.dropout_state().rng().borrow_mut() = saved.clone();
    let cached = cached_logits(&gpt, &ids, &[T]);
    assert!(max_diff(&cached, &full) < 1e-10);
    // And the masks really are random: another draw gives other logits.
    let again = no_grad(|| gpt.forward(&ids, [B, T]).value());
    assert!(max_diff(&again, &full) > 1e-3);
}

#[test]
fn one_cache_per_block_is_required() {
    let gpt = model(true); // 3 blocks
    let mut caches = gpt.new_caches();
    assert_eq!(caches.len(), 3);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        no_grad(|| gpt.forward_cached(&[0; B], [B, 1], &mut caches[..2]));
    }))
    .expect_err("a missing cache must not silently skip a block");
    let msg = err.downcast_ref::<String>().unwrap();
    assert_eq!(msg, "layer 'Gpt': 2 KV caches given for 3 blocks");
}
