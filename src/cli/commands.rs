//! What each subcommand does. Every failure caused by input returns a [`crate::Error`].

use std::path::Path;

use autograd::{GradCheck, Var, dot, no_grad};
use tensor::rng_from_seed;
use transformer::{Gpt, GptConfig, Module};

use super::args::{
    BenchArgs, BuildupArgs, EvalArgs, ExportArgs, GradcheckArgs, GraphArgs, ModelArg, SampleArgs, SplitArg, TrainArgs,
};
use crate::beam::{Beam, beam_search};
use crate::checkpoint;
use crate::data::{IGNORE, Split, Task, TaskData, TextData, Tokenizer};
use crate::error::{Error, Result};
use crate::sample::{
    CachedContext, SampleConfig, UnusableLogits, top_candidates, try_generate_watching, unusable_logits, validate,
};
use crate::train::{MemoryEstimate, Source, TokenizerChoice, TrainConfig, batch_loss, check_memory, train};

/// The training configuration the flags describe (defaults from the chosen source).
pub fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    if let Some(from) = &a.init_from {
        check_init_from_flags(a, from)?;
    }
    let mut c = match (&a.data, &a.task) {
        (Some(path), _) => TrainConfig::for_text(path.clone()),
        (None, Some(name)) => TrainConfig::for_task(Task::from_name(name)?),
        (None, None) => TrainConfig::for_task(Task::Sort),
    };
    c.out_dir = a.out_dir.clone();
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = a.$field { c.$field = v; } )* };
    }
    set!(block_size, batch_size, gradient_accumulation_steps, n_layer, n_head, n_embd, dropout, max_iters);
    set!(
        learning_rate,
        min_lr,
        warmup_iters,
        lr_decay_iters,
        weight_decay,
        beta1,
        beta2,
        grad_clip,
        eval_interval,
        eval_iters,
        seed
    );
    if a.max_iters.is_some() && a.lr_decay_iters.is_none() {
        c.lr_decay_iters = c.max_iters; // nanoGPT: decay over the whole run unless told otherwise
    }
    if c.warmup_iters > c.lr_decay_iters && a.warmup_iters.is_none() {
        c.warmup_iters = c.lr_decay_iters / 10;
    }
    c.tokenizer = tokenizer_choice(a)?;
    c.bias = a.bias;
    c.threads = a.threads;
    c.resume = a.resume;
    c.init_from = a.init_from.clone();
    c.init_block_size = a.init_from.as_ref().and(a.block_size);
    c.progress = !a.no_progress;
    if let Source::Task(task) = c.source
        && a.block_size.is_none()
    {
        c.block_size = task.line_len() - 1;
    }
    c.validate()?;
    Ok(c)
}

/// Refuses the flags that contradict `--init-from from`: the checkpoint fixes the model and its
/// tokenizer (only `--dropout` of the model's settings may be set, for the fine-tuning run, and
/// `--block-size`, a context no longer than the checkpoint's, to which its positions are cropped), and
/// it is a GPT of a text, fine-tuned on a text (`--data`), in a new run (not `--resume`).
fn check_init_from_flags(a: &TrainArgs, from: &Path) -> Result<()> {
    let from = from.display();
    if a.resume {
        return Err(Error::Config(format!(
            "--init-from {from} starts a new run from a checkpoint's weights, --resume continues the run in \
             --out-dir: choose one"
        )));
    }
    if a.model == ModelArg::Encdec || a.task.is_some() {
        let what = if a.model == ModelArg::Encdec { "--model encdec".to_string() } else { "--task".to_string() };
        return Err(Error::Config(format!(
            "--init-from {from} fine-tunes a GPT on a text (--data); {what} cannot be combined with it"
        )));
    }
    if a.data.is_none() {
        return Err(Error::Config(format!("--init-from {from} needs --data, the text to fine-tune on")));
    }
    let fixed = [
        ("--n-layer", a.n_layer.is_some()),
        ("--n-head", a.n_head.is_some()),
        ("--n-embd", a.n_embd.is_some()),
        ("--bias", a.bias),
        ("--tokenizer", a.tokenizer.is_some()),
        ("--vocab-size", a.vocab_size.is_some()),
    ];
    if let Some((flags, is)) = given_flags(&fixed) {
        return Err(Error::Config(format!(
            "{flags} {is} fixed by the checkpoint of --init-from {from}: fine-tuning keeps its model and its \
             tokenizer, so leave {} out (--dropout and a shorter --block-size may be set)",
            if is == "is" { "it" } else { "them" }
        )));
    }
    Ok(())
}

/// What `--tokenizer` and `--vocab-size` ask for: `--vocab-size` goes with `--tokenizer bpe` only,
/// and `bpe` needs it.
fn tokenizer_choice(a: &TrainArgs) -> Result<TokenizerChoice> {
    let choice = match (a.tokenizer.as_deref(), a.vocab_size) {
        (None | Some("char"), None) => TokenizerChoice::Char,
        (Some("bpe"), Some(vocab_size)) => TokenizerChoice::Bpe { vocab_size },
        (Some("bpe"), None) => {
            return Err(Error::Config("--tokenizer bpe needs --vocab-size N (at least 256)".into()));
        }
        (Some(dir), None) => TokenizerChoice::Dir(dir.into()),
        (_, Some(_)) => {
            return Err(Error::Config(
                "--vocab-size is the size of a BPE to learn: it goes with --tokenizer bpe".into(),
            ));
        }
    };
    if a.data.is_none() && choice != TokenizerChoice::Char {
        return Err(Error::Config(
            "--tokenizer bpe or DIR is for text (--data): tasks are written in their own characters".into(),
        ));
    }
    Ok(choice)
}

/// The held-out exact match and the first five answers, as `train` prints them for a task.
pub(crate) fn print_graded(accuracy: f64, graded: &[crate::train::Graded]) {
    println!("\nheld-out exact match: {:.1}% of {} prompts never seen in training", 100.0 * accuracy, graded.len());
    println!("examples (prompt -> model's answer, correct answer):");
    for g in graded.iter().take(5) {
        println!("  {}{}   {} {}", g.prompt, g.output, if g.correct() { "ok  " } else { "WRONG" }, g.expected);
    }
}

/// The flags among `flags` (name, whether given) that were given, joined for a message, with the
/// verb that agrees ("is" or "are"); `None` when none was. For refusing one model's flags when
/// the other model is trained.
pub(crate) fn given_flags(flags: &[(&'static str, bool)]) -> Option<(String, &'static str)> {
    let given: Vec<&str> = flags.iter().filter_map(|&(flag, set)| set.then_some(flag)).collect();
    (!given.is_empty()).then(|| (given.join(", "), if given.len() == 1 { "is" } else { "are" }))
}

/// `train`: trains, then prints what was learned.
pub fn run_train(a: &TrainArgs) -> Result<()> {
    if let Some(from) = &a.init_from {
        check_init_from_flags(a, from)?;
    }
    if a.model == ModelArg::Encdec {
        return super::encdec::run_train_encdec(a);
    }
    let encdec_only = [
        ("--n-encoder-layers", a.n_encoder_layers.is_some()),
        ("--n-decoder-layers", a.n_decoder_layers.is_some()),
        ("--d-ff", a.d_ff.is_some()),
        ("--label-smoothing", a.label_smoothing.is_some()),
        ("--norm", a.norm.is_some()),
        ("--lr-factor", a.lr_factor.is_some()),
    ];
    if let Some((flags, is)) = given_flags(&encdec_only) {
        return Err(Error::Config(format!(
            "{flags} {is} for the encoder-decoder: add --model encdec (see train --help)"
        )));
    }
    let cfg = train_config(a)?;
    let report = train(&cfg)?;
    if let Some(acc) = report.accuracy() {
        print_graded(acc, &report.graded);
    } else {
        let (model, meta) = checkpoint::load_model(&cfg.out_dir)?;
        model.set_training(false);
        let tok = meta.tokenizer;
        let start = tok.encode("\n").unwrap_or_else(|_| vec![0]);
        let sc = SampleConfig { max_new_tokens: 200, temperature: 0.8, top_k: None, top_p: None };
        let out = try_generate_watching(&model, &start, &sc, &mut rng_from_seed(cfg.seed), |_, _| {})
            .map_err(|e| overflowing_weights(&cfg.out_dir, &model, e.to_string()))?;
        println!("\na sample:\n{}", tok.decode_after(&start, &out));
    }
    let last = report.evals.last();
    println!(
        "\ntrained {} steps in {:.1}s{}; checkpoint, metrics.jsonl, losses.jsonl and plots ({}) in {}",
        report.losses.len(),
        report.elapsed_s,
        last.map(|r| format!(", final val loss {:.4}", r.val_loss)).unwrap_or_default(),
        report
            .plots
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.out_dir.display()
    );
    println!("next: cargo run --release -- sample --ckpt {}", cfg.out_dir.display());
    Ok(())
}

pub(crate) fn task_of(source: &str) -> Option<Task> {
    source.strip_prefix("task:").and_then(|n| Task::from_name(n).ok())
}

/// `sample`: generates from a checkpoint.
pub fn run_sample(a: &SampleArgs) -> Result<()> {
    if checkpoint::model_kind(&a.ckpt)? == checkpoint::ModelKind::EncDec {
        return super::encdec::run_sample_encdec(a);
    }
    let (model, meta) = checkpoint::load_model(&a.ckpt)?;
    // Sampling panics on a NaN logit (a diverged model): refuse such weights up front.
    if let Some((name, _)) =
        model.named_parameters().iter().find(|(_, p)| p.value().to_vec().iter().any(|x| !x.is_finite()))
    {
        return Err(Error::checkpoint(
            checkpoint::resolve(&a.ckpt)?,
            format!("parameter {name} holds NaN or infinite values (the run diverged); it cannot generate text"),
        ));
    }
    model.set_training(false);
    let tok = &meta.tokenizer;
    let task = task_of(&meta.source);
    let mut rng = rng_from_seed(a.seed);
    if a.prompt.as_deref() == Some("") {
        return Err(Error::Config("--prompt must not be empty".into()));
    }
    // Without --prompt: a fresh held-out prompt per sample for a task, a newline for text.
    let task_data = match task {
        Some(t) if a.prompt.is_none() => Some(TaskData::new(t, meta.config.block_size)?),
        _ => None,
    };
    let default_len = task.map_or(500, |t| t.answer(&vec![0; t.digits()]).len());
    let cfg = SampleConfig {
        max_new_tokens: a.max_new_tokens.unwrap_or(default_len),
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
    };
    validate(&cfg)?;
    if a.beam == Some(0) {
        return Err(Error::Config("--beam must be at least 1".into()));
    }
    if a.show_probs == Some(0) {
        return Err(Error::Config("--show-probs must be at least 1".into()));
    }
    if let Some(width) = a.beam {
        let c = &meta.config;
        // A beam's context: a KV cache of keys and values per block, up to block_size positions.
        let state_bytes = [2, c.n_layer, c.block_size, c.n_embd, 4].iter().try_fold(1usize, |p, &f| p.checked_mul(f));
        check_beam_memory(width, c.vocab_size, cfg.max_new_tokens, state_bytes)?;
    }
    for i in 0..a.num_samples {
        if i > 0 {
            println!("---------------");
        }
        let prompt = match (&a.prompt, &task_data) {
            (Some(p), _) => p.clone(),
            (None, Some(d)) => d.task.prompt(&d.sample_digits(Split::Val, &mut rng)),
            (None, None) => "\n".to_string(),
        };
        let ids = tok.encode(&prompt)?;
        let mut steps = Vec::new(); // (top candidates, picked) per generated token, for --show-probs
        let (out, log_prob) = match a.beam {
            Some(width) => {
                let found = beam_search_checked(
                    CachedContext::new(&model, &ids),
                    |ctx| ctx.logits().to_vec(),
                    |ctx, t| ctx.push(t),
                    width,
                    cfg.max_new_tokens,
                    None,
                )
                .map_err(|e| overflowing_weights(&a.ckpt, &model, e.to_string()))?;
                (found.tokens, Some(found.log_prob))
            }
            None => {
                let k = a.show_probs.unwrap_or(0);
                let out = try_generate_watching(&model, &ids, &cfg, &mut rng, |logits, picked| {
                    if k > 0 {
                        steps.push((top_candidates(logits, k), picked));
                    }
                })
                .map_err(|e| overflowing_weights(&a.ckpt, &model, e.to_string()))?;
                (out, None)
            }
        };
        // Decoded after the prompt's tokens, so a character split between them stays whole.
        let text = tok.decode_after(&ids, &out);
        match task.and_then(|t| t.answer_for_prompt(&prompt)) {
            Some(expected) => println!("{prompt}{text}   (correct answer: {expected})"),
            None => println!("{prompt}{text}"),
        }
        if let Some(lp) = log_prob {
            println!("(beam width {}: log-probability {lp:.4})", a.beam.unwrap_or(1));
        }
        if !steps.is_empty() {
            print!("{}", probability_table(tok, &steps));
        }
    }
    Ok(())
}

/// The error for a checkpoint whose weights are all finite but whose forward pass is not (`what`
/// says what came out NaN or infinite): weights so large that the computation overflows `f32`.
/// Names the weights file and the parameter with the largest magnitude.
pub(crate) fn overflowing_weights(ckpt: &Path, model: &dyn Module<f32>, what: String) -> Error {
    let path = checkpoint::resolve(ckpt).unwrap_or_else(|_| ckpt.to_path_buf());
    let largest = model
        .named_parameters()
        .into_iter()
        .map(|(name, p)| (name, p.value().to_vec().iter().fold(0f32, |m, x| m.max(x.abs()))))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let largest = largest.map(|(name, m)| format!(" (up to {m:.2e}, in {name})")).unwrap_or_default();
    Error::checkpoint(
        path,
        format!(
            "{what}; its weights are finite but so large{largest} that the forward pass overflows f32, \
             so this model cannot be used (was it trained with too high a learning rate?)"
        ),
    )
}

/// [`beam_search`] over states from a checkpoint's model: logits no token can be drawn from
/// ([`unusable_logits`]) end the search with an error instead of a panic. Until then the search,
/// its tokens and its score are exactly [`beam_search`]'s; after, no further forward pass runs.
pub(crate) fn beam_search_checked<S: Clone>(
    start: S,
    logits: impl Fn(&S) -> Vec<f32>,
    push: impl Fn(&mut S, usize),
    width: usize,
    max_new_tokens: usize,
    end: Option<usize>,
) -> std::result::Result<Beam, UnusableLogits> {
    let bad: std::cell::RefCell<Option<UnusableLogits>> = std::cell::RefCell::new(None);
    // Each state carries how many tokens it has generated, for the message.
    let found = beam_search(
        (start, 0usize),
        |(state, generated)| {
            if bad.borrow().is_some() {
                return vec![0.0]; // one certain token: every beam ends quickly, with no more work
            }
            let row = logits(state);
            match unusable_logits(&row) {
                None => row,
                Some(reason) => {
                    *bad.borrow_mut() = Some(UnusableLogits { token: generated + 1, reason });
                    vec![0.0]
                }
            }
        },
        |(state, generated), token| {
            if bad.borrow().is_none() {
                push(state, token);
            }
            *generated += 1;
        },
        width,
        max_new_tokens,
        end,
    );
    match bad.into_inner() {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Refuses `--beam width` when its beams cannot fit in memory: up to `min(width,
/// vocab^new_tokens)` beams at once, each with its own decoder state of `state_bytes` (`None`:
/// more than a `usize` counts), its tokens, and a candidate per token of the vocabulary; the
/// beams of a step and of the next exist together.
pub(crate) fn check_beam_memory(
    width: usize,
    vocab: usize,
    new_tokens: usize,
    state_bytes: Option<usize>,
) -> Result<()> {
    let reachable = u32::try_from(new_tokens).ok().and_then(|n| vocab.checked_pow(n));
    let beams = reachable.map_or(width, |r| r.min(width));
    // A candidate is a score, a beam index and a token (32 bytes); a logit is 4.
    let per_beam = [state_bytes, new_tokens.checked_mul(8), vocab.checked_mul(36)]
        .into_iter()
        .try_fold(0usize, |acc, b| acc.checked_add(b?))
        .and_then(|b| b.checked_mul(2));
    let bytes = per_beam.and_then(|b| b.checked_mul(beams));
    check_memory(bytes.map(|bytes| MemoryEstimate { parameters: 0, bytes }), || {
        format!("--beam {width} ({beams} beams at once, each with its own decoder state)")
    })
}

/// `--show-probs`: one line per generated token: the token picked, then the most likely
/// candidates with their probabilities (`"e" 0.412`, `"q" 3.1e-5`), characters shown escaped
/// and a BPE token that holds part of a character as its bytes ([`Tokenizer::token_label`]).
pub(crate) fn probability_table(tok: &Tokenizer, steps: &[(Vec<(usize, f64)>, usize)]) -> String {
    let show = |id: usize| tok.token_label(id);
    let mut out = String::from("step  picked  most likely next tokens (probability)\n");
    for (i, (top, picked)) in steps.iter().enumerate() {
        // Three decimals, or the exponent for a probability below 0.001 (which would print as 0.000).
        let prob = |p: f64| if p >= 1e-3 { format!("{p:.3}") } else { format!("{p:.1e}") };
        let candidates: Vec<String> = top.iter().map(|&(id, p)| format!("{} {}", show(id), prob(p))).collect();
        out.push_str(&format!("{:>4}  {:<6}  {}\n", i + 1, show(*picked), candidates.join("  ")));
    }
    out
}

/// `eval`: mean cross-entropy over every non-overlapping block of a split, in order.
pub fn run_eval(a: &EvalArgs) -> Result<()> {
    if checkpoint::model_kind(&a.ckpt)? == checkpoint::ModelKind::EncDec {
        return super::encdec::run_eval_encdec(a);
    }
    let Some(data) = &a.data else {
        return Err(Error::Config("eval of a GPT checkpoint needs --data (a text file, or shakespeare)".into()));
    };
    let (model, meta) = checkpoint::load_model(&a.ckpt)?;
    if a.batch_size == 0 {
        return Err(Error::Config("--batch-size must be at least 1".into()));
    }
    let tok = meta.tokenizer.clone();
    let loaded = crate::data::read_text_and_warn(data)?; // a file, or a built-in text by name
    let block = meta.config.block_size;
    let data = TextData::with_tokenizer(&loaded.text, &loaded.name, tok, block)?;
    let split = match a.split {
        SplitArg::Train => Split::Train,
        SplitArg::Val => Split::Val,
    };
    // A batch holds at most every block of the split.
    let blocks = data.tokens(split).len().saturating_sub(1) / block;
    let rows = a.batch_size.min(blocks.max(1));
    check_memory(MemoryEstimate::gpt_evaluation(&meta.config, rows, block), || {
        format!(
            "evaluating a GPT of {} layers of width {} over a vocabulary of {} on --batch-size {} blocks \
             of {block} tokens ({rows} in a batch here)",
            meta.config.n_layer, meta.config.n_embd, meta.config.vocab_size, a.batch_size
        )
    })?;
    model.set_training(false);
    let (mut sum, mut count) = (0.0f64, 0usize);
    for batch in data.sequential_batches(split, a.batch_size, block) {
        let n = batch.y.iter().filter(|&&y| y != IGNORE).count();
        let loss = no_grad(|| batch_loss(&model, &batch).item() as f64);
        if !loss.is_finite() {
            return Err(overflowing_weights(
                &a.ckpt,
                &model,
                format!("its loss on the {} split of {} is {loss}", split.name(), loaded.name),
            ));
        }
        sum += loss * n as f64;
        count += n;
    }
    let line = serde_json::json!({"split": split.name(), "loss": sum / count as f64, "tokens": count, "blocks": count / block, "ckpt": a.ckpt.display().to_string()});
    println!("{line}");
    Ok(())
}

/// `export`: nanoGPT names and layouts.
pub fn run_export(a: &ExportArgs) -> Result<()> {
    if checkpoint::model_kind(&a.ckpt)? == checkpoint::ModelKind::EncDec {
        return Err(Error::Config(format!(
            "{} holds an encoder-decoder; nanoGPT's model is decoder-only, so only GPT checkpoints can be exported",
            a.ckpt.display()
        )));
    }
    let (model, _) = checkpoint::load_model(&a.ckpt)?;
    // Writing over the checkpoint itself would lose it: nanoGPT's layout cannot be loaded back.
    let weights = checkpoint::resolve(&a.ckpt)?;
    for own in [weights.clone(), weights.with_file_name(checkpoint::STATE_FILE)] {
        if let (Ok(out), Ok(own)) = (std::fs::canonicalize(&a.out), std::fs::canonicalize(&own))
            && out == own
        {
            return Err(Error::Config(format!(
                "--out {} is the checkpoint's own {}; choose another file",
                a.out.display(),
                own.file_name().unwrap_or_default().to_string_lossy()
            )));
        }
    }
    checkpoint::export_nanogpt(&model, &a.out)?;
    println!("wrote {} ({} parameters under nanoGPT's names)", a.out.display(), model.num_parameters());
    if model.style().activation != transformer::GptStyle::default().activation {
        println!(
            "note: this model computes GPT-2's tanh GELU; nanoGPT's model.py computes the erf GELU (nn.GELU()), \
             so its logits will be close to this program's but not equal (nn.GELU(approximate='tanh') makes them \
             equal); the file's \"activation\" entry records it, and import --format nanogpt reads it back"
        );
    }
    if model.style().layer_norm_eps != transformer::GptStyle::default().layer_norm_eps {
        println!(
            "note: this model's layer norms use eps {}; nanoGPT's use 1e-5 (the file's \"layer_norm_eps\" entry \
             records it)",
            model.style().layer_norm_eps
        );
    }
    Ok(())
}

/// The tiny model `gradcheck` and `graph` use.
fn tiny_config() -> GptConfig {
    GptConfig { vocab_size: 5, block_size: 4, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: true }
}

fn tiny_batch(seed: u64) -> (Vec<usize>, Vec<usize>) {
    use rand::Rng;
    let mut rng = rng_from_seed(seed);
    let ids = (0..8).map(|_| rng.random_range(0..5)).collect();
    let targets = (0..8).map(|_| rng.random_range(0..5)).collect();
    (ids, targets)
}

/// `gradcheck`: every parameter of a tiny GPT in f64 against finite differences.
///
/// The parameters are redrawn at a scale of about 1 first (norm gains around 1, everything else
/// Normal(0, 0.5)): at GPT-2's initial scale of 0.02 most gradients would be smaller than the
/// absolute tolerance, and the check could pass whatever backward computed.
pub fn run_gradcheck(a: &GradcheckArgs) -> Result<()> {
    if a.model == ModelArg::Encdec {
        return super::encdec::run_gradcheck_encdec(a);
    }
    let model = Gpt::<f64>::new(tiny_config(), a.seed);
    let params = model.named_parameters();
    let mut rng = rng_from_seed(a.seed ^ 0x9e37);
    for (name, p) in &params {
        let is_gain = name.split('.').any(|s| s.starts_with("ln")) && name.ends_with("weight");
        let mean = if is_gain { 1.0 } else { 0.0 };
        p.set_value(tensor::Tensor::rand_normal_with(&p.shape(), mean, 0.5, &mut rng));
    }
    let (ids, targets) = tiny_batch(a.seed);
    println!(
        "gradient check of a tiny GPT ({} parameters, redrawn at scale ~1) in f64: central differences with eps 1e-6, atol 1e-5, rtol 1e-3",
        model.num_parameters()
    );
    match GradCheck::default().check_vars(&params, || model.loss(&ids, &targets, [2, 4])) {
        Ok(report) => {
            print!("{report}");
            println!("all {} parameters pass", params.len());
            Ok(())
        }
        Err(failure) => {
            print!("{}", failure.report);
            Err(Error::Config(format!("gradient check failed:\n{failure}")))
        }
    }
}

/// `graph`: the DOT graph of one forward and backward pass of a tiny GPT.
pub fn run_graph(a: &GraphArgs) -> Result<()> {
    let model = Gpt::<f32>::new(GptConfig { n_layer: 1, ..tiny_config() }, 0);
    let (ids, targets) = tiny_batch(0);
    let loss: Var<f32> = model.loss(&ids, &targets, [2, 4]);
    let grads = loss.backward_retain_all();
    let text = dot(&loss).with_gradients(&grads).to_string();
    write_file(&a.out, text.as_bytes())?;
    println!(
        "wrote {} ({} lines); render with: dot -Tsvg {} -o graph.svg",
        a.out.display(),
        text.lines().count(),
        a.out.display()
    );
    Ok(())
}

/// `bench`: the training benchmark, or with `--generate` the generation benchmark.
pub fn run_bench(a: &BenchArgs) -> Result<()> {
    if a.generate {
        if a.profile {
            return Err(Error::Config(
                "--profile cannot be combined with --generate (the profile is of a training step)".into(),
            ));
        }
        if let Some(path) = &a.data {
            return Err(Error::Config(format!(
                "--data {} cannot be combined with --generate (generation is timed on random weights, no data)",
                path.display()
            )));
        }
        let opts = crate::bench_generate::GenerateOptions { iters: a.iters, warmup: a.warmup, threads: a.threads };
        return match a.model {
            ModelArg::Gpt => crate::bench_generate::main(&opts),
            ModelArg::Encdec => crate::bench_generate::main_encdec(&opts),
        };
    }
    if a.model == ModelArg::Encdec {
        return Err(Error::Config(
            "--model encdec is timed with --generate (decoding); the training bench is the GPT's".into(),
        ));
    }
    crate::bench::main(&crate::bench::BenchOptions {
        iters: a.iters,
        warmup: a.warmup,
        threads: a.threads,
        data: a.data.clone(),
        profile: a.profile,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    checkpoint::write_atomic(path, bytes)
}

/// `buildup`: train the chosen stages, print their table, and write the results and the chart
/// when asked.
pub fn run_buildup(a: &BuildupArgs) -> Result<()> {
    use crate::buildup::{self, BuildupConfig, STAGES, Stage};
    let stages: Vec<Stage> = if a.stages.is_empty() {
        STAGES.to_vec()
    } else {
        a.stages
            .iter()
            .map(|&n| Stage::from_number(n).ok_or_else(|| Error::Config(format!("--stage {n}: stages are 1 to 6"))))
            .collect::<Result<_>>()?
    };
    if a.steps == 0 {
        return Err(Error::Config("--steps must be at least 1".into()));
    }
    let cfg = BuildupConfig { steps: a.steps, ..BuildupConfig::default() };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = a.threads {
        builder = builder.num_threads(n);
    }
    let pool =
        builder.build().map_err(|e| Error::Config(format!("cannot start {} threads: {e}", a.threads.unwrap_or(0))))?;
    let results = pool.install(|| buildup::run(&stages, &cfg, true))?;
    print!("{}", buildup::markdown_table(&results));
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create the output directory", dir, e))?;
        let json = serde_json::to_string_pretty(&results).expect("results serialise") + "\n";
        checkpoint::write_atomic(&dir.join("buildup.json"), json.as_bytes())?;
        checkpoint::write_atomic(&dir.join("buildup.svg"), buildup::chart_svg(&results)?.as_bytes())?;
        println!("wrote {} and {}", dir.join("buildup.json").display(), dir.join("buildup.svg").display());
    }
    Ok(())
}
