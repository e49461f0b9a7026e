//! Multi-head attention, for self-attention (queries, keys and values from one sequence) and
//! cross-attention (queries from the decoder, keys and values from the encoder output).
//!
//! `MultiHead(Xq, Xkv) = Concat(head_1, ..., head_h) W_O^T`, `head_i = Attention(Xq W_Qi, Xkv W_Ki, Xkv W_Vi)`.
//!
//! The entry points say which attention they compute: [`MultiHeadAttention::forward_self`] and
//! [`MultiHeadAttention::forward_cross`] for training and evaluation, and for generation
//! [`MultiHeadAttention::forward_cached`] (self-attention over a [`KvCache`]) and
//! [`MultiHeadAttention::forward_kv`] (cross-attention over a memory projected once, a
//! [`CrossKv`]). Each returns the output `(B, Tq, d)`; the first two also return the attention
//! weights `(B, h, Tq, Tk)`, which the kernels compute anyway, so plots ask for them instead of
//! the layer keeping them.
//!
//! All heads are computed at once: one projection each for Q, K and V to `d_model` features,
//! then a reshape `(B, T, d) -> (B, T, h, d_head)` and a permute to `(B, h, T, d_head)`, both
//! views. One private function, `attend`, picks the kernel:
//! - self-attention without dropout on the weights: the three projections are one product with
//!   the stacked weights, and [`Var::attention_packed`] takes its `(B, T, 3 d)` output whole;
//! - otherwise without that dropout: the fused [`Var::attention`], which reads the heads in place
//!   and writes its output laid out as `(B, T, h, d_head)`, so merging the heads back (permute,
//!   reshape) is a view;
//! - with dropout on the attention weights: the composed attention
//!   ([`crate::scaled_dot_product_attention`], autograd's [`autograd::composed::attention`]),
//!   dropout on its weights, one batched matmul, and merging copies once (that permuted layout
//!   cannot be flattened as a view).

use std::rc::Rc;

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

use crate::attention::{causal_mask, scaled_dot_product_attention};
use crate::dropout::{Dropout, DropoutState};
use crate::linear::{Init, Linear};
use crate::module::{Module, prefixed};

/// Keys and values of earlier positions, kept during generation so each new token costs one
/// position of work instead of recomputing the prefix.
///
/// Keys and values live in buffers `(B, h, capacity, d_head)` that grow by doubling, as a `Vec`
/// does: appending a position writes just that position (amortised constant time, where a
/// concatenation would copy the whole cache every token), and the attention reads the first
/// [`KvCache::len`] positions as a view.
///
/// ```
/// use tensor::Tensor;
/// use transformer::KvCache;
/// let mut cache = KvCache::<f32>::new();
/// for t in 0..3 {
///     let kv = Tensor::full(&[1, 2, 1, 4], t as f32); // (B, h, 1 new position, d_head)
///     cache.append(&kv, &kv);
/// }
/// assert_eq!(cache.len(), 3);
/// let k = cache.keys().unwrap(); // (1, 2, 3, 4), a view of the buffer
/// assert_eq!(k.shape(), &[1, 2, 3, 4]);
/// assert_eq!(k.get(&[0, 1, 2, 0]), 2.0);
/// ```
#[derive(Clone, Default)]
pub struct KvCache<T: Float> {
    /// Key buffer `(B, h, capacity, d_head)`; positions `len..` are unused.
    k: Option<Tensor<T>>,
    /// Value buffer, as `k`.
    v: Option<Tensor<T>>,
    len: usize,
}

impl<T: Float> KvCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        KvCache { k: None, v: None, len: 0 }
    }

    /// How many positions are cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cached keys `(B, h, len, d_head)`, a view of the buffer (`None` before the first append).
    pub fn keys(&self) -> Option<Tensor<T>> {
        self.k.as_ref().map(|k| k.narrow(2, 0, self.len))
    }

    /// The cached values `(B, h, len, d_head)`, a view of the buffer.
    pub fn values(&self) -> Option<Tensor<T>> {
        self.v.as_ref().map(|v| v.narrow(2, 0, self.len))
    }

    /// Appends the keys and values of new positions, each `(B, h, T_new, d_head)` (any layout).
    ///
    /// # Panics
    /// If `k` and `v` differ in shape, or `B`, `h` or `d_head` differ from what is cached.
    #[track_caller]
    pub fn append(&mut self, k: &Tensor<T>, v: &Tensor<T>) {
        if k.shape() != v.shape() || k.ndim() != 4 {
            tensor::layer_panic(
                "KvCache::append",
                format!("keys {:?} and values {:?} must have one shape (B, h, T, d_head)", k.shape(), v.shape()),
            );
        }
        if let Some(buf) = &self.k {
            let (b, n) = (buf.shape(), k.shape());
            if (b[0], b[1], b[3]) != (n[0], n[1], n[3]) {
                tensor::layer_panic(
                    "KvCache::append",
                    format!("new keys {n:?} do not fit the cached (B, h, _, d_head) = {b:?}"),
                );
            }
        }
        append_positions(&mut self.k, self.len, k);
        append_positions(&mut self.v, self.len, v);
        self.len += k.shape()[2];
    }

    /// Keeps batch rows `rows` of the cache, in that order: row `i` of the result is row
    /// `rows[i]` before, so the batch becomes `rows.len()` and a row may be repeated (one
    /// beam continued two ways) or left out (a beam dropped). Every cached position moves with
    /// its row; [`KvCache::len`] is unchanged. A no-op on an empty cache, whose batch is not
    /// known yet.
    ///
    /// ```
    /// use tensor::Tensor;
    /// use transformer::KvCache;
    /// let mut cache = KvCache::<f64>::new();
    /// let kv = Tensor::from_vec(vec![10.0, 11.0], &[2, 1, 1, 1]); // (B = 2, h, 1 position, d_head)
    /// cache.append(&kv, &kv);
    /// cache.reorder(&[1, 1, 0]); // (B = 3): rows 1, 1, 0
    /// assert_eq!(cache.keys().unwrap().to_vec(), vec![11.0, 11.0, 10.0]);
    /// ```
    ///
    /// # Panics
    /// If `rows` is empty or names a row outside the cached batch.
    #[track_caller]
    pub fn reorder(&mut self, rows: &[usize]) {
        let Some(k) = &self.k else { return };
        check_rows("KvCache::reorder", rows, k.shape());
        // The whole buffer, spare capacity included, so the next append still writes in place.
        self.k = self.k.as_ref().map(|k| k.index_select(0, rows)); // (rows.len(), h, capacity, d_head)
        self.v = self.v.as_ref().map(|v| v.index_select(0, rows));
    }
}

/// Panics, naming `op`, unless `rows` is a non-empty list of rows of a batch `shape[0]`.
#[track_caller]
fn check_rows(op: &str, rows: &[usize], shape: &[usize]) {
    if rows.is_empty() {
        tensor::layer_panic(op, format!("no rows given for the cached batch of shape {shape:?}"));
    }
    if let Some(&bad) = rows.iter().find(|&&r| r >= shape[0]) {
        tensor::layer_panic(
            op,
            format!("row {bad} in rows {rows:?} is outside the cached batch of {} (shape {shape:?})", shape[0]),
        );
    }
}

/// The keys and values of a sequence that stays fixed while another attends to it (the
/// encoder's memory, in cross-attention), projected and split into heads once by
/// [`MultiHeadAttention::project_kv`] and read by [`MultiHeadAttention::forward_kv`] at every
/// decoding step. Both tensors are `(B, h, S, d_head)`, contiguous, and constants (no gradient
/// flows into them: they are for inference).
#[derive(Clone)]
pub struct CrossKv<T: Float> {
    /// `(B, h, S, d_head)`.
    keys: Tensor<T>,
    /// `(B, h, S, d_head)`.
    values: Tensor<T>,
}

impl<T: Float> CrossKv<T> {
    /// The keys `(B, h, S, d_head)`.
    pub fn keys(&self) -> &Tensor<T> {
        &self.keys
    }

    /// The values `(B, h, S, d_head)`.
    pub fn values(&self) -> &Tensor<T> {
        &self.values
    }

    /// The batch size `B`.
    pub fn batch(&self) -> usize {
        self.keys.shape()[0]
    }

    /// The attended sequence's length `S`.
    pub fn source_len(&self) -> usize {
        self.keys.shape()[2]
    }

    /// Keeps batch rows `rows` in that order, as [`KvCache::reorder`]: row `i` becomes row
    /// `rows[i]`; rows may repeat or be left out. Copies the selected rows.
    ///
    /// # Panics
    /// If `rows` is empty or names a row outside the batch.
    #[track_caller]
    pub fn reorder(&mut self, rows: &[usize]) {
        check_rows("CrossKv::reorder", rows, self.keys.shape());
        self.keys = self.keys.index_select(0, rows); // (rows.len(), h, S, d_head)
        self.values = self.values.index_select(0, rows);
    }
}

/// Writes `new (B, h, t, d)` at positions `len..len + t` of `buf (B, h, capacity, d)`, first
/// growing the buffer to twice its capacity (or to what is needed) when it is full.
fn append_positions<T: Float>(buf: &mut Option<Tensor<T>>, len: usize, new: &Tensor<T>) {
    let s = new.shape();
    let (b, h, t, d) = (s[0], s[1], s[2], s[3]);
    let cap = buf.as_ref().map_or(0, |x| x.shape()[2]);
    if len + t > cap {
        let new_cap = (len + t).max(2 * cap).max(16);
        let mut grown = vec![T::ZERO; b * h * new_cap * d];
        if let Some(old) = buf.as_ref() {
            let old = old.contiguous();
            let os = old.as_slice().expect("contiguous");
            for (dst, src) in grown.chunks_exact_mut(new_cap * d).zip(os.chunks_exact(cap * d)) {
                dst[..len * d].copy_from_slice(&src[..len * d]);
            }
        }
        *buf = Some(Tensor::from_vec(grown, &[b, h, new_cap, d]));
    }
    let cap = buf.as_ref().map_or(0, |x| x.shape()[2]);
    let src = new.contiguous();
    // The buffer is not shared (the attention's views of it are gone by now): no copy here.
    let dst = buf.as_mut().expect("allocated above").data_mut();
    for (dst, src) in dst.chunks_exact_mut(cap * d).zip(src.as_slice().expect("contiguous").chunks_exact(t * d)) {
        dst[len * d..(len + t) * d].copy_from_slice(src);
    }
}

/// The sizes and choices of one [`MultiHeadAttention`] layer.
///
/// [`AttentionConfig::new`] gives the plain layer (biases, no dropout, Xavier weights); change
/// fields with struct update syntax, or take a block's with [`crate::LayerConfig::attention`].
///
/// ```
/// use tensor::rng_from_seed;
/// use transformer::{AttentionConfig, DropoutState, Init, MultiHeadAttention};
/// let config = AttentionConfig { bias: false, out_init: Init::Normal(0.01), ..AttentionConfig::new(8, 2) };
/// let mha = MultiHeadAttention::<f32>::new(&config, &DropoutState::new(0), &mut rng_from_seed(0));
/// assert_eq!((mha.n_head, mha.q_proj.bias.is_none()), (2, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionConfig {
    /// Model width `d`: the queries' and keys' input, and the output, have `d` features.
    pub d_model: usize,
    /// Number of heads `h`; `d_head = d / h`.
    pub n_head: usize,
    /// Whether the four projections have biases.
    pub bias: bool,
    /// Dropout probability on the attention weights (in training).
    pub dropout: f64,
    /// Initialisation of the query, key and value projections.
    pub init: Init,
    /// Initialisation of the output projection, which writes into the residual stream (GPT-2
    /// scales its std by `1 / sqrt(2 n_layer)`).
    pub out_init: Init,
}

impl AttentionConfig {
    /// `n_head` heads over `d_model` features, with biases, no dropout and Xavier-uniform weights.
    pub fn new(d_model: usize, n_head: usize) -> Self {
        AttentionConfig { d_model, n_head, bias: true, dropout: 0.0, init: Init::Xavier, out_init: Init::Xavier }
    }
}

/// Multi-head attention with separate `q_proj`, `k_proj`, `v_proj` and `out_proj` (all `d -> d`).
pub struct MultiHeadAttention<T: Float> {
    /// Query projection.
    pub q_proj: Linear<T>,
    /// Key projection.
    pub k_proj: Linear<T>,
    /// Value projection.
    pub v_proj: Linear<T>,
    /// Output projection `W_O`.
    pub out_proj: Linear<T>,
    /// Number of heads `h`; `d_head = d / h`.
    pub n_head: usize,
    attn_dropout: Dropout,
}

/// `(B, T, d) -> (B, h, T, d_head)`, as views.
fn split_heads<T: Float>(x: &Var<T>, h: usize) -> Var<T> {
    let s = x.shape();
    let (b, t, d) = (s[0], s[1], s[2]);
    x.reshape(&[b, t, h, d / h]).permute(&[0, 2, 1, 3])
}

/// `(B, h, T, d_head) -> (B, T, d)`; the reshape copies unless the heads are a permuted view of a
/// `(B, T, h, d_head)` buffer (see the module doc).
fn merge_heads<T: Float>(x: &Var<T>) -> Var<T> {
    let s = x.shape();
    let (b, h, t, dh) = (s[0], s[1], s[2], s[3]);
    x.permute(&[0, 2, 1, 3]).reshape(&[b, t, h * dh])
}

/// Where [`MultiHeadAttention::attend`] gets its keys and values.
enum KeysValues<'a, T: Float> {
    /// Projected from the queries' own input: self-attention.
    FromQueries,
    /// Projected from another sequence `(B, S, d)`, the memory: cross-attention.
    FromMemory(&'a Var<T>),
    /// Already projected and split into heads, `(B, h, S, d_head)` each: a KV cache, or a
    /// memory's [`CrossKv`].
    Precomputed(Var<T>, Var<T>),
}

impl<T: Float> MultiHeadAttention<T> {
    /// A layer as `config` says, drawing its weights from `rng` (queries, keys, values, output, in
    /// that order) and its attention-dropout masks from `dropout_state`.
    ///
    /// # Panics
    /// If `n_head` is 0 or does not divide `d_model`.
    #[track_caller]
    pub fn new(config: &AttentionConfig, dropout_state: &Rc<DropoutState>, rng: &mut TensorRng) -> Self {
        let AttentionConfig { d_model: d, n_head, bias, dropout, init, out_init } = *config;
        if n_head == 0 || d % n_head != 0 {
            tensor::layer_panic("MultiHeadAttention", format!("d_model {d} is not divisible by n_head {n_head}"));
        }
        MultiHeadAttention {
            q_proj: Linear::new(d, d, bias, init, rng),
            k_proj: Linear::new(d, d, bias, init, rng),
            v_proj: Linear::new(d, d, bias, init, rng),
            out_proj: Linear::new(d, d, bias, out_init, rng),
            n_head,
            attn_dropout: Dropout::new(dropout, dropout_state),
        }
    }

    /// Self-attention: queries, keys and values all from `x: (B, T, d)`. Returns the output
    /// `(B, T, d)` and the attention weights `(B, h, T, T)` (before dropout, a plain tensor: for
    /// inspection and plots). `mask` broadcasts to `(B, h, T, T)`.
    ///
    /// # Panics
    /// If `x` is not `(B, T, d_model)`.
    #[track_caller]
    pub fn forward_self(&self, x: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Tensor<T>) {
        self.check_input("MultiHeadAttention::forward_self", "input", x, None);
        self.attend(x, KeysValues::FromQueries, mask)
    }

    /// Cross-attention: queries from `x_q: (B, Tq, d)`, keys and values from `memory: (B, S, d)`
    /// (the encoder's output, in the encoder-decoder). Returns the output `(B, Tq, d)` and the
    /// attention weights `(B, h, Tq, S)` (before dropout, a plain tensor). `mask` broadcasts to
    /// `(B, h, Tq, S)`.
    ///
    /// # Panics
    /// If `x_q` or `memory` is not `(B, _, d_model)`, or their batches differ.
    #[track_caller]
    pub fn forward_cross(&self, x_q: &Var<T>, memory: &Var<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Tensor<T>) {
        self.check_input("MultiHeadAttention::forward_cross", "queries", x_q, None);
        self.check_input("MultiHeadAttention::forward_cross", "memory", memory, Some(x_q.shape()[0]));
        self.attend(x_q, KeysValues::FromMemory(memory), mask)
    }

    /// Causal self-attention over new positions `x: (B, T_new, d)`, reading and extending `cache`.
    /// Meant for generation under `no_grad`: cached keys and values are constants.
    pub fn forward_cached(&self, x: &Var<T>, cache: &mut KvCache<T>) -> Var<T> {
        let k_new = split_heads(&self.k_proj.forward(x), self.n_head).value(); // (B, h, T_new, dh)
        let v_new = split_heads(&self.v_proj.forward(x), self.n_head).value();
        cache.append(&k_new, &v_new);
        let (k, v) = (cache.keys().expect("just appended"), cache.values().expect("just appended")); // (B, h, T_past + T_new, dh)
        let (tq, tk) = (x.shape()[1], k.shape()[2]);
        // One new position may see every cached one: no mask to build or apply.
        let mask = (tq > 1).then(|| causal_mask::<T>(tq, tk));
        self.attend(x, KeysValues::Precomputed(Var::constant(k), Var::constant(v)), mask.as_ref()).0
    }

    /// The keys and values `forward_cross(_, memory, _)` would compute from `memory: (B, S, d)`,
    /// split into heads, `(B, h, S, d_head)` each: computed once for cross-attention over a
    /// memory that every decoding step reads (see [`MultiHeadAttention::forward_kv`]).
    #[track_caller]
    pub fn project_kv(&self, memory: &Var<T>) -> CrossKv<T> {
        self.check_input("MultiHeadAttention::project_kv", "memory", memory, None);
        let keys = split_heads(&self.k_proj.forward(memory), self.n_head).value().contiguous(); // (B, h, S, dh)
        let values = split_heads(&self.v_proj.forward(memory), self.n_head).value().contiguous(); // (B, h, S, dh)
        CrossKv { keys, values }
    }

    /// `x_q: (B, Tq, d)` attends over precomputed keys and values `kv` (`(B, h, S, d_head)`,
    /// from [`MultiHeadAttention::project_kv`]) -> `(B, Tq, d)`: the output of
    /// `forward_cross(x_q, memory, mask)` when `kv = project_kv(memory)`, without projecting
    /// `memory` again. `mask` broadcasts to `(B, h, Tq, S)`.
    ///
    /// # Panics
    /// If `x_q` is not `(B, Tq, h d_head)` with the batch and widths of `kv`.
    #[track_caller]
    pub fn forward_kv(&self, x_q: &Var<T>, kv: &CrossKv<T>, mask: Option<&Tensor<T>>) -> Var<T> {
        let (s, ks) = (x_q.shape(), kv.keys.shape());
        if s.len() != 3 || s[0] != ks[0] || ks[1] != self.n_head || s[2] != ks[1] * ks[3] {
            tensor::layer_panic(
                "MultiHeadAttention::forward_kv",
                format!("queries {s:?} (B, Tq, d) do not fit keys {ks:?} (B, h, S, d_head) with {} heads", self.n_head),
            );
        }
        let (k, v) = (Var::constant(kv.keys.clone()), Var::constant(kv.values.clone()));
        self.attend(x_q, KeysValues::Precomputed(k, v), mask).0
    }

    /// Panics, naming `op`, unless `x` is `(B, T, d_model)`, with batch `batch` when given.
    #[track_caller]
    fn check_input(&self, op: &str, what: &str, x: &Var<T>, batch: Option<usize>) {
        let (s, d) = (x.shape(), self.q_proj.in_features());
        if s.len() != 3 || s[2] != d || batch.is_some_and(|b| b != s[0]) {
            let batch = batch.map_or(String::new(), |b| format!(", B = the queries' batch {b}"));
            tensor::layer_panic(op, format!("{what} {s:?} is not (B, T, d) with d = d_model {d}{batch}"));
        }
    }

    /// Attention of the queries projected from `x_q: (B, Tq, d)` over the keys and values `kv`
    /// says, through the output projection: returns `(B, Tq, d)` and the weights `(B, h, Tq, Tk)`.
    /// Every entry point comes here, and this is where the kernel is chosen.
    fn attend(&self, x_q: &Var<T>, kv: KeysValues<T>, mask: Option<&Tensor<T>>) -> (Var<T>, Tensor<T>) {
        // Dropout has to act on the weights themselves, which only the composed attention has as
        // a differentiable tensor; without it, a fused op computes the same numbers in one node.
        let weight_dropout = !self.attn_dropout.is_identity();
        if matches!(kv, KeysValues::FromQueries) && !weight_dropout {
            // Packed: self-attention needs q, k and v of one input, so its three projections are
            // one wider product whose (B, T, 3d) output the fused op takes whole (one GEMM forward
            // and one per gradient backward, no copies between the projection and the output).
            if let Some(qkv) = self.project_qkv(x_q) {
                let (merged, weights) = autograd::profile::scope(autograd::profile::ATTENTION, || {
                    let (y, weights) = qkv.attention_packed(self.n_head, mask); // (B, h, T, dh), laid out (B, T, h, dh)
                    (merge_heads(&y), weights) // (B, T, d), a view
                });
                return (self.out_proj.forward(&merged), weights);
            }
        }
        let q = split_heads(&self.q_proj.forward(x_q), self.n_head); // (B, h, Tq, dh)
        let (k, v) = match kv {
            KeysValues::FromQueries => (self.project_heads(&self.k_proj, x_q), self.project_heads(&self.v_proj, x_q)),
            KeysValues::FromMemory(memory) => {
                (self.project_heads(&self.k_proj, memory), self.project_heads(&self.v_proj, memory))
            }
            KeysValues::Precomputed(k, v) => (k, v),
        }; // (B, h, Tk, dh) each
        // The profiler's "attention": the weights, the weighted sum of values, merging the heads.
        let (merged, weights) = autograd::profile::scope(autograd::profile::ATTENTION, || {
            if !weight_dropout {
                // Fused: one node that reads the heads in place and saves only the weights.
                let (y, weights) = q.attention(&k, &v, mask); // (B, h, Tq, dh) laid out (B, Tq, h, dh), (B, h, Tq, Tk)
                return (merge_heads(&y), weights); // (B, Tq, d), a view
            }
            // Composed: its weights are a node that dropout can act on. Its own output, the
            // undropped weighted sum, is left unused (one batched matmul forward, no backward).
            let (_, weights) = scaled_dot_product_attention(&q, &k, &v, mask); // (B, h, Tq, Tk)
            let y = self.attn_dropout.forward(&weights).matmul(&v); // (B, h, Tq, dh)
            (merge_heads(&y), weights.value()) // (B, Tq, d), a copy
        });
        (self.out_proj.forward(&merged), weights) // (B, Tq, d)
    }

    /// `x: (B, T, d)` through `proj`, split into heads: `(B, h, T, d_head)`.
    fn project_heads(&self, proj: &Linear<T>, x: &Var<T>) -> Var<T> {
        split_heads(&proj.forward(x), self.n_head)
    }

    /// Self-attention's three projections as one product: `x (B, T, d)` times the stacked weights
    /// `[W_Q; W_K; W_V]^T (d, 3d)` gives `(B, T, 3d)`, the same numbers as three separate
    /// projections side by side, in one wider GEMM forward and one each for the input's and the
    /// weights' gradients backward (instead of three products and two adds for the input's).
    /// `None` when only some of the three projections have a bias.
    fn project_qkv(&self, x: &Var<T>) -> Option<Var<T>> {
        let s = x.shape();
        let (b, t, d) = (s[0], s[1], s[2]);
        let w = Var::concat(&[&self.q_proj.weight, &self.k_proj.weight, &self.v_proj.weight], 0); // (3d, d)
        let y = x.reshape(&[b * t, d]).matmul(&w.mt()); // (B T, 3d)
        let y = match (&self.q_proj.bias, &self.k_proj.bias, &self.v_proj.bias) {
            (Some(bq), Some(bk), Some(bv)) => y.add(&Var::concat(&[bq, bk, bv], 0)),
            (None, None, None) => y,
            _ => return None,
        };
        Some(y.reshape(&[b, t, 3 * d]))
    }
}

impl<T: Float> Module<T> for MultiHeadAttention<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("q_proj", self.q_proj.named_parameters());
        v.extend(prefixed("k_proj", self.k_proj.named_parameters()));
        v.extend(prefixed("v_proj", self.v_proj.named_parameters()));
        v.extend(prefixed("out_proj", self.out_proj.named_parameters()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::KvCache;
    use tensor::Tensor;

    #[test]
    fn appends_across_growth_equal_one_concatenation() {
        let mut cache = KvCache::<f64>::new();
        let mut all_k: Vec<Tensor<f64>> = Vec::new();
        let mut all_v: Vec<Tensor<f64>> = Vec::new();
        // 3 + 1 + 15 + 1 + 20 = 40 positions: the buffer grows from 16 to 32 to 64.
        for (i, t) in [3usize, 1, 15, 1, 20].into_iter().enumerate() {
            // Keys as the attention makes them: a permuted (B, T, h, d) tensor.
            let k = Tensor::rand_uniform(&[2, t, 3, 4], -1.0, 1.0, i as u64).permute(&[0, 2, 1, 3]);
            let v = Tensor::rand_uniform(&[2, 3, t, 4], -1.0, 1.0, 100 + i as u64);
            cache.append(&k, &v);
            all_k.push(k);
            all_v.push(v);
            let want_k = Tensor::concat(&all_k.iter().collect::<Vec<_>>(), 2);
            let want_v = Tensor::concat(&all_v.iter().collect::<Vec<_>>(), 2);
            assert_eq!(cache.len(), want_k.shape()[2]);
            assert_eq!(cache.keys().unwrap().to_vec(), want_k.to_vec());
            assert_eq!(cache.values().unwrap().to_vec(), want_v.to_vec());
        }
        // A clone keeps its own positions when the original appends (copy on write).
        let snapshot = cache.clone();
        let extra = Tensor::ones(&[2, 3, 1, 4]);
        cache.append(&extra, &extra);
        assert_eq!(snapshot.len() + 1, cache.len());
        assert_eq!(snapshot.keys().unwrap().shape(), &[2, 3, 40, 4]);
    }

    #[test]
    #[should_panic(expected = "KvCache::append")]
    fn a_different_head_count_panics() {
        let mut cache = KvCache::<f32>::new();
        cache.append(&Tensor::zeros(&[1, 2, 1, 4]), &Tensor::zeros(&[1, 2, 1, 4]));
        cache.append(&Tensor::zeros(&[1, 3, 1, 4]), &Tensor::zeros(&[1, 3, 1, 4]));
    }
}
