//! The encoder-decoder's side of the program: `train --model encdec`, and `sample`, `eval` and
//! `gradcheck` on an encoder-decoder checkpoint (the commands dispatch here by the checkpoint's
//! kind, [`crate::checkpoint::model_kind`]).

use autograd::{GradCheck, no_grad};
use tensor::rng_from_seed;
use transformer::{Module, NormPlacement, Transformer, TransformerConfig};

use super::args::{EvalArgs, GradcheckArgs, NormArg, SampleArgs, TrainArgs};
use super::commands::task_of;
use crate::checkpoint::load_encdec;
use crate::data::{CharTokenizer, Split, Task, TaskData, Tokenizer};
use crate::error::{Error, Result};
use crate::sample::{SampleConfig, UnusableLogits, pick_token, top_candidates, unusable_logits, validate};
use crate::seq2seq::{Seq2SeqConfig, grade_seq2seq, seq2seq_loss};
use crate::train::encdec::{EncDecRunConfig, model_config, train_encdec};
use crate::train::{MemoryEstimate, check_memory};

/// `--eval-interval` and `--eval-iters` of an encoder-decoder run when unset.
pub(crate) const ENCDEC_EVAL_DEFAULTS: (usize, usize) = (250, 10);

/// The settings of `train --model encdec`: the encoder-decoder's defaults ([`Seq2SeqConfig`])
/// with the flags that apply to it; the GPT's own flags are refused, naming them.
pub fn encdec_run_config(a: &TrainArgs) -> Result<EncDecRunConfig> {
    let gpt_only = [
        ("--data", a.data.is_some()),
        ("--block-size", a.block_size.is_some()),
        ("--n-layer", a.n_layer.is_some()),
        ("--bias", a.bias),
        ("--gradient-accumulation-steps", a.gradient_accumulation_steps.is_some()),
        ("--learning-rate", a.learning_rate.is_some()),
        ("--min-lr", a.min_lr.is_some()),
        ("--lr-decay-iters", a.lr_decay_iters.is_some()),
        ("--weight-decay", a.weight_decay.is_some()),
        ("--beta1", a.beta1.is_some()),
        ("--beta2", a.beta2.is_some()),
        ("--tokenizer", a.tokenizer.is_some()),
        ("--vocab-size", a.vocab_size.is_some()),
    ];
    if let Some((flags, is)) = super::commands::given_flags(&gpt_only) {
        return Err(Error::Config(format!(
            "{flags} {is} the GPT's and cannot be used with --model encdec (see train --help)"
        )));
    }
    let task = Task::from_name(a.task.as_deref().unwrap_or("sort"))?;
    let mut m = Seq2SeqConfig::default();
    m.d_model = a.n_embd.unwrap_or(m.d_model);
    m.n_head = a.n_head.unwrap_or(m.n_head);
    m.d_ff = a.d_ff.unwrap_or(m.d_ff);
    m.n_encoder_layers = a.n_encoder_layers.unwrap_or(m.n_encoder_layers);
    m.n_decoder_layers = a.n_decoder_layers.unwrap_or(m.n_decoder_layers);
    m.dropout = a.dropout.unwrap_or(m.dropout);
    m.label_smoothing = a.label_smoothing.unwrap_or(m.label_smoothing);
    m.norm = match a.norm {
        Some(NormArg::Pre) => NormPlacement::Pre,
        Some(NormArg::Post) => NormPlacement::Post,
        None => m.norm,
    };
    m.batch_size = a.batch_size.unwrap_or(m.batch_size);
    m.max_iters = a.max_iters.unwrap_or(m.max_iters);
    m.warmup_iters = a.warmup_iters.unwrap_or(m.warmup_iters);
    m.lr_factor = a.lr_factor.unwrap_or(m.lr_factor);
    m.grad_clip = a.grad_clip.unwrap_or(m.grad_clip);
    m.seed = a.seed.unwrap_or(m.seed);
    if m.grad_clip.is_nan() || m.grad_clip < 0.0 {
        return Err(Error::Config(format!("--grad-clip must be >= 0, got {}", m.grad_clip)));
    }
    Ok(EncDecRunConfig {
        task,
        model: m,
        out_dir: a.out_dir.clone(),
        eval_interval: a.eval_interval.unwrap_or(ENCDEC_EVAL_DEFAULTS.0),
        eval_iters: a.eval_iters.unwrap_or(ENCDEC_EVAL_DEFAULTS.1),
        resume: a.resume,
        progress: !a.no_progress,
    })
}

/// `train --model encdec`: trains, then prints the held-out exact match and a few answers.
pub(crate) fn run_train_encdec(a: &TrainArgs) -> Result<()> {
    let cfg = encdec_run_config(a)?;
    check_encdec_memory(&cfg)?;
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = a.threads {
        builder = builder.num_threads(n);
    }
    let pool =
        builder.build().map_err(|e| Error::Config(format!("cannot start {} threads: {e}", a.threads.unwrap_or(0))))?;
    let report = pool.install(|| train_encdec(&cfg))?;
    super::commands::print_graded(report.accuracy(), &report.graded);
    let names: Vec<String> =
        report.plots.iter().filter_map(|p| p.file_name()).map(|f| f.to_string_lossy().into_owned()).collect();
    println!(
        "\ntrained {} steps in {:.1}s; checkpoint, metrics.jsonl, losses.jsonl and plots ({}) in {}",
        cfg.model.max_iters - report.start_step,
        report.elapsed_s,
        names.join(", "),
        cfg.out_dir.display()
    );
    println!("next: cargo run --release -- sample --ckpt {}", cfg.out_dir.display());
    Ok(())
}

/// Refuses a run whose model and batches cannot fit in memory (see [`MemoryEstimate`]), before
/// anything is allocated or written.
fn check_encdec_memory(cfg: &EncDecRunConfig) -> Result<()> {
    let data = TaskData::new(cfg.task, cfg.task.line_len())?;
    let config = model_config(cfg, &data);
    crate::checkpoint::validate_encdec_config(&config).map_err(Error::Config)?;
    let (src_len, tgt_len) = data.seq2seq_lengths();
    let m = &cfg.model;
    let estimate = MemoryEstimate::encdec_training(&config, m.batch_size, src_len, tgt_len);
    check_memory(estimate, || {
        let parameters = match estimate {
            Some(e) => format!("{} parameters, each with its gradient and Adam's two moments", e.parameters),
            None => "more parameters and activations than a usize can count".to_string(),
        };
        format!(
            "training an encoder-decoder with --n-encoder-layers {} --n-decoder-layers {} --n-head {} --n-embd {} \
             --d-ff {} ({parameters}) on --batch-size {} examples of {src_len} + {tgt_len} tokens",
            m.n_encoder_layers, m.n_decoder_layers, m.n_head, m.d_model, m.d_ff, m.batch_size
        )
    })
}

/// The model, its tokenizer and its task from an encoder-decoder checkpoint, dropout off.
fn load(ckpt: &std::path::Path) -> Result<(Transformer<f32>, CharTokenizer, TaskData)> {
    let (model, meta) = load_encdec(ckpt)?;
    model.set_training(false);
    let task = task_of(&meta.source)
        .ok_or_else(|| Error::checkpoint(ckpt, format!("source {:?} is not a built-in task", meta.source)))?;
    let tok = CharTokenizer::from_chars(meta.vocab.chars().collect());
    let data = TaskData::new(task, task.line_len())?;
    if tok.chars() != data.tokenizer.chars() {
        return Err(Error::checkpoint(ckpt, format!("its vocabulary {:?} is not task {}'s", meta.vocab, task.name())));
    }
    Ok((model, tok, data))
}

/// `sample` on an encoder-decoder: the prompt's last character is the decoder's start token and the
/// rest its source; decoded greedily (temperature 0), by sampling, or with a beam.
pub(crate) fn run_sample_encdec(a: &SampleArgs) -> Result<()> {
    let (model, tok, data) = load(&a.ckpt)?;
    let task = data.task;
    let answer_len = data.seq2seq_lengths().1;
    let cfg = SampleConfig {
        max_new_tokens: a.max_new_tokens.unwrap_or(answer_len),
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
    };
    validate(&cfg)?;
    if a.beam == Some(0) || a.show_probs == Some(0) {
        return Err(Error::Config("--beam and --show-probs must be at least 1".into()));
    }
    if let Some(width) = a.beam {
        let c = &model.config;
        // A beam's decoder state: self-attention keys and values per decoder layer, and (once
        // the beam diverges from the others) its own cross-attention keys and values.
        let state_bytes =
            [4, c.n_decoder_layers, c.max_len, c.d_model, 4].iter().try_fold(1usize, |p, &f| p.checked_mul(f));
        super::commands::check_beam_memory(width, c.tgt_vocab, cfg.max_new_tokens, state_bytes)?;
    }
    if a.prompt.as_deref() == Some("") {
        return Err(Error::Config("--prompt must not be empty".into()));
    }
    let mut rng = rng_from_seed(a.seed);
    for i in 0..a.num_samples {
        if i > 0 {
            println!("---------------");
        }
        let prompt = match &a.prompt {
            Some(p) => p.clone(),
            None => task.prompt(&data.sample_digits(Split::Val, &mut rng)),
        };
        let ids = tok.encode(&prompt)?;
        let (start, src) = ids.split_last().expect("the prompt is not empty");
        if src.is_empty() {
            return Err(Error::Config(format!(
                "--prompt {prompt:?} has no source before its last character (the decoder's start token)"
            )));
        }
        let max_len = model.config.max_len;
        if src.len() > max_len || cfg.max_new_tokens > max_len {
            return Err(Error::Config(format!(
                "the model reads and writes at most {max_len} positions; --prompt {prompt:?} has a source of {} and {} new tokens were asked for",
                src.len(),
                cfg.max_new_tokens
            )));
        }
        let mut steps = Vec::new();
        let unusable = |e: UnusableLogits| super::commands::overflowing_weights(&a.ckpt, &model, e.to_string());
        let (out, log_prob) = match a.beam {
            Some(width) => {
                /// A beam's decoder state and the logits of its next token.
                #[derive(Clone)]
                struct Beam {
                    decode: transformer::DecodeState<f32>,
                    next: Vec<f32>,
                }
                let mut decode = transformer::DecodeState::new(&model, src, [1, src.len()], None);
                let next = no_grad(|| decode.step(&model, &[*start])).to_vec(); // (1, tgt_vocab)
                let found = super::commands::beam_search_checked(
                    Beam { decode, next },
                    |b| b.next.clone(),
                    |b, t| b.next = no_grad(|| b.decode.step(&model, &[t])).to_vec(),
                    width,
                    cfg.max_new_tokens,
                    None,
                )
                .map_err(unusable)?;
                (found.tokens, Some(found.log_prob))
            }
            None => {
                let mut state = transformer::DecodeState::new(&model, src, [1, src.len()], None);
                let (mut out, mut last) = (Vec::new(), *start);
                for _ in 0..cfg.max_new_tokens {
                    let logits = no_grad(|| state.step(&model, &[last])).to_vec(); // (1, vocab)
                    if let Some(reason) = unusable_logits(&logits) {
                        return Err(unusable(UnusableLogits { token: out.len() + 1, reason }));
                    }
                    let token = pick_token(&logits, &cfg, &mut rng);
                    if let Some(k) = a.show_probs {
                        steps.push((top_candidates(&logits, k), token));
                    }
                    out.push(token);
                    last = token;
                }
                (out, None)
            }
        };
        let text = tok.decode(&out);
        match task.answer_for_prompt(&prompt) {
            Some(expected) => println!("{prompt}{text}   (correct answer: {expected})"),
            None => println!("{prompt}{text}"),
        }
        if let Some(lp) = log_prob {
            println!("(beam width {}: log-probability {lp:.4})", a.beam.unwrap_or(1));
        }
        if !steps.is_empty() {
            print!("{}", super::commands::probability_table(&Tokenizer::Char(tok.clone()), &steps));
        }
    }
    Ok(())
}

/// `eval` on an encoder-decoder: the mean loss (with the training's label smoothing off: plain
/// cross-entropy) of 20 batches of 64 from the chosen split, and the exact match of greedy
/// decoding on 200 held-out prompts, as one JSON line.
pub(crate) fn run_eval_encdec(a: &EvalArgs) -> Result<()> {
    if a.data.is_some() {
        return Err(Error::Config(
            "an encoder-decoder checkpoint is evaluated on its own task; --data does not apply".into(),
        ));
    }
    let (model, _, data) = load(&a.ckpt)?;
    let split = match a.split {
        super::args::SplitArg::Train => Split::Train,
        super::args::SplitArg::Val => Split::Val,
    };
    let mut rng = rng_from_seed(0);
    let batches = 20;
    let loss: f64 = (0..batches)
        .map(|_| {
            let b = data.seq2seq_batch(split, 64, &mut rng);
            no_grad(|| f64::from(seq2seq_loss(&model, &b, 0.0).item()))
        })
        .sum::<f64>()
        / batches as f64;
    if !loss.is_finite() {
        let what = format!("its loss on the {} split of task {} is {loss}", split.name(), data.task.name());
        return Err(super::commands::overflowing_weights(&a.ckpt, &model, what));
    }
    let graded = grade_seq2seq(&model, &data, 200, 0);
    let exact = crate::train::exact_match(&graded).unwrap_or(0.0);
    let line = serde_json::json!({"split": split.name(), "loss": loss, "batches": batches, "exact_match_held_out": exact, "ckpt": a.ckpt.display().to_string()});
    println!("{line}");
    Ok(())
}

/// `gradcheck --model encdec`: a tiny encoder-decoder (pre- and post-LN) in f64, every parameter
/// against central differences, with the loss the program trains on (label smoothing 0.1).
pub(crate) fn run_gradcheck_encdec(a: &GradcheckArgs) -> Result<()> {
    for norm in [NormPlacement::Post, NormPlacement::Pre] {
        let config = TransformerConfig {
            src_vocab: 7,
            tgt_vocab: 7,
            d_model: 8,
            n_head: 2,
            d_ff: 12,
            n_encoder_layers: 1,
            n_decoder_layers: 1,
            max_len: 5,
            dropout: 0.0,
            tie_weights: false,
            norm,
        };
        let model = Transformer::<f64>::new(config, a.seed);
        let params = model.named_parameters();
        let mut rng = rng_from_seed(a.seed ^ 0x9e37);
        for (name, p) in &params {
            let is_gain = name.split('.').any(|s| s.starts_with("ln")) && name.ends_with("weight");
            p.set_value(tensor::Tensor::rand_normal_with(&p.shape(), if is_gain { 1.0 } else { 0.0 }, 0.5, &mut rng));
        }
        let (src, tgt_in, tgt_out) = ([1, 4, 2, 6, 3, 0, 5, 2], [0, 3, 5, 0, 1, 1], [3, 5, 2, 1, 1, 4]);
        println!(
            "gradient check of a tiny {} encoder-decoder ({} parameters) in f64: eps 1e-6, atol 1e-5, rtol 1e-3",
            if norm == NormPlacement::Post { "post-LN" } else { "pre-LN" },
            model.num_parameters()
        );
        let loss = || model.forward(&src, [2, 4], &tgt_in, [2, 3], None).cross_entropy_smoothed(&tgt_out, None, 0.1);
        match GradCheck::default().check_vars(&params, loss) {
            Ok(report) => print!("{report}"),
            Err(failure) => {
                print!("{}", failure.report);
                return Err(Error::Config(format!("gradient check failed:\n{failure}")));
            }
        }
    }
    println!("every parameter of both passes");
    Ok(())
}
