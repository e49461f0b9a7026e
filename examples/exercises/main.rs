//! The graded exercise track: write the backward yourself, and let the gradient checker grade it.
//!
//! ```sh
//! cargo run --release --example exercises            # grade every exercise
//! cargo run --release --example exercises -- 3 7     # grade exercises 3 and 7
//! cargo run --release --example exercises --features solutions   # grade the reference solutions
//! ```
//!
//! Each exercise is a file `eNN_*.rs` beside this one with a forward and a backward that is
//! `todo!()`; replace the `todo!()` and run the command. `README.md` here lists the exercises.

mod e01_broadcast_mul;
mod e02_sum_keepdim;
mod e03_matmul;
mod e04_tanh;
mod e05_gelu;
mod e06_softmax;
mod e07_cross_entropy;
mod e08_embedding;
mod e09_layer_norm;
mod e10_attention;
mod e11_mlp_step;
mod grader;
mod list;
mod solutions;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use grader::{Outcome, grade};
use list::{Answers, exercises};

fn main() -> ExitCode {
    let solutions = cfg!(feature = "solutions");
    let answers = if solutions { Answers::solutions() } else { Answers::yours() };
    let all = exercises(answers);
    let mut chosen = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.parse::<usize>() {
            Ok(n) if (1..=all.len()).contains(&n) => chosen.push(n),
            _ => {
                eprintln!("usage: cargo run --release --example exercises [-- N ...]  (N from 1 to {})", all.len());
                return ExitCode::from(2);
            }
        }
    }
    if solutions {
        println!("Grading the reference solutions (examples/exercises/solutions/).\n");
    } else {
        println!("Grading your backwards in examples/exercises/ (the solutions: --features solutions).\n");
    }
    let (mut passed, mut failed, mut unwritten) = (0, 0, 0);
    for ex in all.iter().filter(|e| chosen.is_empty() || chosen.contains(&e.number)) {
        let outcome = grade(ex);
        let head = format!("{:>2}  {:<32}", ex.number, ex.title);
        match outcome {
            Outcome::Passed(summary) => {
                passed += 1;
                println!("{head}passed           {summary}");
            }
            Outcome::NotWritten => {
                unwritten += 1;
                println!("{head}not written yet  edit examples/exercises/{}", ex.file);
            }
            Outcome::Unfinished(report) => {
                unwritten += 1;
                println!("{head}not finished     examples/exercises/{}\n{report}", ex.file);
            }
            Outcome::Failed(report) => {
                failed += 1;
                println!("{head}FAILED           examples/exercises/{}", ex.file);
                println!("{}", indent(&report));
                println!("      hint: {}\n", ex.hint);
            }
            Outcome::Panicked(message) => {
                failed += 1;
                println!("{head}PANICKED         examples/exercises/{}", ex.file);
                println!("{}", indent(&message));
                println!("      hint: {}\n", ex.hint);
            }
        }
    }
    println!("\n{passed} right, {failed} wrong, {unwritten} not written yet");
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}
