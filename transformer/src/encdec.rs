//! The encoder-decoder Transformer of "Attention Is All You Need".
//!
//! ```text
//! src (B, S) -> embed * sqrt(d) + PE -> dropout -> Encoder          -> memory (B, S, d)
//! tgt (B, T) -> embed * sqrt(d) + PE -> dropout -> Decoder(memory)  -> (B, T, d)
//!            -> linear -> logits (B, T, tgt_vocab)   (softmax gives next-token probabilities)
//! ```
//! The decoder's self-attention is causal; both attentions over the source ignore padded
//! source positions. Xavier-initialised, post-LN, ReLU feed-forward, as the paper.
//!
//! Generation runs the encoder once and then the decoder one position per step through a
//! [`DecodeState`]: each decoder layer's cross-attention keys and values are projected from the
//! memory once, and its self-attention keeps the keys and values of earlier target positions in
//! a [`KvCache`].

use std::rc::Rc;

use autograd::{Var, no_grad};
use tensor::{Float, Tensor, TensorRng, rng_from_seed};

use crate::attention::{causal_mask, padding_mask};
use crate::block::{Decoder, Encoder, LayerConfig, NormPlacement};
use crate::dropout::{Dropout, DropoutState};
use crate::embedding::Embedding;
use crate::feedforward::Activation;
use crate::linear::{Init, Linear};
use crate::mha::{CrossKv, KvCache};
use crate::module::{Module, prefixed};
use crate::positional::SinusoidalEncoding;

/// Hyperparameters of the encoder-decoder model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Source vocabulary size.
    pub src_vocab: usize,
    /// Target vocabulary size.
    pub tgt_vocab: usize,
    /// Model width (512 in the paper).
    pub d_model: usize,
    /// Attention heads (8 in the paper).
    pub n_head: usize,
    /// Feed-forward width (2048 in the paper).
    pub d_ff: usize,
    /// Encoder layers (6 in the paper).
    pub n_encoder_layers: usize,
    /// Decoder layers (6 in the paper).
    pub n_decoder_layers: usize,
    /// Longest sequence (rows of the positional table).
    pub max_len: usize,
    /// Dropout probability (0.1 in the paper).
    pub dropout: f64,
    /// Share the target embedding with the output layer (section 3.4).
    pub tie_weights: bool,
    /// Layer norm placement (post-LN in the paper).
    pub norm: NormPlacement,
}

/// The attention weights of one pass through an encoder-decoder model, one `(B, h, Tq, Tk)`
/// tensor per layer (from [`Transformer::forward_with_attention`] or
/// [`Transformer::attention_maps`]).
pub struct AttentionMaps<T: Float> {
    /// Encoder self-attention, `(B, h, S, S)` per layer.
    pub encoder: Vec<Tensor<T>>,
    /// Decoder (causal) self-attention, `(B, h, T, T)` per layer.
    pub decoder: Vec<Tensor<T>>,
    /// Decoder cross-attention over the source, `(B, h, T, S)` per layer.
    pub cross: Vec<Tensor<T>>,
}

/// The encoder-decoder model.
pub struct Transformer<T: Float> {
    /// The configuration it was built with.
    pub config: TransformerConfig,
    /// Source token embedding, scaled by sqrt(d).
    pub src_embed: Embedding<T>,
    /// Target token embedding, scaled by sqrt(d).
    pub tgt_embed: Embedding<T>,
    /// The fixed sinusoidal positions.
    pub positions: SinusoidalEncoding<T>,
    /// The encoder stack.
    pub encoder: Encoder<T>,
    /// The decoder stack.
    pub decoder: Decoder<T>,
    /// Output projection to target-vocabulary logits (absent when tied to `tgt_embed`).
    pub generator: Option<Linear<T>>,
    drop: Dropout,
    dropout_state: Rc<DropoutState>,
}

impl<T: Float> Transformer<T> {
    /// A model with Xavier-uniform weights.
    #[track_caller]
    pub fn new(config: TransformerConfig, seed: u64) -> Self {
        if config.n_head == 0 || !config.d_model.is_multiple_of(config.n_head) {
            tensor::layer_panic(
                "Transformer",
                format!("d_model {} is not divisible by n_head {}", config.d_model, config.n_head),
            );
        }
        let mut rng: TensorRng = rng_from_seed(seed);
        let state = DropoutState::new(seed ^ 0xd0d0);
        let c = LayerConfig {
            d_model: config.d_model,
            n_head: config.n_head,
            d_ff: config.d_ff,
            dropout: config.dropout,
            bias: true,
            activation: Activation::Relu,
            norm: config.norm,
            init: Init::Xavier,
            residual_init: Init::Xavier,
        };
        let d = config.d_model;
        // Embeddings drawn with std d^-1/2 so that, scaled by sqrt(d), inputs have unit scale.
        let emb_std = 1.0 / (d as f64).sqrt();
        let src_embed = Embedding::new(config.src_vocab, d, emb_std, &mut rng).scaled();
        let tgt_embed = Embedding::new(config.tgt_vocab, d, emb_std, &mut rng).scaled();
        let encoder = Encoder::new(config.n_encoder_layers, &c, &state, &mut rng);
        let decoder = Decoder::new(config.n_decoder_layers, &c, &state, &mut rng);
        let generator = (!config.tie_weights).then(|| Linear::new(d, config.tgt_vocab, true, Init::Xavier, &mut rng));
        Transformer {
            config,
            src_embed,
            tgt_embed,
            positions: SinusoidalEncoding::new(config.max_len, d),
            encoder,
            decoder,
            generator,
            drop: Dropout::new(config.dropout, &state),
            dropout_state: state,
        }
    }

    /// Switches dropout on (training) or off (evaluation).
    pub fn set_training(&self, training: bool) {
        self.dropout_state.set_training(training);
    }

    /// The shared dropout state (its RNG is part of a resumable checkpoint).
    pub fn dropout_state(&self) -> &Rc<DropoutState> {
        &self.dropout_state
    }

    /// Encodes `src (B, S)`; `src_pad` flags padded positions (row-major `(B, S)`).
    /// Returns the memory `(B, S, d)`.
    pub fn encode(&self, src: &[usize], shape: [usize; 2], src_pad: Option<&[bool]>) -> Var<T> {
        self.encode_with_attention(src, shape, src_pad).0
    }

    /// [`Transformer::encode`], also returning each encoder layer's weights `(B, h, S, S)`.
    fn encode_with_attention(
        &self,
        src: &[usize],
        shape: [usize; 2],
        src_pad: Option<&[bool]>,
    ) -> (Var<T>, Vec<Tensor<T>>) {
        let x = self.drop.forward(&self.positions.forward(&self.src_embed.forward(src, &shape), 0)); // (B, S, d)
        let mask = src_pad.map(|p| padding_mask::<T>(p, shape[0], shape[1])); // (B, 1, 1, S)
        self.encoder.forward_with_attention(&x, mask.as_ref())
    }

    /// Decodes `tgt (B, T)` against `memory (B, S, d)`; returns logits `(B, T, tgt_vocab)`.
    pub fn decode(&self, tgt: &[usize], shape: [usize; 2], memory: &Var<T>, src_pad: Option<&[bool]>) -> Var<T> {
        self.decode_with_attention(tgt, shape, memory, src_pad).0
    }

    /// [`Transformer::decode`], also returning each decoder layer's self-attention weights
    /// `(B, h, T, T)` and cross-attention weights `(B, h, T, S)`.
    fn decode_with_attention(
        &self,
        tgt: &[usize],
        shape: [usize; 2],
        memory: &Var<T>,
        src_pad: Option<&[bool]>,
    ) -> (Var<T>, Vec<Tensor<T>>, Vec<Tensor<T>>) {
        let x = self.drop.forward(&self.positions.forward(&self.tgt_embed.forward(tgt, &shape), 0)); // (B, T, d)
        let self_mask = causal_mask::<T>(shape[1], shape[1]); // (T, T)
        let s = memory.shape()[1];
        let memory_mask = src_pad.map(|p| padding_mask::<T>(p, shape[0], s)); // (B, 1, 1, S)
        let (h, self_maps, cross_maps) =
            self.decoder.forward_with_attention(&x, memory, Some(&self_mask), memory_mask.as_ref()); // (B, T, d)
        (self.output_layer(&h), self_maps, cross_maps)
    }

    /// `h: (B, T, d) -> logits (B, T, tgt_vocab)`: the generator, or `tgt_embed` when tied.
    fn output_layer(&self, h: &Var<T>) -> Var<T> {
        match &self.generator {
            Some(g) => g.forward(h),
            None => Linear::from_parameters(self.tgt_embed.weight.clone(), None).forward(h),
        }
    }

    /// Next-token probabilities `(B, T, tgt_vocab)` for teacher-forced `tgt` given `src`: the
    /// softmax over the target vocabulary that ends the model in the paper's Figure 1. Row `t` is
    /// the distribution of the target token after position `t`. Training uses the logits of
    /// [`Transformer::forward`] directly (the fused cross-entropy applies the log-softmax itself).
    pub fn probabilities(
        &self,
        src: &[usize],
        src_shape: [usize; 2],
        tgt: &[usize],
        tgt_shape: [usize; 2],
        src_pad: Option<&[bool]>,
    ) -> Var<T> {
        self.forward(src, src_shape, tgt, tgt_shape, src_pad).softmax(-1) // (B, T, tgt_vocab)
    }

    /// Logits `(B, T, tgt_vocab)` for teacher-forced decoding of `tgt` given `src`.
    pub fn forward(
        &self,
        src: &[usize],
        src_shape: [usize; 2],
        tgt: &[usize],
        tgt_shape: [usize; 2],
        src_pad: Option<&[bool]>,
    ) -> Var<T> {
        self.forward_with_attention(src, src_shape, tgt, tgt_shape, src_pad).0
    }

    /// [`Transformer::forward`], also returning every layer's attention weights (before dropout),
    /// the numbers the pass computed anyway.
    pub fn forward_with_attention(
        &self,
        src: &[usize],
        src_shape: [usize; 2],
        tgt: &[usize],
        tgt_shape: [usize; 2],
        src_pad: Option<&[bool]>,
    ) -> (Var<T>, AttentionMaps<T>) {
        let (memory, encoder) = self.encode_with_attention(src, src_shape, src_pad); // (B, S, d)
        let (logits, decoder, cross) = self.decode_with_attention(tgt, tgt_shape, &memory, src_pad); // (B, T, V)
        (logits, AttentionMaps { encoder, decoder, cross })
    }

    /// The attention weights of every layer for teacher-forced `tgt` given `src`, computed under
    /// `no_grad` when asked (for inspection and plots). Dropout follows the model's switch: call
    /// `set_training(false)` first.
    pub fn attention_maps(
        &self,
        src: &[usize],
        src_shape: [usize; 2],
        tgt: &[usize],
        tgt_shape: [usize; 2],
        src_pad: Option<&[bool]>,
    ) -> AttentionMaps<T> {
        no_grad(|| self.forward_with_attention(src, src_shape, tgt, tgt_shape, src_pad).1)
    }

    /// Greedy decoding under `no_grad`: starting from `start`, repeatedly appends the most likely
    /// next token until every sequence has produced `end` or `max_len` tokens were generated.
    /// Returns the generated tokens of each sequence (without `start`, cut after `end`).
    ///
    /// `src (B, S)` is row-major with `shape = [B, S]`; `src_pad` flags padded source positions.
    /// The encoder runs once and each step feeds only the newest token through a
    /// [`DecodeState`], so a step costs one position of decoder work. Dropout follows the
    /// model's switch, as in [`Transformer::decode`]: call `set_training(false)` first.
    /// [`Transformer::greedy_decode_uncached`] is the reference it is tested against.
    pub fn greedy_decode(
        &self,
        src: &[usize],
        shape: [usize; 2],
        src_pad: Option<&[bool]>,
        start: usize,
        end: usize,
        max_len: usize,
    ) -> Vec<Vec<usize>> {
        no_grad(|| {
            let mut state = DecodeState::new(self, src, shape, src_pad);
            greedy(shape[0], start, end, max_len, |seqs| {
                let newest: Vec<usize> = seqs.iter().map(|s| *s.last().expect("starts with `start`")).collect();
                state.step(self, &newest).argmax(-1, false) // (B)
            })
        })
    }

    /// Greedy decoding without a cache, the reference for [`Transformer::greedy_decode`]: the
    /// same arguments and result, but every step decodes the whole target prefix again (step `t`
    /// costs `t` positions of decoder work and reprojects the memory in every cross-attention).
    /// Kept for tests and for reading: it is [`Transformer::decode`] in a loop.
    pub fn greedy_decode_uncached(
        &self,
        src: &[usize],
        shape: [usize; 2],
        src_pad: Option<&[bool]>,
        start: usize,
        end: usize,
        max_len: usize,
    ) -> Vec<Vec<usize>> {
        let b = shape[0];
        no_grad(|| {
            let memory = self.encode(src, shape, src_pad);
            greedy(b, start, end, max_len, |seqs| {
                let t = seqs[0].len();
                let flat: Vec<usize> = seqs.iter().flatten().copied().collect();
                let logits = self.decode(&flat, [b, t], &memory, src_pad).value(); // (B, t, V)
                logits.narrow(1, t - 1, 1).argmax(-1, false) // (B, 1)
            })
        })
    }
}

/// The loop of greedy decoding for `b` sequences: starting from `start`, appends to each sequence
/// the token `next(sequences)` gives it (one per sequence, as the indices of a tensor's argmax)
/// until every sequence has produced `end` or `max_len` tokens were generated. Returns the
/// generated tokens of each sequence, without `start`, cut after `end`.
fn greedy<T: Float>(
    b: usize,
    start: usize,
    end: usize,
    max_len: usize,
    mut next: impl FnMut(&[Vec<usize>]) -> Tensor<T>,
) -> Vec<Vec<usize>> {
    let mut seqs: Vec<Vec<usize>> = vec![vec![start]; b];
    for _ in 0..max_len {
        let tokens = next(&seqs).to_vec(); // (B), or (B, 1)
        for (s, n) in seqs.iter_mut().zip(tokens) {
            s.push(n.to_f64() as usize);
        }
        if seqs.iter().all(|s| s[1..].contains(&end)) {
            break;
        }
    }
    cut_after_end(seqs, end)
}

/// Each sequence without its leading start token, cut right after its first `end`.
fn cut_after_end(seqs: Vec<Vec<usize>>, end: usize) -> Vec<Vec<usize>> {
    seqs.into_iter()
        .map(|s| {
            let generated = &s[1..];
            match generated.iter().position(|&x| x == end) {
                Some(p) => generated[..=p].to_vec(),
                None => generated.to_vec(),
            }
        })
        .collect()
}

/// The state of cached decoding for a batch of `B` target rows: everything a decoding step of a
/// [`Transformer`] needs besides the newest tokens, so a step costs one position of decoder work.
///
/// It holds, for each of the `L` decoder layers,
/// - the cross-attention keys and values over the encoder's memory, [`CrossKv`]
///   `(B, h, S, d_head)`, projected once when the state is made;
/// - the self-attention [`KvCache`], `(B, h, position, d_head)`, one position longer after each
///   step;
///
/// and the source padding flags `(B, S)` (with their mask `(B, 1, 1, S)`) and the position of
/// the next token. Row `i` of every one of these belongs to target row `i`.
///
/// Decoding: [`DecodeState::new`] encodes the source; then each [`DecodeState::step`] takes the
/// newest token of each row, `(B)` (the start token first), and returns the logits `(B, tgt_vocab)`
/// of the token that follows it. [`DecodeState::reorder`] selects, permutes or duplicates rows
/// between steps (beam search).
///
/// The logits equal those of [`Transformer::decode`] at the last position of the whole prefix
/// (tested to 1e-10 in f64). Use the state with the model that made it. Dropout follows the
/// model's switch as in `decode`: call `set_training(false)` before decoding.
///
/// ```
/// use transformer::{DecodeState, NormPlacement, Transformer, TransformerConfig};
/// let config = TransformerConfig {
///     src_vocab: 9, tgt_vocab: 7, d_model: 8, n_head: 2, d_ff: 16, n_encoder_layers: 1,
///     n_decoder_layers: 2, max_len: 10, dropout: 0.1, tie_weights: false, norm: NormPlacement::Post,
/// };
/// let model = Transformer::<f64>::new(config, 0);
/// model.set_training(false);
/// let src = [1, 2, 3, 4, 5, 0]; // (B, S) = (2, 3); the last source token of row 1 is padding
/// let pad = [false, false, false, false, false, true];
/// let mut state = DecodeState::new(&model, &src, [2, 3], Some(&pad));
/// let logits = state.step(&model, &[0, 0]); // start token 0 in both rows -> (B, tgt_vocab)
/// assert_eq!(logits.shape(), &[2, 7]);
/// state.reorder(&[1, 1, 0]); // three rows now: two copies of row 1, then row 0
/// let logits = state.step(&model, &[4, 5, 6]); // each copy continues with its own token
/// assert_eq!((logits.shape(), state.batch(), state.position()), (&[3, 7][..], 3, 2));
/// ```
#[derive(Clone)]
pub struct DecodeState<T: Float> {
    /// Per decoder layer: cross-attention keys and values `(B, h, S, d_head)`.
    memory_kv: Vec<CrossKv<T>>,
    /// Per decoder layer: self-attention keys and values `(B, h, position, d_head)`.
    caches: Vec<KvCache<T>>,
    /// Source padding flags, row-major `(B, S)`.
    src_pad: Option<Vec<bool>>,
    /// `padding_mask(src_pad)`, `(B, 1, 1, S)`.
    memory_mask: Option<Tensor<T>>,
    batch: usize,
    src_len: usize,
    position: usize,
}

impl<T: Float> DecodeState<T> {
    /// Encodes `src (B, S)` (row-major, `shape = [B, S]`; `src_pad` flags padded positions,
    /// row-major `(B, S)`) under `no_grad` and projects each decoder layer's cross-attention keys
    /// and values from the memory. The state starts at position 0: the first
    /// [`DecodeState::step`] takes the start tokens.
    pub fn new(model: &Transformer<T>, src: &[usize], shape: [usize; 2], src_pad: Option<&[bool]>) -> Self {
        no_grad(|| {
            let memory = model.encode(src, shape, src_pad); // (B, S, d)
            DecodeState::from_memory(model, &memory, src_pad)
        })
    }

    /// A state decoding against an existing `memory: (B, S, d)` (from [`Transformer::encode`]);
    /// `src_pad` flags padded source positions, row-major `(B, S)`.
    ///
    /// # Panics
    /// If `memory` is not `(B, S, d_model)` or `src_pad` does not hold `B * S` flags.
    #[track_caller]
    pub fn from_memory(model: &Transformer<T>, memory: &Var<T>, src_pad: Option<&[bool]>) -> Self {
        let m = memory.shape();
        if m.len() != 3 || m[2] != model.config.d_model {
            tensor::layer_panic(
                "DecodeState::from_memory",
                format!("memory {m:?} is not (B, S, d_model) with d_model = {}", model.config.d_model),
            );
        }
        let (b, s) = (m[0], m[1]);
        if let Some(p) = src_pad.filter(|p| p.len() != b * s) {
            tensor::layer_panic(
                "DecodeState::from_memory",
                format!("{} source padding flags for memory {m:?}, which needs (B, S) = {}", p.len(), b * s),
            );
        }
        let memory_kv = no_grad(|| model.decoder.project_memory(memory)); // L x (B, h, S, dh)
        DecodeState {
            memory_kv,
            caches: vec![KvCache::new(); model.decoder.layers.len()],
            src_pad: src_pad.map(<[bool]>::to_vec),
            memory_mask: src_pad.map(|p| padding_mask::<T>(p, b, s)), // (B, 1, 1, S)
            batch: b,
            src_len: s,
            position: 0,
        }
    }

    /// One decoding step under `no_grad`: `tokens (B)` holds the newest target token of each
    /// row (at the first step, the start token), which sits at position [`DecodeState::position`].
    /// Embeds it, adds the positional encoding of that position, runs every decoder layer on this
    /// one position (appending its keys and values to the layer's cache, reading the memory's
    /// cached keys and values) and returns the logits `(B, tgt_vocab)` of the token that follows.
    /// The position then advances by one.
    ///
    /// # Panics
    /// If `tokens` does not hold one token per row, a token is outside the target vocabulary,
    /// the position would reach the model's `max_len`, or the state was made by a model with
    /// another number of decoder layers.
    #[track_caller]
    pub fn step(&mut self, model: &Transformer<T>, tokens: &[usize]) -> Tensor<T> {
        let b = self.batch;
        if tokens.len() != b {
            tensor::layer_panic(
                "DecodeState::step",
                format!("{} tokens given (shape [{}]) for a batch of shape [{b}]", tokens.len(), tokens.len()),
            );
        }
        if self.position >= model.positions.max_len() {
            tensor::layer_panic(
                "DecodeState::step",
                format!("position {} is past the model's max_len {}", self.position, model.positions.max_len()),
            );
        }
        let logits = no_grad(|| {
            let x = model.tgt_embed.forward(tokens, &[b, 1]); // (B, 1, d)
            let x = model.drop.forward(&model.positions.forward(&x, self.position)); // (B, 1, d)
            let h = model.decoder.forward_cached(&x, &mut self.caches, &self.memory_kv, self.memory_mask.as_ref());
            model.output_layer(&h).value() // (B, 1, tgt_vocab)
        });
        self.position += 1;
        logits.reshape(&[b, model.config.tgt_vocab]) // (B, tgt_vocab)
    }

    /// Keeps rows `rows` of the batch, in that order, in every part of the state: afterwards row
    /// `i` is what row `rows[i]` was (its self-attention caches `(B, h, position, d_head)` of every
    /// layer, its cross-attention keys and values `(B, h, S, d_head)`, its source padding flags),
    /// and the batch is `rows.len()`. Rows may repeat (a beam continued with two tokens) or be
    /// left out (a beam dropped). The position is unchanged; the next [`DecodeState::step`] takes
    /// `rows.len()` tokens, the one for new row `i` continuing old row `rows[i]`.
    ///
    /// This is the primitive of beam search: with `k` beams per source sentence, keep beam `j` of
    /// sentence `n` in row `n k + j`; after scoring, `rows[n k + j]` is the row whose sequence the
    /// new beam `j` extends. Copies the selected rows (`O(B L (position + S) d)`).
    ///
    /// # Panics
    /// If `rows` is empty or names a row outside the batch.
    #[track_caller]
    pub fn reorder(&mut self, rows: &[usize]) {
        if rows.is_empty() {
            tensor::layer_panic("DecodeState::reorder", format!("no rows given for a batch of shape [{}]", self.batch));
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.batch) {
            tensor::layer_panic(
                "DecodeState::reorder",
                format!("row {bad} in rows {rows:?} is outside the batch of shape [{}]", self.batch),
            );
        }
        for kv in &mut self.memory_kv {
            kv.reorder(rows); // (rows.len(), h, S, dh)
        }
        for cache in &mut self.caches {
            cache.reorder(rows); // (rows.len(), h, position, dh)
        }
        let s = self.src_len;
        if let Some(pad) = &self.src_pad {
            let pad: Vec<bool> = rows.iter().flat_map(|&r| pad[r * s..(r + 1) * s].iter().copied()).collect();
            self.memory_mask = Some(padding_mask::<T>(&pad, rows.len(), s)); // (rows.len(), 1, 1, S)
            self.src_pad = Some(pad);
        }
        self.batch = rows.len();
    }

    /// The number of rows `B`.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The source length `S`.
    pub fn src_len(&self) -> usize {
        self.src_len
    }

    /// The position of the token the next [`DecodeState::step`] takes: the number of steps so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The source padding flags, row-major `(B, S)`, if the source was padded.
    pub fn src_pad(&self) -> Option<&[bool]> {
        self.src_pad.as_deref()
    }

    /// Each decoder layer's cross-attention keys and values over the memory, `(B, h, S, d_head)`,
    /// computed once when the state was made.
    pub fn memory_kv(&self) -> &[CrossKv<T>] {
        &self.memory_kv
    }

    /// Each decoder layer's self-attention cache, `(B, h, position, d_head)`.
    pub fn caches(&self) -> &[KvCache<T>] {
        &self.caches
    }
}

impl<T: Float> Module<T> for Transformer<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("src_embed", self.src_embed.named_parameters());
        v.extend(prefixed("tgt_embed", self.tgt_embed.named_parameters()));
        v.extend(prefixed("encoder", self.encoder.named_parameters()));
        v.extend(prefixed("decoder", self.decoder.named_parameters()));
        if let Some(g) = &self.generator {
            v.extend(prefixed("generator", g.named_parameters()));
        }
        v
    }
}
