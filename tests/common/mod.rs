//! Helpers shared by the integration tests (`mod common;` in each test file that needs them).
//! Not every test binary uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
