//! The figures and tables of the guide, regenerated from the library. One command per figure:
//!
//! - `neuron`: `docs/guide/img/neuron_graph.dot`, chapter 2's neuron with the value and the
//!   gradient on every node, and `neuron_graph.svg`, drawn from it by Graphviz (`dot` must be
//!   installed);
//! - `masks`: `attention_masks.svg`, chapter 6's causal and padding masks;
//! - `architecture`: `transformer_architecture.svg`, chapter 8's encoder-decoder beside a GPT;
//! - `schedules`: `lr_schedules.svg`, chapter 9's learning-rate schedules;
//! - `sinusoid`: `sinusoidal_table.svg`, the sinusoidal positional table `PE (64, 64)` as a
//!   heatmap, and four of its columns as curves against the position (chapter 5);
//! - `sort-attention`: `sort_attention.svg`, the attention weights of a GPT trained on the
//!   built-in sorting task (the program's default run: 2 layers, 4 heads, 64 wide, 1500 steps),
//!   on one held-out prompt; the strongest key of each answer position is printed as well
//!   (chapter 6; about a minute on 2 cores);
//! - `tables`: the parameter summaries of nanoGPT's CPU configuration and of a small
//!   encoder-decoder Transformer, printed as `parameter_summary` gives them (chapter 8);
//! - `fast`: all of the above but `sort-attention`; `all` (the default): everything.
//!
//! Run with `cargo run --release --example guide_figures -- <command>`. The first five come from
//! `gradlab::figures`, and `tests/figures.rs` checks that the committed files are what they make.

use std::error::Error;
use std::path::{Path, PathBuf};

use autograd::no_grad;
use gradlab::checkpoint::load_model;
use gradlab::data::{Task, TaskData};
use gradlab::figures::{FIGURES, NEURON_SVG, chapter8_transformer, graphviz_svg};
use gradlab::plot::attention_heatmap;
use gradlab::train::{TrainConfig, train};
use transformer::{Gpt, GptConfig, Module, parameter_summary};

type Res<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// Trains the default sorting GPT, then plots and describes its attention on one held-out line.
fn sort_attention_figure(path: &Path) -> Res {
    let out_dir = std::env::temp_dir().join(format!("gradlab-guide-sort-{}", std::process::id()));
    let cfg = TrainConfig { out_dir: out_dir.clone(), progress: false, ..TrainConfig::for_task(Task::Sort) };
    let report = train(&cfg)?;
    println!(
        "sort: {} parameters, {} steps in {:.1} s, final val loss {:.4}, held-out exact match {:.1}%",
        report.num_parameters,
        cfg.max_iters,
        report.elapsed_s,
        report.evals.last().map_or(f64::NAN, |e| e.val_loss),
        100.0 * report.accuracy().unwrap_or(f64::NAN)
    );
    let (model, _) = load_model(&out_dir)?;
    model.set_training(false);

    // A held-out prompt with six different digits, not already sorted, so that each answer
    // position has exactly one right digit to look at.
    let data = TaskData::new(Task::Sort, cfg.block_size)?;
    let examples = data.held_out_examples(100, &mut tensor::rng_from_seed(cfg.seed));
    let digits = examples
        .into_iter()
        .find(|d| {
            let mut s = d.clone();
            s.sort_unstable();
            s.dedup();
            s.len() == d.len() && s != *d
        })
        .ok_or("no held-out prompt with distinct digits")?;
    let line = format!("{}{}", Task::Sort.prompt(&digits), Task::Sort.answer(&digits));
    let ids = data.tokenizer.encode(&line)?;
    let ids = &ids[..ids.len() - 1]; // the model's input: the line without its last character
    let (logits, maps) = no_grad(|| model.forward_with_attention(ids, [1, ids.len()])); // (1, T, vocab), per layer (1, h, T, T)
    let logits = logits.value();
    let predicted = logits.argmax(-1, false).to_vec();
    let predicted: Vec<usize> = predicted.iter().map(|&p| p as usize).collect();
    println!("line {line:?}; greedy next-token predictions {:?}", data.tokenizer.decode(&predicted));

    let tokens: Vec<String> = ids.iter().map(|&i| data.tokenizer.decode(&[i])).collect();
    attention_heatmap(path, &maps, &tokens, &format!("sort GPT attention on the held-out line {line}"))?;

    // For each answer-predicting query (from '>' on), the key with the largest weight.
    let t = ids.len();
    let first_answer_query = digits.len(); // the position of '>'
    for (layer, map) in maps.iter().enumerate() {
        for head in 0..map.shape()[1] {
            let mut row = format!("layer {layer} head {head}:");
            for q in first_answer_query..t {
                let (best, w) = (0..t)
                    .map(|k| (k, map.get(&[0, head, q, k])))
                    .fold((0, -1.0f32), |a, b| if b.1 > a.1 { b } else { a });
                row += &format!("  q{q}'{}'->k{best}'{}' {w:.2}", tokens[q], tokens[best]);
            }
            println!("{row}");
        }
    }
    std::fs::remove_dir_all(&out_dir)?;
    Ok(())
}

/// The tables chapter 8 shows.
fn parameter_tables() {
    let cpu =
        GptConfig { vocab_size: 65, block_size: 64, n_layer: 4, n_head: 4, n_embd: 128, dropout: 0.0, bias: false };
    let gpt = Gpt::<f32>::new(cpu, 0);
    println!("GPT {cpu:?}\n{}", parameter_summary(&gpt.named_parameters()));
    let model = chapter8_transformer();
    println!("Transformer {:?}\n{}", model.config, parameter_summary(&model.named_parameters()));
}

/// Writes `text` to `dir/file` and says so.
fn write(dir: &Path, file: &str, text: &str) -> Res {
    let path = dir.join(file);
    std::fs::write(&path, text)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Writes the figure of `gradlab::figures` named `command`, and for `neuron` its Graphviz drawing.
fn generated_figure(img: &Path, command: &str) -> Res {
    let figure = FIGURES.iter().find(|f| f.command == command).ok_or("no such figure")?;
    let text = (figure.render)()?;
    write(img, figure.file, &text)?;
    if command == "neuron" {
        write(img, NEURON_SVG, &graphviz_svg(&text)?)?;
    }
    Ok(())
}

/// Runs one command (see the module documentation).
fn run(img: &Path, command: &str) -> Res {
    match command {
        "sort-attention" => {
            let path = img.join("sort_attention.svg");
            sort_attention_figure(&path)?;
            println!("wrote {}", path.display());
        }
        "tables" => parameter_tables(),
        "fast" | "all" => {
            let slow: &[&str] = if command == "all" { &["sort-attention"] } else { &[] };
            let fast = FIGURES.iter().map(|f| f.command).chain(["tables"]);
            for c in fast.chain(slow.iter().copied()) {
                run(img, c)?;
            }
        }
        c if FIGURES.iter().any(|f| f.command == c) => generated_figure(img, c)?,
        other => {
            let known: Vec<&str> = FIGURES.iter().map(|f| f.command).collect();
            return Err(format!(
                "unknown command {other:?}; expected one of {}, sort-attention, tables, fast, all",
                known.join(", ")
            )
            .into());
        }
    }
    Ok(())
}

fn main() -> Res {
    let img = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(gradlab::figures::IMG_DIR);
    std::fs::create_dir_all(&img)?;
    let commands: Vec<String> = std::env::args().skip(1).collect();
    if commands.is_empty() {
        return run(&img, "all");
    }
    for command in &commands {
        run(&img, command)?;
    }
    Ok(())
}
