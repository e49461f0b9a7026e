//! The `gradlab` command-line program.

mod args;
mod commands;
mod encdec;
mod import;
mod tokenizer;

pub use args::{
    BenchArgs, BuildupArgs, Cli, Command, EvalArgs, ExportArgs, GradcheckArgs, GraphArgs, ImportArgs, ImportFormat,
    SampleArgs, TokenizerArgs, TrainArgs,
};
pub use commands::train_config;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line and runs it; errors print as `error: ...` with exit status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => commands::run_train(&TrainArgs { out_dir: "out".into(), ..Default::default() }),
        Some(Command::Train(a)) => commands::run_train(a),
        Some(Command::Sample(a)) => commands::run_sample(a),
        Some(Command::Eval(a)) => commands::run_eval(a),
        Some(Command::Export(a)) => commands::run_export(a),
        Some(Command::Import(a)) => import::run_import(a),
        Some(Command::Buildup(a)) => commands::run_buildup(a),
        Some(Command::Gradcheck(a)) => commands::run_gradcheck(a),
        Some(Command::Graph(a)) => commands::run_graph(a),
        Some(Command::Bench(a)) => commands::run_bench(a),
        Some(Command::Tokenizer(a)) => tokenizer::run_tokenizer(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
