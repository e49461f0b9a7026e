//! The training benchmark and the per-kind profiler: the FLOP formula against a count of the
//! products in a real graph, the `bench` command's output, and that profiling is free when off
//! and never changes a result when on.

use std::process::Command;
use std::time::Duration;

use gradlab::autograd::{self, Var, profile, topological_order};
use gradlab::bench::{BenchOptions, Workload, matmul_flops, run};
use gradlab::tensor::{Tensor, rng_from_seed};
use gradlab::transformer::{Gpt, GptConfig, LayerNorm};
use rand::Rng;

/// Matrix-product FLOPs of one forward and backward pass, counted from the graph itself: a
/// `matmul` node is `2 * numel(out) * k` forward, and as much again per operand that gets a
/// gradient; a fused `attention` node (three inputs, or one packed `(B, T, 3 d)` input) is its two
/// products forward (`Q K^T` and `P V`) and four backward (`dV`, `dP`, `dQ`, `dK`).
fn count_graph_flops(loss: &Var<f32>) -> (u64, u64) {
    let (mut forward, mut backward) = (0u64, 0u64);
    for node in topological_order(loss) {
        let inputs = node.inputs();
        match node.op_name() {
            Some("matmul") => {
                let k = *inputs[0].shape().last().unwrap() as u64;
                let flops = 2 * node.numel() as u64 * k;
                forward += flops;
                backward += flops * inputs.iter().filter(|v| v.requires_grad()).count() as u64;
            }
            Some("attention") => {
                // (..., Tq, Tk) scores, and the widths of the query/key and value rows.
                let (scores, d, dv) = if inputs.len() == 3 {
                    let (q, k) = (inputs[0].shape(), inputs[1].shape());
                    let n = q.len();
                    (q[..n - 1].iter().product::<usize>() * k[n - 2], q[n - 1], *inputs[2].shape().last().unwrap())
                } else {
                    // attention_packed: self-attention, output (B, h, T, dh).
                    let o = node.shape();
                    (o[0] * o[1] * o[2] * o[2], o[3], o[3])
                };
                let flops = 2 * (scores * d) as u64 + 2 * (scores * dv) as u64;
                forward += flops;
                backward += 2 * flops;
            }
            _ => {}
        }
    }
    (forward, backward)
}

#[test]
fn flop_formula_matches_the_products_in_the_graph() {
    let configs = [
        (GptConfig { vocab_size: 7, block_size: 5, n_layer: 2, n_head: 2, n_embd: 8, dropout: 0.0, bias: false }, 3),
        (GptConfig { vocab_size: 11, block_size: 6, n_layer: 1, n_head: 3, n_embd: 12, dropout: 0.0, bias: true }, 2),
    ];
    for (config, batch) in configs {
        let model = Gpt::<f32>::new(config, 0);
        let mut rng = rng_from_seed(1);
        let n = batch * config.block_size;
        let ids: Vec<usize> = (0..n).map(|_| rng.random_range(0..config.vocab_size)).collect();
        let targets: Vec<usize> = (0..n).map(|_| rng.random_range(0..config.vocab_size)).collect();
        let loss = model.loss(&ids, &targets, [batch, config.block_size]);
        let (forward, backward) = count_graph_flops(&loss);
        let f = matmul_flops(&config, batch);
        assert!(forward > 0);
        assert_eq!(f.forward(), forward, "{config:?}: formula {f:?}");
        assert_eq!(f.backward(), backward, "{config:?}");
        assert_eq!(f.total(), forward + backward);
    }
}

#[test]
fn reference_flops_by_hand() {
    // N = 12 * 64 = 768, d = 128, T = 64, L = 4, V = 65:
    // L (24 N d^2 + 4 N T d) + 2 N d V = 4 (301989888 + 25165824) + 12779520.
    let w = Workload::reference();
    let f = matmul_flops(&w.model, w.batch_size);
    assert_eq!(f.forward(), 4 * (301_989_888 + 25_165_824) + 12_779_520);
    assert_eq!(f.total(), 3_964_207_104);
}

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).arg("bench").args(args).output().expect("run gradlab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "bench {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn json_line(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().expect("some output");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

#[test]
fn bench_prints_the_json_line() {
    let stdout = bench(&["--iters", "2", "--warmup", "1", "--threads", "1"]);
    let j = json_line(&stdout);
    for key in ["ms_per_step", "tokens_per_sec", "gflops", "threads"] {
        assert!(j[key].as_f64().is_some_and(|v| v > 0.0), "{key} missing or not positive: {j}");
    }
    assert_eq!(j["threads"], 1);
    let ms = j["ms_per_step"].as_f64().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
    assert!(close(j["tokens_per_sec"].as_f64().unwrap(), 768.0 / (ms / 1e3)), "{j}");
    assert!(close(j["gflops"].as_f64().unwrap(), 3.964207104 / (ms / 1e3)), "{j}");
    assert!(stdout.contains("3.964 GFLOP"), "{stdout}");
    assert!(!stdout.contains("share"), "no profile table without --profile:\n{stdout}");
    // One thread: no hand-off between threads to measure.
    assert!(j["round_trip_ns"].is_null(), "{j}");
    assert!(!stdout.contains("back and forth"), "{stdout}");
}

#[test]
fn bench_rejects_bad_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(["bench", "--iters", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--iters"));
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(["bench", "--data", "/no/such/file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file"));
}

#[test]
fn profile_prints_every_kind_and_the_shares_sum_to_100() {
    let stdout = bench(&["--iters", "2", "--warmup", "1", "--profile"]);
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !(l.starts_with("kind") && l.contains("share")))
        .take_while(|l| !l.starts_with("total"))
        .collect();
    assert!(table.len() > profile::KINDS.len(), "no profile table:\n{stdout}");
    let mut sum = 0.0;
    for kind in profile::KINDS {
        let line = table
            .iter()
            .find(|l| l.starts_with(kind) && l[kind.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no row for {kind}:\n{stdout}"));
        let share: f64 = line
            .split_whitespace()
            .find_map(|w| w.strip_suffix('%'))
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no share in {line:?}"));
        sum += share;
    }
    // Eleven shares each rounded to 0.1%.
    assert!((sum - 100.0).abs() <= 0.6, "shares sum to {sum}:\n{stdout}");
    let j = json_line(&stdout);
    // The layers this workload is made of all show up. Read from the JSON's unrounded times: a
    // printed share can round to 0.0% when a busy machine stretches another kind's time.
    for kind in [profile::MATMUL, profile::ATTENTION, profile::LAYER_NORM, profile::ELEMENTWISE, profile::OPTIMIZER] {
        assert!(j["profile_ms"][kind].as_f64().is_some_and(|ms| ms > 0.0), "{kind} has no time:\n{stdout}");
    }
    let per_kind: f64 = profile::KINDS.iter().map(|k| j["profile_ms"][k].as_f64().unwrap()).sum();
    assert!(per_kind > 0.0 && per_kind <= 1.01 * j["max_ms"].as_f64().unwrap(), "{j}");
}

#[test]
fn profiling_off_records_nothing() {
    assert!(!profile::is_enabled());
    let before = profile::hook_calls();
    // Ops (from_op), scopes, backward passes and graph drops: every kind of hook, many times.
    let x = Var::parameter(Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]));
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = y.add_scalar(1e-6);
    }
    let _ = y.sum_all().backward();
    drop(y);
    let ln = LayerNorm::<f32>::new(2, true);
    let _ = profile::scope(profile::OPTIMIZER, || ln.forward(&x.unsqueeze(0)).sum_all().backward());
    let model = Gpt::<f32>::new(
        GptConfig { vocab_size: 5, block_size: 4, n_layer: 1, n_head: 2, n_embd: 8, dropout: 0.0, bias: false },
        0,
    );
    let _ = model.loss(&[1, 2, 3, 4], &[2, 3, 4, 0], [1, 4]).backward();
    assert_eq!(profile::hook_calls(), before, "a hook did profiling work while profiling was off");

    // The same kind of work while recording does move the counter and is charged by kind.
    let (_, p) = profile::record(|| {
        let mut y = x.clone();
        for _ in 0..1000 {
            y = y.add_scalar(1e-6);
        }
        let _ = y.sum_all().backward();
    });
    assert!(profile::hook_calls() > before + 1000);
    assert_eq!(p.get(profile::ELEMENTWISE).forward_ops, 1001);
    assert_eq!(p.get(profile::ELEMENTWISE).backward_ops, 1001);
    assert!(!profile::is_enabled());
}

#[test]
fn ops_in_a_scope_are_charged_to_it_forward_and_backward() {
    let x = Var::parameter(Tensor::<f32>::rand_normal_with(&[3, 4], 0.0, 1.0, &mut rng_from_seed(0)));
    let ln = LayerNorm::<f32>::new(4, false);
    let w = Var::parameter(Tensor::<f32>::ones(&[4, 4]));
    let composed = |x: &Var<f32>| autograd::composed::layer_norm(x, &ln.weight, None, 1e-5);
    let (_, p) =
        profile::record(|| profile::scope(profile::LAYER_NORM, || composed(&x)).matmul(&w).sum_all().backward());
    let norm = p.get(profile::LAYER_NORM);
    // mean, sub, var, add_scalar, rsqrt, mul, mul: every one of them tagged, forward and backward.
    assert_eq!((norm.forward_ops, norm.backward_ops), (7, 7), "{p}");
    // The fused layer norm is one op, charged to layer norm by its name.
    let (_, p) = profile::record(|| ln.forward(&x).matmul(&w).sum_all().backward());
    let norm = p.get(profile::LAYER_NORM);
    assert_eq!((norm.forward_ops, norm.backward_ops), (1, 1), "{p}");
    assert_eq!((p.get(profile::MATMUL).forward_ops, p.get(profile::MATMUL).backward_ops), (1, 1), "{p}");
    assert_eq!(p.get(profile::ELEMENTWISE).backward_ops, 1, "only sum_all: {p}");
    assert!(p.get(profile::GRAPH).time > Duration::ZERO, "{p}");
    assert_eq!(p.kinds().iter().map(|k| k.time).sum::<Duration>(), p.total, "{p}");
}

#[test]
fn profiled_and_unprofiled_runs_give_bit_identical_losses() {
    let opts = BenchOptions { iters: 3, warmup: 1, threads: Some(2), data: None, profile: false };
    let plain = run(&Workload::reference(), &opts).unwrap();
    let profiled = run(&Workload::reference(), &BenchOptions { profile: true, ..opts }).unwrap();
    assert_eq!(plain.losses.len(), 4);
    let bits = |l: &[f32]| l.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&plain.losses), bits(&profiled.losses));
    assert!(plain.losses.iter().all(|l| l.is_finite()));
    assert!(plain.profile.is_none());
    // Two threads: the hand-off between them was measured.
    assert!(plain.round_trip_ns.is_some_and(|ns| ns > 0.0 && ns.is_finite()), "{:?}", plain.round_trip_ns);
    let p = profiled.profile.expect("profile recorded");
    assert_eq!(p.runs, 3);
    assert_eq!(p.kinds().iter().map(|k| k.time).sum::<Duration>(), p.total);
    // The recorded steps are the timed ones: their total is inside the measured time.
    assert!(p.total <= profiled.step_times.iter().sum::<Duration>());
}
