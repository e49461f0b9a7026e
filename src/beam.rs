//! Beam search: keep the `width` most likely partial outputs instead of one, and return the most
//! likely complete one.
//!
//! Greedy decoding picks the single most likely next token at every step, which can miss the most
//! likely *sequence*: a first token of probability 0.6 whose every continuation has probability
//! 0.1 (0.06 in all) loses to a first token of 0.4 followed by one of 0.9 (0.36), but greedy never
//! looks past the 0.6. Beam search keeps `width` candidates ("beams"), scored by the sum of their
//! tokens' log-probabilities; at each step it extends every beam by every token and keeps the
//! `width` best extensions. Width 1 is greedy decoding.
//!
//! ```text
//! beams = [(score 0, [])]
//! repeat max_new_tokens times (or until every beam has ended):
//!     candidates = { (score + log p(token | beam), beam + [token]) for each beam, each token }
//!     beams      = the `width` best candidates (a beam that produced `end` is kept as it is)
//! return the best beam
//! ```
//!
//! [`beam_search`] is generic over the decoder's state, so one function serves the GPT (a
//! [`CachedContext`] per beam) and any other model that can say, from a state, the logits of the
//! next token. Scores are not normalised by length: for the fixed-length answers of the built-in
//! tasks that is exact; for free text, longer outputs are penalised.

use crate::sample::CachedContext;

/// A finished search: the best sequence and its total log-probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Beam {
    /// The generated tokens (after the prompt), including `end` if it was produced.
    pub tokens: Vec<usize>,
    /// The sum of the tokens' log-probabilities (natural log).
    pub log_prob: f64,
}

/// `log_softmax` of one row of logits, in f64.
pub fn log_probs(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f64::NEG_INFINITY, |m, &l| m.max(f64::from(l)));
    let log_sum = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum::<f64>().ln() + max;
    logits.iter().map(|&l| f64::from(l) - log_sum).collect()
}

/// Searches `width` beams for up to `max_new_tokens` tokens from the decoder state `start`.
///
/// - `logits(&state)` gives the next-token logits `(vocab)` after the state's tokens;
/// - `push(&mut state, token)` advances a state by one token (never after the last token).
///
/// A beam that produces `end` stops growing and keeps its score; the search stops early when
/// every kept beam has ended. Ties between equal scores go to the lower token id and the earlier
/// beam, so the result is deterministic.
///
/// ```
/// use gradlab::beam::beam_search;
/// // A toy model over 3 tokens whose state is the sequence so far: token 0 first (p 0.6), then
/// // anything uniformly; or token 1 first (p 0.4), then token 2 (p 0.9).
/// let logits = |seq: &Vec<usize>| -> Vec<f32> {
///     let p: [f32; 3] = match seq.first() {
///         None => [0.6, 0.4, 0.0],
///         Some(0) => [1.0 / 3.0; 3],
///         _ => [0.05, 0.05, 0.9],
///     };
///     p.iter().map(|p| p.ln()).collect()
/// };
/// let push = |seq: &mut Vec<usize>, t: usize| seq.push(t);
/// let greedy = beam_search(Vec::new(), logits, push, 1, 2, None);
/// let beam = beam_search(Vec::new(), logits, push, 2, 2, None);
/// assert_eq!(greedy.tokens[0], 0); // 0.6 * 1/3 = 0.2
/// assert_eq!(beam.tokens, vec![1, 2]); // 0.4 * 0.9 = 0.36
/// assert!(beam.log_prob > greedy.log_prob);
/// ```
///
/// # Panics
/// If `width` is 0, or the logits of a step are empty.
#[track_caller]
pub fn beam_search<S: Clone>(
    start: S,
    logits: impl Fn(&S) -> Vec<f32>,
    push: impl Fn(&mut S, usize),
    width: usize,
    max_new_tokens: usize,
    end: Option<usize>,
) -> Beam {
    if width == 0 {
        tensor::op_panic("beam_search", "the beam width must be at least 1".into());
    }
    // (score, tokens, state, ended)
    let mut beams: Vec<(f64, Vec<usize>, S, bool)> = vec![(0.0, Vec::new(), start, false)];
    for step in 0..max_new_tokens {
        // After the last token nothing more is asked of a state: don't advance it (a decoder may
        // have no room for one more position).
        let more = step + 1 < max_new_tokens;
        if beams.iter().all(|b| b.3) {
            break;
        }
        // Every extension of every live beam, plus each ended beam as it is: (score, beam, token).
        let mut candidates: Vec<(f64, usize, Option<usize>)> = Vec::new();
        for (i, (score, _, state, ended)) in beams.iter().enumerate() {
            if *ended {
                candidates.push((*score, i, None));
                continue;
            }
            let row = logits(state);
            if row.is_empty() {
                tensor::op_panic("beam_search", "the model gave empty logits".into());
            }
            for (token, lp) in log_probs(&row).into_iter().enumerate() {
                if lp > f64::NEG_INFINITY {
                    candidates.push((score + lp, i, Some(token)));
                }
            }
        }
        // Best first; the sort is stable, so equal scores keep beam order, then token order.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        candidates.truncate(width);
        beams = candidates
            .into_iter()
            .map(|(score, i, token)| {
                let (_, tokens, state, _) = &beams[i];
                match token {
                    None => (score, tokens.clone(), state.clone(), true),
                    Some(t) => {
                        let mut tokens = tokens.clone();
                        tokens.push(t);
                        let ended = Some(t) == end;
                        let mut state = state.clone();
                        if !ended && more {
                            push(&mut state, t);
                        }
                        (score, tokens, state, ended)
                    }
                }
            })
            .collect();
    }
    let (log_prob, tokens, _, _) = beams.into_iter().next().expect("width >= 1 keeps at least one beam");
    Beam { tokens, log_prob }
}

/// Beam search for the GPT: continues `prompt` by up to `max_new_tokens` tokens with `width`
/// beams, each a [`CachedContext`] (its own KV cache). Dropout should be off
/// (`model.set_training(false)`).
///
/// # Panics
/// On an empty prompt, a token id outside the vocabulary, or `width` 0.
#[track_caller]
pub fn beam_search_gpt(
    model: &transformer::Gpt<f32>,
    prompt: &[usize],
    width: usize,
    max_new_tokens: usize,
    end: Option<usize>,
) -> Beam {
    let start = CachedContext::new(model, prompt);
    beam_search(start, |ctx| ctx.logits().to_vec(), |ctx, t| ctx.push(t), width, max_new_tokens, end)
}

/// Beam search for the encoder-decoder: decodes `src` (one sequence of token ids) from the start
/// token `start` for up to `max_len` tokens with `width` beams, stopping a beam at `end`. The
/// encoder runs once; each beam is a [`transformer::DecodeState`] (its own self-attention caches,
/// the cross-attention keys and values shared until a beam changes them). Dropout should be off
/// (`model.set_training(false)`).
///
/// # Panics
/// If `src` is empty, holds an id outside the source vocabulary, or `width` is 0.
#[track_caller]
pub fn beam_search_encdec(
    model: &transformer::Transformer<f32>,
    src: &[usize],
    start: usize,
    end: Option<usize>,
    width: usize,
    max_len: usize,
) -> Beam {
    /// A beam's decoder state and the logits of its next token.
    #[derive(Clone)]
    struct State {
        decode: transformer::DecodeState<f32>,
        next: Vec<f32>,
    }
    let mut decode = transformer::DecodeState::new(model, src, [1, src.len()], None);
    let next = autograd::no_grad(|| decode.step(model, &[start])).to_vec(); // (1, tgt_vocab)
    beam_search(
        State { decode, next },
        |s| s.next.clone(),
        |s, t| s.next = autograd::no_grad(|| s.decode.step(model, &[t])).to_vec(),
        width,
        max_len,
        end,
    )
}
