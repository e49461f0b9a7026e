//! `gradlab`: train a small GPT on an embedded task (no arguments), a text file or a synthetic
//! task; sample, evaluate, export, gradient-check and draw its graph. `gradlab --help` lists all.

// Every `unsafe` block and impl says why it is sound, in a `SAFETY:` comment the lint checks.
#![deny(clippy::undocumented_unsafe_blocks)]

// A process-wide allocator setting: it belongs to this program, not to the library it links.
mod malloc_tuning;

fn main() -> std::process::ExitCode {
    malloc_tuning::keep_freed_memory();
    gradlab::cli::main()
}
