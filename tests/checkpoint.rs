//! Checkpoints: save/load round trips, every kind of bad file, bit-exact resume, crash safety,
//! and the nanoGPT export layout.
//!
//! Loading an export into nanoGPT (run from a nanoGPT checkout, with `torch` and `safetensors`
//! installed; not part of CI):
//!
//! ```python
//! import json, torch
//! from safetensors import safe_open
//! from safetensors.torch import load_file
//! from model import GPT, GPTConfig            # nanoGPT's model.py
//!
//! path = "nanogpt.safetensors"                # from `gradlab export --ckpt out --out nanogpt.safetensors`
//! with safe_open(path, "pt") as f:
//!     config = GPTConfig(**json.loads(f.metadata()["config"]))
//! model = GPT(config)
//! # nanoGPT ties lm_head.weight to transformer.wte.weight; the file holds both (equal) tensors.
//! # On PyTorch < 2.0 nanoGPT also registers a causal-mask buffer `attn.bias` per block: there,
//! # pass strict=False and check that the only missing keys end in ".attn.bias".
//! model.load_state_dict(load_file(path))
//! model.eval()
//! idx = torch.tensor([[0, 1, 2, 3]])
//! logits, _ = model(idx, targets=idx)         # with targets, logits for every position: (1, 4, V)
//! print(logits)                               # equals gradlab's model.forward on the same ids
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use gradlab::Error;
use gradlab::checkpoint::{
    EncDecMeta, MODEL_FILE, ModelMeta, RngState, STATE_FILE, TrainState, commit_temp, export_nanogpt, load_encdec,
    load_model, load_train_state, resolve, save, save_encdec, write_atomic, write_temp,
};
use gradlab::data::{CharTokenizer, Tokenizer};
use gradlab::tensor::{Tensor, rng_from_seed};
use gradlab::transformer::optim::{AdamW, Optimizer};
use gradlab::transformer::{Gpt, GptConfig, Module, NormPlacement, Transformer, TransformerConfig};
use proptest::prelude::*;
use rand::Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

mod common;
use common::TempDir;

/// Characters that a naive encoding would break: a newline, a quote, a backslash, non-ASCII.
const VOCAB: &str = "\n\"\\éa🙂";

fn config(bias: bool) -> GptConfig {
    // A dropout that serde_json's default float parser would not read back exactly.
    GptConfig {
        vocab_size: VOCAB.chars().count(),
        block_size: 6,
        n_layer: 2,
        n_head: 2,
        n_embd: 8,
        dropout: 0.12489148443491327,
        bias,
    }
}

fn meta(config: GptConfig, seed: u64) -> ModelMeta {
    let tokenizer = Tokenizer::Char(CharTokenizer::from_chars(VOCAB.chars().collect()));
    ModelMeta { config, tokenizer, step: 123, seed, source: "data:some dir/input \"1\".txt".into() }
}

fn model(bias: bool, seed: u64) -> (Gpt<f32>, ModelMeta) {
    let c = config(bias);
    (Gpt::new(c, seed), meta(c, seed))
}

fn bits(t: &Tensor<f32>) -> Vec<u32> {
    t.to_vec().iter().map(|x| x.to_bits()).collect()
}

fn param_bits(m: &impl Module<f32>) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    m.named_parameters().into_iter().map(|(n, p)| (n, p.shape(), bits(&p.value()))).collect()
}

fn eval_logits(m: &Gpt<f32>) -> Vec<u32> {
    m.set_training(false);
    let ids = [0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0];
    bits(&m.forward(&ids, [2, 6]).value())
}

/// The reason of an `Error::Checkpoint`, failing the test on any other outcome.
fn checkpoint_reason<T>(r: gradlab::Result<T>) -> String {
    match r {
        Err(Error::Checkpoint { reason, .. }) => reason,
        Err(e) => panic!("expected a checkpoint error, got {e}"),
        Ok(_) => panic!("expected a checkpoint error, got Ok"),
    }
}

fn assert_reason<T>(r: gradlab::Result<T>, parts: &[&str]) {
    let reason = checkpoint_reason(r);
    for p in parts {
        assert!(reason.contains(p), "error {reason:?} does not mention {p:?}");
    }
}

/// A tensor of a safetensors file, owned.
struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Reads a safetensors file into owned tensors and metadata, lets `edit` change them, writes it back.
fn rewrite(path: &Path, edit: impl FnOnce(&mut BTreeMap<String, Owned>, &mut HashMap<String, String>)) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: BTreeMap<String, Owned> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, Owned { dtype: v.dtype(), shape: v.shape().to_vec(), data: v.data().to_vec() }))
        .collect();
    edit(&mut tensors, &mut metadata);
    let views: Vec<(String, TensorView<'_>)> =
        tensors.iter().map(|(n, t)| (n.clone(), TensorView::new(t.dtype, t.shape.clone(), &t.data).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, Some(metadata)).unwrap()).unwrap();
}

fn saved(bias: bool) -> (TempDir, Gpt<f32>, ModelMeta) {
    let dir = TempDir::new("saved");
    let (m, meta) = model(bias, 7);
    save(dir.path(), &m, &meta, None).unwrap();
    (dir, m, meta)
}

#[test]
fn save_then_load_gives_identical_parameters_logits_and_meta() {
    for bias in [true, false] {
        let (dir, m, meta) = saved(bias);
        let (loaded, loaded_meta) = load_model(dir.path()).unwrap();
        assert_eq!(loaded_meta, meta);
        let Tokenizer::Char(tok) = &loaded_meta.tokenizer else { panic!("a character checkpoint") };
        assert_eq!(tok.chars(), VOCAB.chars().collect::<Vec<_>>());
        assert_eq!(loaded.config, m.config);
        assert_eq!(param_bits(&loaded), param_bits(&m));
        assert_eq!(eval_logits(&loaded), eval_logits(&m));
        // Loading rebuilds a model seeded differently from the one saved: the values come from the file.
        let (other, _) = model(bias, 8);
        assert_ne!(param_bits(&other), param_bits(&m));
    }
}

#[test]
fn weights_file_is_plain_f32_safetensors_with_readable_metadata() {
    let (dir, m, meta) = saved(true);
    let bytes = std::fs::read(dir.join(MODEL_FILE)).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(String::from).collect();
    names.sort();
    let mut expected: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    expected.sort();
    assert_eq!(names, expected);
    let wte = file.tensor("wte.weight").unwrap();
    assert_eq!(wte.dtype(), Dtype::F32);
    let first = f32::from_le_bytes(wte.data()[..4].try_into().unwrap());
    assert_eq!(first.to_bits(), m.wte.weight.value().to_vec()[0].to_bits());

    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let md = header.metadata().clone().unwrap();
    assert_eq!(md["format"], "gradlab-gpt");
    assert_eq!(md["version"], "1");
    assert_eq!(md["step"], "123");
    assert_eq!(md["seed"], "7");
    assert_eq!(serde_json::from_str::<String>(&md["vocab"]).unwrap(), VOCAB);
    let config: serde_json::Value = serde_json::from_str(&md["config"]).unwrap();
    assert_eq!(config["n_embd"], 8);
    assert_eq!(config["bias"], true);
    assert_eq!(md["source"], meta.source);
}

#[test]
fn resolve_takes_a_run_dir_or_a_weights_file() {
    let (dir, _, _) = saved(false);
    let file = dir.join(MODEL_FILE);
    assert_eq!(resolve(dir.path()).unwrap(), file);
    assert_eq!(resolve(&file).unwrap(), file);
    assert_reason(resolve(&dir.join("nope")), &["no such file"]);
    let empty = TempDir::new("empty");
    assert_reason(resolve(empty.path()), &[MODEL_FILE]);
    assert_reason(load_model(empty.path()), &[MODEL_FILE]);
    // A weights file under another name loads too.
    let renamed = dir.join("best.safetensors");
    std::fs::copy(&file, &renamed).unwrap();
    assert!(load_model(&renamed).is_ok());
}

#[test]
fn truncated_files_are_errors() {
    let (dir, _, _) = saved(true);
    let path = dir.join(MODEL_FILE);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 3, 8, 20, bytes.len() / 2, bytes.len() - 4, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert_reason(load_model(dir.path()), &["not a valid safetensors file"]);
    }
    // Trailing bytes are as wrong as missing ones.
    let mut longer = bytes.clone();
    longer.extend([0; 4]);
    std::fs::write(&path, &longer).unwrap();
    assert_reason(load_model(dir.path()), &["not a valid safetensors file"]);
}

#[test]
fn corrupt_headers_are_errors() {
    let (dir, _, _) = saved(true);
    let path = dir.join(MODEL_FILE);
    let bytes = std::fs::read(&path).unwrap();
    // The JSON header starts right after the 8-byte length.
    let mut broken = bytes.clone();
    broken[8] = b'[';
    std::fs::write(&path, &broken).unwrap();
    assert_reason(load_model(dir.path()), &["corrupt header"]);
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &huge).unwrap();
    assert_reason(load_model(dir.path()), &["header"]);
    std::fs::write(&path, b"version https://git-lfs.github.com/spec/v1\noid sha256:0\n").unwrap();
    assert_reason(load_model(dir.path()), &["not a valid safetensors file"]);
}

#[test]
fn wrong_dtype_is_an_error_naming_the_tensor() {
    let (dir, _, _) = saved(true);
    rewrite(&dir.join(MODEL_FILE), |t, _| {
        let ln = t.get_mut("ln_f.weight").unwrap();
        let doubles: Vec<u8> = ln
            .data
            .chunks_exact(4)
            .flat_map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes())
            .collect();
        ln.dtype = Dtype::F64;
        ln.data = doubles;
    });
    assert_reason(load_model(dir.path()), &["ln_f.weight", "F64", "F32"]);
}

#[test]
fn missing_and_extra_tensors_are_errors_naming_them() {
    let (dir, _, _) = saved(true);
    let path = dir.join(MODEL_FILE);
    let original = std::fs::read(&path).unwrap();
    rewrite(&path, |t, _| {
        t.remove("blocks.1.attn.k_proj.bias");
    });
    assert_reason(load_model(dir.path()), &["blocks.1.attn.k_proj.bias", "missing"]);

    std::fs::write(&path, &original).unwrap();
    rewrite(&path, |t, _| {
        t.insert("lm_head.weight".into(), Owned { dtype: Dtype::F32, shape: vec![1], data: vec![0; 4] });
    });
    assert_reason(load_model(dir.path()), &["lm_head.weight", "unexpected"]);
}

#[test]
fn config_that_does_not_fit_the_tensors_is_a_shape_error() {
    let (dir, _, _) = saved(true);
    let path = dir.join(MODEL_FILE);
    let original = std::fs::read(&path).unwrap();
    for (from, to, tensor, found, expected) in [
        ("\"n_embd\":8", "\"n_embd\":16", "wte.weight", "[6, 8]", "[6, 16]"),
        ("\"n_embd\":8", "\"n_embd\":4", "wte.weight", "[6, 8]", "[6, 4]"),
        ("\"block_size\":6", "\"block_size\":7", "wpe.weight", "[6, 8]", "[7, 8]"),
    ] {
        std::fs::write(&path, &original).unwrap();
        rewrite(&path, |_, md| {
            let c = md.get_mut("config").unwrap();
            assert!(c.contains(from), "{c}");
            *c = c.replace(from, to);
        });
        assert_reason(load_model(dir.path()), &[tensor, found, expected]);
    }
    // More layers than the file has: the first missing tensor is named.
    std::fs::write(&path, &original).unwrap();
    rewrite(&path, |_, md| *md.get_mut("config").unwrap() = md["config"].replace("\"n_layer\":2", "\"n_layer\":3"));
    assert_reason(load_model(dir.path()), &["blocks.2.ln_1.weight", "missing"]);
    // A config claiming an enormous model fails on shapes before anything is allocated.
    for (from, to, part) in [
        ("\"block_size\":6", "\"block_size\":4000000000000", "wpe.weight"),
        ("\"n_layer\":2", "\"n_layer\":4000000000000", "4000000000000 layers"),
        ("\"n_embd\":8", "\"n_embd\":4611686018427387904", "overflow"),
    ] {
        std::fs::write(&path, &original).unwrap();
        rewrite(&path, |_, md| *md.get_mut("config").unwrap() = md["config"].replace(from, to));
        assert_reason(load_model(dir.path()), &[part]);
    }
}

#[test]
fn bad_metadata_is_an_error_naming_the_entry() {
    let (dir, _, _) = saved(false);
    let path = dir.join(MODEL_FILE);
    let original = std::fs::read(&path).unwrap();
    type Edit = Box<dyn Fn(&mut HashMap<String, String>)>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        ("no vocab", Box::new(|md| drop(md.remove("vocab"))), vec!["\"vocab\""]),
        ("no step", Box::new(|md| drop(md.remove("step"))), vec!["\"step\""]),
        ("no config", Box::new(|md| drop(md.remove("config"))), vec!["\"config\""]),
        ("other format", Box::new(|md| drop(md.insert("format".into(), "pytorch".into()))), vec!["pytorch"]),
        ("no format", Box::new(|md| drop(md.remove("format"))), vec!["no \"format\""]),
        ("newer version", Box::new(|md| drop(md.insert("version".into(), "2".into()))), vec!["version \"2\""]),
        (
            "vocab too short",
            Box::new(|md| drop(md.insert("vocab".into(), "\"abc\"".into()))),
            vec!["3 characters", "vocab_size 6"],
        ),
        ("vocab not JSON", Box::new(|md| drop(md.insert("vocab".into(), "abcdef".into()))), vec!["not a JSON string"]),
        ("vocab repeats", Box::new(|md| drop(md.insert("vocab".into(), "\"aabcde\"".into()))), vec!["'a' twice"]),
        ("bad step", Box::new(|md| drop(md.insert("step".into(), "-1".into()))), vec!["\"step\"", "-1"]),
        ("bad config", Box::new(|md| drop(md.insert("config".into(), "{\"n_embd\": 8}".into()))), vec!["config"]),
        (
            "invalid config",
            Box::new(|md| *md.get_mut("config").unwrap() = md["config"].replace("\"n_head\":2", "\"n_head\":3")),
            vec!["not divisible"],
        ),
        (
            "dropout out of range",
            Box::new(|md| *md.get_mut("config").unwrap() = md["config"].replace("\"0.12489148443491327\"", "1.5")),
            vec!["dropout"],
        ),
        (
            "unknown config field",
            Box::new(|md| *md.get_mut("config").unwrap() = md["config"].replace("\"bias\"", "\"biass\"")),
            vec!["biass"],
        ),
    ];
    for (what, edit, parts) in cases {
        std::fs::write(&path, &original).unwrap();
        rewrite(&path, |_, md| edit(md));
        let reason = checkpoint_reason(load_model(dir.path()));
        for p in parts {
            assert!(reason.contains(p), "{what}: error {reason:?} does not mention {p:?}");
        }
    }
    // A plain JSON number for dropout (a hand-written file) is accepted.
    std::fs::write(&path, &original).unwrap();
    rewrite(&path, |_, md| *md.get_mut("config").unwrap() = md["config"].replace("\"0.12489148443491327\"", "0.25"));
    assert_eq!(load_model(dir.path()).unwrap().1.config.dropout, 0.25);
}

/// An encoder-decoder's weights file goes through the checks a GPT's does: a round trip keeps its
/// metadata and every weight's bits; a vocabulary of the wrong size or with a repeated character,
/// and a weight that is not finite, are errors naming the problem.
#[test]
fn encdec_checkpoint_round_trip_and_bad_files() {
    let dir = TempDir::new("encdec-ckpt");
    let config = TransformerConfig {
        src_vocab: VOCAB.chars().count(),
        tgt_vocab: VOCAB.chars().count(),
        d_model: 8,
        n_head: 2,
        d_ff: 12,
        n_encoder_layers: 1,
        n_decoder_layers: 2,
        max_len: 5,
        dropout: 0.12489148443491327,
        tie_weights: false,
        norm: NormPlacement::Pre,
    };
    let model = Transformer::<f32>::new(config, 3);
    let meta = EncDecMeta { config, vocab: VOCAB.to_string(), step: 9, seed: 3, source: "task:reverse".into() };
    save_encdec(dir.path(), &model, &meta, None).unwrap();
    let (loaded, loaded_meta) = load_encdec(dir.path()).unwrap();
    assert_eq!(loaded_meta, meta);
    assert_eq!(param_bits(&loaded), param_bits(&model));

    let path = dir.join(MODEL_FILE);
    let original = std::fs::read(&path).unwrap();
    for (vocab, parts) in
        [("\"abc\"", &["3 characters", "src_vocab 6 and tgt_vocab 6"][..]), ("\"aabcde\"", &["'a' twice"])]
    {
        std::fs::write(&path, &original).unwrap();
        rewrite(&path, |_, md| drop(md.insert("vocab".into(), vocab.into())));
        assert_reason(load_encdec(dir.path()), parts);
    }
    let (name, _) = &model.named_parameters()[0];
    std::fs::write(&path, &original).unwrap();
    rewrite(&path, |tensors, _| tensors.get_mut(name).unwrap().data[..4].copy_from_slice(&f32::NAN.to_le_bytes()));
    assert_reason(load_encdec(dir.path()), &[name, "NaN"]);
}

fn random_state(m: &Gpt<f32>, seed: u64) -> TrainState {
    let mut rng = rng_from_seed(seed);
    let randn = |shape: &[usize], rng: &mut _| Tensor::<f32>::rand_normal_with(shape, 0.0, 1.0, rng);
    let mut m_moments: Vec<Tensor<f32>> = m.parameters().iter().map(|p| randn(&p.shape(), &mut rng)).collect();
    let v: Vec<Tensor<f32>> = m.parameters().iter().map(|p| randn(&p.shape(), &mut rng)).collect();
    // Values whose bits a lossy format would change.
    let specials = [-0.0, f32::MIN_POSITIVE / 3.0, f32::MAX, f32::NEG_INFINITY, f32::from_bits(0x7fc0_1234)];
    let first = &m_moments[0];
    let mut values = first.to_vec();
    values[..specials.len()].copy_from_slice(&specials);
    m_moments[0] = Tensor::from_vec(values, first.shape());
    let mut data_rng = rng_from_seed(seed + 1);
    for _ in 0..7 {
        let _: u32 = data_rng.random(); // an odd number of words: mid-block
    }
    let dropout_rng = m.dropout_state().rng().borrow().clone();
    TrainState {
        step: 41,
        adam_step: 40,
        m: m_moments,
        v,
        data_rng: RngState::capture(&data_rng),
        dropout_rng: RngState::capture(&dropout_rng),
    }
}

#[test]
fn train_state_round_trip_is_bit_exact() {
    let dir = TempDir::new("state");
    let (m, meta) = model(true, 3);
    let state = random_state(&m, 11);
    save(dir.path(), &m, &meta, Some(&state)).unwrap();
    assert!(dir.join(STATE_FILE).is_file());
    let (loaded_model, _) = load_model(dir.path()).unwrap();
    let loaded = load_train_state(dir.path(), &loaded_model).unwrap();
    assert_eq!(loaded.step, 41);
    assert_eq!(loaded.adam_step, 40);
    assert_eq!(loaded.m.len(), state.m.len());
    for (a, b) in state.m.iter().chain(&state.v).zip(loaded.m.iter().chain(&loaded.v)) {
        assert_eq!(a.shape(), b.shape());
        assert_eq!(bits(a), bits(b));
    }
    assert_eq!(loaded.data_rng, state.data_rng);
    assert_eq!(loaded.dropout_rng, state.dropout_rng);
    // The restored generators continue the captured streams.
    let (mut a, mut b) = (state.data_rng.restore(), loaded.data_rng.restore());
    let mut original = rng_from_seed(12);
    for _ in 0..7 {
        let _: u32 = original.random();
    }
    for _ in 0..100 {
        let x: u64 = original.random();
        assert_eq!(a.random::<u64>(), x);
        assert_eq!(b.random::<u64>(), x);
    }
    // Through the weights file path too.
    assert!(load_train_state(&dir.join(MODEL_FILE), &loaded_model).is_ok());
}

#[test]
fn rng_state_survives_any_position_and_stream() {
    let mut rng = rng_from_seed(5);
    rng.set_stream(u64::MAX - 3);
    for words in 0..40 {
        let s = RngState::capture(&rng);
        let mut r = s.restore();
        assert_eq!(RngState::capture(&r), s, "after {words} words");
        let mut probe = rng.clone();
        assert_eq!(r.random::<u64>(), probe.random::<u64>(), "after {words} words");
        let _: u32 = rng.random();
    }
}

/// A few AdamW steps on random batches with dropout on: everything a resume must reproduce.
fn train_steps(m: &Gpt<f32>, opt: &mut AdamW<f32>, data_rng: &mut gradlab::tensor::TensorRng, steps: usize) {
    m.set_training(true);
    let (b, t, v) = (2, m.config.block_size, m.config.vocab_size);
    for _ in 0..steps {
        let x: Vec<usize> = (0..b * t).map(|_| data_rng.random_range(0..v)).collect();
        let y: Vec<usize> = (0..b * t).map(|_| data_rng.random_range(0..v)).collect();
        let grads = m.loss(&x, &y, [b, t]).backward();
        opt.step(&grads);
    }
}

#[test]
fn resuming_from_a_checkpoint_continues_bit_for_bit() {
    let (m, meta) = model(true, 21);
    let new_opt = |m: &Gpt<f32>| AdamW::new(m.named_parameters(), 1e-2, 0.1);

    let mut opt = new_opt(&m);
    let mut data_rng = rng_from_seed(99);
    train_steps(&m, &mut opt, &mut data_rng, 3);
    let state = TrainState {
        step: 3,
        adam_step: opt.step_count(),
        m: (0..opt.groups().len()).map(|i| opt.moments(i).0.clone()).collect(),
        v: (0..opt.groups().len()).map(|i| opt.moments(i).1.clone()).collect(),
        data_rng: RngState::capture(&data_rng),
        dropout_rng: RngState::capture(&m.dropout_state().rng().borrow()),
    };
    let dir = TempDir::new("resume");
    save(dir.path(), &m, &ModelMeta { step: 3, ..meta }, Some(&state)).unwrap();
    train_steps(&m, &mut opt, &mut data_rng, 3);

    let (resumed, resumed_meta) = load_model(dir.path()).unwrap();
    assert_eq!(resumed_meta.step, 3);
    let st = load_train_state(dir.path(), &resumed).unwrap();
    let mut opt2 = new_opt(&resumed);
    opt2.set_state(st.adam_step, st.m, st.v);
    *resumed.dropout_state().rng().borrow_mut() = st.dropout_rng.restore();
    let mut data_rng2 = st.data_rng.restore();
    train_steps(&resumed, &mut opt2, &mut data_rng2, 3);

    assert_eq!(param_bits(&resumed), param_bits(&m));
    assert_eq!(opt2.step_count(), opt.step_count());
}

#[test]
fn train_state_errors() {
    let dir = TempDir::new("state-errors");
    let (m, meta) = model(false, 4);
    save(dir.path(), &m, &meta, None).unwrap();
    assert_reason(load_train_state(dir.path(), &m), &["no train state"]);

    let state = random_state(&m, 1);
    save(dir.path(), &m, &meta, Some(&state)).unwrap();
    // A model of another shape does not fit the moments.
    let (other, _) = model(true, 4);
    assert!(load_train_state(dir.path(), &m).is_ok());
    assert_reason(load_train_state(dir.path(), &other), &["m.blocks.0.ln_1.bias", "missing"]);

    // Weights from another save: the state is refused.
    let (m2, meta2) = model(false, 5);
    let other_dir = TempDir::new("state-errors-other");
    save(other_dir.path(), &m2, &meta2, None).unwrap();
    std::fs::copy(other_dir.join(MODEL_FILE), dir.join(MODEL_FILE)).unwrap();
    assert_reason(load_train_state(dir.path(), &m2), &["other weights"]);

    // A corrupt RNG entry.
    save(dir.path(), &m, &meta, Some(&state)).unwrap();
    rewrite(&dir.join(STATE_FILE), |_, md| drop(md.insert("data_rng.seed".into(), "zz".repeat(32))));
    assert_reason(load_train_state(dir.path(), &m), &["data_rng.seed", "hex"]);
}

#[test]
fn save_rejects_meta_or_state_that_does_not_fit_the_model() {
    let dir = TempDir::new("save-errors");
    let (m, meta) = model(true, 1);
    let wrong_vocab = ModelMeta { tokenizer: Tokenizer::Char(CharTokenizer::from_corpus("abc")), ..meta.clone() };
    assert!(matches!(save(dir.path(), &m, &wrong_vocab, None), Err(Error::Config(_))));
    let wrong_config = ModelMeta { config: GptConfig { n_layer: 1, ..meta.config }, ..meta.clone() };
    assert!(matches!(save(dir.path(), &m, &wrong_config, None), Err(Error::Config(_))));
    let mut state = random_state(&m, 2);
    state.v.pop();
    assert!(matches!(save(dir.path(), &m, &meta, Some(&state)), Err(Error::Config(_))));
    let mut state = random_state(&m, 2);
    state.m[3] = Tensor::zeros(&[1]);
    assert!(matches!(save(dir.path(), &m, &meta, Some(&state)), Err(Error::Config(_))));
    // Nothing was written by the failed saves.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_crash_mid_save_leaves_the_previous_checkpoint_intact() {
    let dir = TempDir::new("crash");
    let (old, old_meta) = model(true, 1);
    let old_state = random_state(&old, 1);
    save(dir.path(), &old, &old_meta, Some(&old_state)).unwrap();
    let old_bytes = std::fs::read(dir.join(MODEL_FILE)).unwrap();

    // The next save, serialized elsewhere to get its bytes.
    let (new, new_meta) = model(true, 2);
    let staging = TempDir::new("crash-staging");
    save(staging.path(), &new, &ModelMeta { step: 200, ..new_meta.clone() }, Some(&random_state(&new, 2))).unwrap();
    let new_weights = std::fs::read(staging.join(MODEL_FILE)).unwrap();
    let new_state = std::fs::read(staging.join(STATE_FILE)).unwrap();

    // Crash 1: the new weights are fully written to a temp file, then the process dies before
    // the rename. Crash 2: it dies halfway through writing the temp file.
    let temp = write_temp(&dir.join(MODEL_FILE), &new_weights).unwrap();
    let half = write_temp(&dir.join(MODEL_FILE), &new_weights[..new_weights.len() / 2]).unwrap();
    assert_ne!(temp, half);
    assert_eq!(temp.parent(), Some(dir.path()));
    assert_eq!(std::fs::read(dir.join(MODEL_FILE)).unwrap(), old_bytes);
    assert_eq!(resolve(dir.path()).unwrap(), dir.join(MODEL_FILE));
    let (loaded, loaded_meta) = load_model(dir.path()).unwrap();
    assert_eq!(loaded_meta, old_meta);
    assert_eq!(param_bits(&loaded), param_bits(&old));
    assert!(load_train_state(dir.path(), &loaded).is_ok());

    // Crash 3: the new train state was committed but the new weights were not: the old weights
    // still load, and the state that is not theirs is refused instead of resumed.
    let state_temp = write_temp(&dir.join(STATE_FILE), &new_state).unwrap();
    commit_temp(&state_temp, &dir.join(STATE_FILE)).unwrap();
    let (loaded, loaded_meta) = load_model(dir.path()).unwrap();
    assert_eq!(loaded_meta, old_meta);
    assert_reason(load_train_state(dir.path(), &loaded), &["other weights"]);

    // The stray temp files do not stop the next save, which replaces both files.
    save(dir.path(), &new, &new_meta, Some(&random_state(&new, 3))).unwrap();
    let (loaded, loaded_meta) = load_model(dir.path()).unwrap();
    assert_eq!(loaded_meta, new_meta);
    assert_eq!(param_bits(&loaded), param_bits(&new));
    assert!(load_train_state(dir.path(), &loaded).is_ok());
    assert!(temp.exists() && half.exists(), "stray temp files are left for the user, never read");
}

#[test]
fn write_atomic_replaces_whole_files_only() {
    let dir = TempDir::new("atomic");
    let path = dir.join("f.bin");
    write_atomic(&path, b"first version").unwrap();
    let temp = write_temp(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first version");
    commit_temp(&temp, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert!(!temp.exists());
    write_atomic(&path, b"").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    // Only the target is left: no temp files from completed writes.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A directory that does not exist is an I/O error, not a panic.
    assert!(matches!(write_atomic(&dir.join("no/such/dir/f"), b"x"), Err(Error::Io { .. })));
}

fn f32s(view: &TensorView<'_>) -> Vec<u32> {
    assert_eq!(view.dtype(), Dtype::F32);
    view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()).to_bits()).collect()
}

#[test]
fn nanogpt_export_has_nanogpts_names_shapes_and_values() {
    for bias in [true, false] {
        let dir = TempDir::new("export");
        let (m, _) = model(bias, 9);
        let path = dir.join("nanogpt.safetensors");
        export_nanogpt(&m, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (v, d, blk) = (m.config.vocab_size, m.config.n_embd, m.config.block_size);
        let p = |name: &str| bits(&m.named_parameters().into_iter().find(|(n, _)| n == name).unwrap().1.value());

        let mut expected: Vec<(String, Vec<usize>, Vec<u32>)> = vec![
            ("transformer.wte.weight".into(), vec![v, d], p("wte.weight")),
            ("lm_head.weight".into(), vec![v, d], p("wte.weight")),
            ("transformer.wpe.weight".into(), vec![blk, d], p("wpe.weight")),
        ];
        let mut affine = |ours: &str, theirs: &str, shape: Vec<usize>| {
            let out = shape[0];
            expected.push((format!("{theirs}.weight"), shape, p(&format!("{ours}.weight"))));
            if bias {
                expected.push((format!("{theirs}.bias"), vec![out], p(&format!("{ours}.bias"))));
            }
        };
        for i in 0..m.config.n_layer {
            let (o, t) = (format!("blocks.{i}"), format!("transformer.h.{i}"));
            affine(&format!("{o}.ln_1"), &format!("{t}.ln_1"), vec![d]);
            affine(&format!("{o}.attn.out_proj"), &format!("{t}.attn.c_proj"), vec![d, d]);
            affine(&format!("{o}.ln_2"), &format!("{t}.ln_2"), vec![d]);
            affine(&format!("{o}.mlp.fc"), &format!("{t}.mlp.c_fc"), vec![4 * d, d]);
            affine(&format!("{o}.mlp.proj"), &format!("{t}.mlp.c_proj"), vec![d, 4 * d]);
        }
        affine("ln_f", "transformer.ln_f", vec![d]);
        for i in 0..m.config.n_layer {
            // c_attn rows: q then k then v, each (d, d).
            let qkv = |what: &str| -> Vec<u32> {
                ["q_proj", "k_proj", "v_proj"]
                    .iter()
                    .flat_map(|proj| p(&format!("blocks.{i}.attn.{proj}.{what}")))
                    .collect()
            };
            expected.push((format!("transformer.h.{i}.attn.c_attn.weight"), vec![3 * d, d], qkv("weight")));
            if bias {
                expected.push((format!("transformer.h.{i}.attn.c_attn.bias"), vec![3 * d], qkv("bias")));
            }
        }

        let mut names: Vec<&str> = file.names();
        names.sort_unstable();
        let mut expected_names: Vec<&str> = expected.iter().map(|(n, _, _)| n.as_str()).collect();
        expected_names.sort_unstable();
        assert_eq!(names, expected_names, "bias={bias}");
        for (name, shape, values) in &expected {
            let view = file.tensor(name).unwrap();
            assert_eq!(view.shape(), shape.as_slice(), "{name}");
            assert_eq!(&f32s(&view), values, "{name}");
        }
        // Spot-check the stacking by row: row d of c_attn is row 0 of k_proj.
        let c_attn = f32s(&file.tensor("transformer.h.1.attn.c_attn.weight").unwrap());
        let k = p("blocks.1.attn.k_proj.weight");
        assert_eq!(c_attn[d * d..d * d + d], k[..d]);

        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let md = header.metadata().clone().unwrap();
        assert_eq!(md["format"], "nanogpt");
        let config: serde_json::Value = serde_json::from_str(&md["config"]).unwrap();
        // Python reads the number exactly; serde_json's default parser would not, so the text is compared.
        assert!(md["config"].contains(&format!("\"dropout\":{}", m.config.dropout)), "{}", md["config"]);
        let mut config: serde_json::Value = config;
        config.as_object_mut().unwrap().remove("dropout");
        let expected_config = serde_json::json!({
            "block_size": blk, "vocab_size": v, "n_layer": 2, "n_head": 2, "n_embd": d, "bias": bias,
        });
        assert_eq!(config, expected_config);
    }
}

/// A valid weights file and its train state, made once.
fn valid_files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = TempDir::new("valid");
        let (m, meta) = model(true, 17);
        save(dir.path(), &m, &meta, Some(&random_state(&m, 17))).unwrap();
        (std::fs::read(dir.join(MODEL_FILE)).unwrap(), std::fs::read(dir.join(STATE_FILE)).unwrap())
    })
}

fn load_bytes(weights: &[u8], state: Option<&[u8]>) -> (bool, bool) {
    let dir = TempDir::new("fuzz");
    std::fs::write(dir.join(MODEL_FILE), weights).unwrap();
    let (model_ok, state_ok) = match load_model(dir.path()) {
        Ok((m, _)) => {
            let state_ok = state.map(|s| {
                std::fs::write(dir.join(STATE_FILE), s).unwrap();
                load_train_state(dir.path(), &m).is_ok()
            });
            (true, state_ok.unwrap_or(false))
        }
        Err(Error::Checkpoint { .. }) => (false, false),
        Err(e) => panic!("expected a checkpoint error, got {e}"),
    };
    (model_ok, state_ok)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_are_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(!load_bytes(&bytes, None).0);
    }

    #[test]
    fn random_bytes_behind_a_plausible_header_length_are_an_error(
        len in 0u64..200,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend(body);
        prop_assert!(!load_bytes(&bytes, None).0);
    }

    #[test]
    fn truncations_of_a_valid_file_are_errors(cut in any::<prop::sample::Index>()) {
        let weights = &valid_files().0;
        let cut = cut.index(weights.len());
        prop_assert!(!load_bytes(&weights[..cut], None).0);
    }

    #[test]
    fn corrupted_files_never_panic(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        in_state in any::<bool>(),
    ) {
        let (weights, state) = valid_files();
        let (mut weights, mut state) = (weights.clone(), state.clone());
        let target = if in_state { &mut state } else { &mut weights };
        let i = pos.index(target.len());
        let changed = target[i] != byte;
        target[i] = byte;
        let (_, state_ok) = load_bytes(&weights, Some(&state));
        // A changed weights file never passes with the old state: the fingerprint catches it.
        if changed && !in_state {
            prop_assert!(!state_ok);
        }
    }

    #[test]
    fn truncations_of_a_valid_state_are_errors(cut in any::<prop::sample::Index>()) {
        let (weights, state) = valid_files();
        let cut = cut.index(state.len());
        let (model_ok, state_ok) = load_bytes(weights, Some(&state[..cut]));
        prop_assert!(model_ok);
        prop_assert!(!state_ok);
    }
}
