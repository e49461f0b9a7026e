//! The generation benchmark (`bench --generate`): the report's shape through the library on a
//! small model, the JSON line of the program, and its refusal of flags that do not apply. Speed is
//! measured, never asserted: only shapes, signs and finiteness are checked.

use std::process::{Command, Output};

use gradlab::bench::Workload;
use gradlab::bench_generate::{BUCKET, GenerateOptions, run};
use gradlab::transformer::GptConfig;

fn gradlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).env_remove("RUST_BACKTRACE").output().expect("run gradlab")
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

#[test]
fn small_model_report_has_one_positive_entry_per_bucket() {
    let model =
        GptConfig { vocab_size: 11, block_size: 40, n_layer: 1, n_head: 2, n_embd: 16, dropout: 0.0, bias: false };
    let workload = Workload { model, ..Workload::reference() };
    let r = run(&workload, &GenerateOptions { iters: 2, warmup: 0, threads: Some(1) }).unwrap();
    assert_eq!(r.threads, 1);
    // Positions 2..=40, each timed once per sweep on both paths.
    assert_eq!(r.positions.iter().map(|p| p.context_len).collect::<Vec<_>>(), (2..=40).collect::<Vec<_>>());
    assert!(r.positions.iter().all(|p| p.cached.len() == 2 && p.uncached.len() == 2));
    let b = r.buckets();
    let ranges: Vec<(usize, usize)> = b.iter().map(|b| (b.first, b.last)).collect();
    assert_eq!(ranges, [(1, 16), (17, 32), (33, 40)]);
    for bucket in &b {
        assert!(positive(bucket.cached_ms) && positive(bucket.uncached_ms), "{bucket:?}");
        assert!(positive(bucket.tokens_per_sec()) && positive(bucket.uncached_tokens_per_sec()), "{bucket:?}");
    }
    assert!(positive(r.flatness()));
    let j = r.json();
    assert_eq!(j["tokens_per_sec_by_bucket"].as_array().unwrap().len(), 3);
    assert_eq!(j["ms_per_token_by_position"].as_array().unwrap().len(), 39);
}

#[test]
fn generate_refuses_zero_iters_and_threads() {
    let w = Workload::reference();
    let err = run(&w, &GenerateOptions { iters: 0, warmup: 0, threads: Some(1) }).unwrap_err();
    assert!(err.to_string().contains("--iters"), "{err}");
    let err = run(&w, &GenerateOptions { iters: 1, warmup: 0, threads: Some(0) }).unwrap_err();
    assert!(err.to_string().contains("--threads"), "{err}");
}

#[test]
fn bench_generate_prints_the_json_line() {
    let out = gradlab(&["bench", "--generate", "--iters", "1", "--warmup", "0", "--threads", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().expect("some output");
    let j: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"));
    assert_eq!(j["mode"], "generate");
    assert_eq!(j["threads"], 1);
    let block = Workload::reference().model.block_size;
    assert_eq!(j["block_size"].as_u64(), Some(block as u64));
    for key in ["tokens_per_sec_by_bucket", "ms_per_token_by_bucket"] {
        let values = j[key].as_array().unwrap_or_else(|| panic!("{key} is not an array: {j}"));
        assert_eq!(values.len(), block / BUCKET, "{key}: {j}");
        assert!(values.iter().all(|v| v.as_f64().is_some_and(positive)), "{key}: {j}");
    }
    assert!(j["flatness"].as_f64().is_some_and(positive), "{j}");
    // The human table comes first: one row per bucket.
    for row in ["1-16", "17-32", "33-48", "49-64"] {
        assert!(stdout.lines().any(|l| l.trim_start().starts_with(row)), "no row {row}:\n{stdout}");
    }
}

#[test]
fn generate_with_profile_or_data_is_a_clear_error() {
    for (extra, named) in [(&["--profile"][..], "--profile"), (&["--data", "input.txt"][..], "--data")] {
        let args: Vec<&str> =
            ["bench", "--generate", "--iters", "1", "--warmup", "0"].iter().chain(extra).copied().collect();
        let out = gradlab(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(stderr.contains(named) && stderr.contains("--generate"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing timed or printed");
    }
}

/// The encoder-decoder's decoding benchmark: one timed cached step and one uncached prefix per
/// target position (2 to `max_len`), buckets over them, and the CLI's `--model encdec` prints it;
/// without `--generate` the encoder-decoder is refused (the training bench is the GPT's).
#[test]
fn encoder_decoder_decoding_report() {
    use gradlab::bench_generate::{reference_encdec, run_encdec};
    let config = gradlab::transformer::TransformerConfig {
        d_model: 16,
        n_head: 2,
        d_ff: 32,
        n_encoder_layers: 1,
        n_decoder_layers: 1,
        max_len: 20,
        ..reference_encdec()
    };
    let r = run_encdec(&config, &GenerateOptions { iters: 2, warmup: 0, threads: Some(1) }).unwrap();
    assert_eq!(r.positions.iter().map(|p| p.context_len).collect::<Vec<_>>(), (2..=20).collect::<Vec<_>>());
    assert!(r.positions.iter().all(|p| p.cached.len() == 2 && p.uncached.len() == 2));
    assert_eq!(r.buckets().iter().map(|b| (b.first, b.last)).collect::<Vec<_>>(), [(1, 16), (17, 20)]);
    assert!(positive(r.flatness()) && r.model.starts_with("encoder-decoder"));

    let out = gradlab(&["bench", "--generate", "--model", "encdec", "--iters", "1", "--warmup", "0", "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("model: encoder-decoder 2 + 2 layers") && stdout.contains("flatness"), "{stdout}");
    let refused = gradlab(&["bench", "--model", "encdec", "--iters", "1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--generate"));
}
