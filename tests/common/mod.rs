//! Helpers shared by the integration tests (`mod common;` in each test file that needs them).
//! Not every test binary uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gradlab::transformer::Module;

/// A fresh, empty directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory named after `name`, the process id and a counter (unique across the tests
    /// of one binary running in parallel, and across binaries).
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gradlab-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// About 4 KB of text with structure to learn: words drawn from a small list by a fixed LCG
/// started at `seed`, in lines of about 60 characters.
pub fn generated_text(seed: u64) -> String {
    let words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "runs", "far", "away"];
    let mut state = seed;
    let mut out = String::new();
    let mut line_len = 0;
    while out.len() < 4000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let w = words[(state >> 33) as usize % words.len()];
        out.push_str(w);
        line_len += w.len() + 1;
        if line_len > 60 {
            out.push_str(".\n");
            line_len = 0;
        } else {
            out.push(' ');
        }
    }
    out
}

/// How long a command may run before [`gradlab`] kills it and fails the test.
pub const KILL_AFTER: Duration = Duration::from_secs(600);

/// Small fast GPT training settings (a run takes well under a second).
const TINY_GPT: [&str; 15] = [
    "--max-iters",
    "20",
    "--eval-interval",
    "10",
    "--eval-iters",
    "2",
    "--n-layer",
    "1",
    "--n-embd",
    "16",
    "--n-head",
    "2",
    "--batch-size",
    "8",
    "--no-progress",
];

/// `train` of a GPT with tiny settings, except those that `extra` sets (clap refuses a repeated
/// flag).
pub fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let name = |flag: &str| flag.split('=').next().unwrap().to_string();
    let overridden: Vec<String> = extra.iter().filter(|a| a.starts_with("--")).map(|a| name(a)).collect();
    let mut args = vec!["train"];
    let mut i = 0;
    while i < TINY_GPT.len() {
        let takes_value = i + 1 < TINY_GPT.len() && !TINY_GPT[i + 1].starts_with("--");
        if !overridden.contains(&name(TINY_GPT[i])) {
            args.extend_from_slice(&TINY_GPT[i..i + 1 + usize::from(takes_value)]);
        }
        i += 1 + usize::from(takes_value);
    }
    args.extend_from_slice(extra);
    args
}

/// Runs the program in `dir`. RUST_BACKTRACE is cleared so a panic prints its usual hint. A run
/// that has not finished after [`KILL_AFTER`] is killed and fails the test (a loop that never ends).
pub fn gradlab(dir: &Path, args: &[&str]) -> Output {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the gradlab binary runs");
    // Drain both pipes while waiting, so a chatty child never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    // A safety net for a hung child, not a speed limit: far beyond any command's run time even on
    // a loaded machine, and well inside CI's own budget.
    let deadline = Instant::now() + KILL_AFTER;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("gradlab {args:?} still running after {} s: killed", KILL_AFTER.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// The bytes as text, invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its standard output.
pub fn succeeds(dir: &Path, args: &[&str]) -> String {
    let out = gradlab(dir, args);
    assert!(
        out.status.success(),
        "gradlab {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Every file and directory under `dir`, with the bytes of each file.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
                out.insert(path, None);
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Runs a command that must fail on bad input: exit status `code`, no panic, an error naming
/// each of `mentions`, and no file under `dir` created, removed or changed. Returns stderr.
pub fn fails_with(code: i32, dir: &Path, args: &[&str], mentions: &[&str]) -> String {
    let before = snapshot(dir);
    let stderr = assert_error(code, args, &gradlab(dir, args), mentions);
    let after = snapshot(dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "gradlab {args:?} created or removed files"
    );
    for (path, bytes) in &before {
        assert!(after[path] == *bytes, "gradlab {args:?} changed {}", path.display());
    }
    stderr
}

/// Checks a failed run: exit status `code`, no panic, and an error naming each of `mentions`.
pub fn assert_error(code: i32, args: &[&str], out: &Output, mentions: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "gradlab {args:?}:\nstdout:\n{}\nstderr:\n{stderr}", text(&out.stdout));
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "gradlab {args:?} panicked:\n{stderr}");
    assert!(stderr.starts_with("error: "), "gradlab {args:?}: stderr is not an error message:\n{stderr}");
    for m in mentions {
        assert!(stderr.contains(m), "gradlab {args:?}: the error does not mention {m:?}:\n{stderr}");
    }
    stderr
}

/// [`fails_with`] status 1: the program's own error.
pub fn fails(dir: &Path, args: &[&str], mentions: &[&str]) -> String {
    fails_with(1, dir, args, mentions)
}

/// Every parameter of `model`, by name, as the bit patterns of its values (for bit-exact
/// comparisons of two runs).
pub fn parameter_bits(model: &impl Module<f32>) -> Vec<(String, Vec<u32>)> {
    model
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.value().to_vec().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

/// The `(step, train_loss, val_loss)` of every evaluation that a run logged in `metrics.jsonl`.
pub fn logged_evaluations(metrics: &Path) -> Vec<(u64, f64, f64)> {
    std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["train_loss"].as_f64().unwrap(), v["val_loss"].as_f64().unwrap())
        })
        .collect()
}
