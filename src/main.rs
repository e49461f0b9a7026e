//! `gradlab`: train a small GPT on an embedded task (no arguments), a text file or a synthetic
//! task; sample, evaluate, export, gradient-check and draw its graph. `gradlab --help` lists all.

// Every `unsafe` block and impl says why it is sound, in a `SAFETY:` comment the lint checks.
#![deny(clippy::undocumented_unsafe_blocks)]

fn main() -> std::process::ExitCode {
    gradlab::malloc_tuning::keep_freed_memory();
    gradlab::cli::main()
}
