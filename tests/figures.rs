//! The guide's generated figures are what the code makes today.
//!
//! Each entry of `gradlab::figures::FIGURES` is regenerated and compared byte for byte with the
//! committed file in `docs/guide/img/`; a difference names the command that regenerates it. The
//! neuron's SVG is Graphviz's rendering of the committed DOT file, and Graphviz versions lay out
//! differently, so that file is checked for content instead: every value, gradient, name and op
//! of the DOT file must be a text of the SVG. With Graphviz installed, the DOT file is also
//! rendered here and must render cleanly.

use std::collections::BTreeSet;
use std::path::PathBuf;

use gradlab::figures::{FIGURES, IMG_DIR, NEURON_SVG, graphviz_svg};

fn img(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(IMG_DIR).join(file)
}

fn read(file: &str) -> String {
    let path = img(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The first line where two texts differ, for the failure message (the files are long).
fn first_difference(committed: &str, generated: &str) -> String {
    let mut lines = committed.lines().zip(generated.lines()).enumerate();
    match lines.find(|(_, (a, b))| a != b) {
        Some((i, (a, b))) => format!("line {}:\n  committed: {a}\n  generated: {b}", i + 1),
        None => format!("{} lines committed, {} generated", committed.lines().count(), generated.lines().count()),
    }
}

#[test]
fn every_generated_figure_matches_its_committed_file() {
    for figure in &FIGURES {
        let generated = (figure.render)().unwrap_or_else(|e| panic!("{}: {e}", figure.file));
        let committed = read(figure.file);
        assert!(
            committed == generated,
            "{IMG_DIR}/{} is not what the code makes now; regenerate it with\n    \
             cargo run --release --example guide_figures -- {}\nFirst difference, {}",
            figure.file,
            figure.command,
            first_difference(&committed, &generated)
        );
    }
}

/// Every text a DOT file asks Graphviz to draw: the fields of record labels (`x1`, `shape []`,
/// `data 2.0000`, `grad -1.5000`) and plain labels (ops, argument numbers).
fn dot_texts(dot: &str) -> BTreeSet<String> {
    let mut texts = BTreeSet::new();
    for line in dot.lines() {
        let Some(start) = line.find("label=\"") else { continue };
        let rest = &line[start + "label=\"".len()..];
        let label = &rest[..rest.find('"').expect("a closed label")];
        assert!(!label.contains('\\'), "escapes are not expected in this graph: {label}");
        match label.strip_prefix("{ ").and_then(|l| l.strip_suffix(" }")) {
            Some(fields) => texts.extend(fields.split(" | ").map(str::to_string)),
            None => {
                texts.insert(label.to_string());
            }
        }
    }
    texts
}

/// Decodes the character references Graphviz writes (`&#45;` for `-`, `&amp;`, ...).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let end = rest[amp..].find(';').map(|e| amp + e).expect("a character reference ends in ';'");
        let entity = &rest[amp + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if entity.starts_with("#x") => char::from_u32(u32::from_str_radix(&entity[2..], 16).unwrap()).unwrap(),
            _ if entity.starts_with('#') => char::from_u32(entity[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown entity &{other};"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out + rest
}

/// The contents of every `<text>` element of an SVG, decoded.
fn svg_texts(svg: &str) -> BTreeSet<String> {
    svg.split("<text").skip(1).map(|t| unescape(&t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])).collect()
}

/// The texts of `dot` that `svg` does not show.
fn missing(dot: &str, svg: &str) -> Vec<String> {
    let shown = svg_texts(svg);
    dot_texts(dot).into_iter().filter(|t| !shown.contains(t)).collect()
}

#[test]
fn the_neuron_svg_shows_every_value_and_gradient_of_the_dot_file() {
    let dot = read("neuron_graph.dot");
    let texts = dot_texts(&dot);
    // The graph of chapter 2: ten values, each with a value and a gradient, and five ops.
    assert_eq!((dot.matches(" | data ").count(), dot.matches(" | grad ").count()), (10, 10), "{dot}");
    assert_eq!(dot.matches("shape=ellipse").count(), 5, "{dot}");
    for expected in ["data 0.7071", "grad 1.0000", "grad -1.5000", "grad 0.0000", "tanh", "mul", "add"] {
        assert!(texts.contains(expected), "{expected} not in the DOT file: {texts:?}");
    }
    let svg = read(NEURON_SVG);
    assert!(svg.contains("<svg"), "{NEURON_SVG} is not an SVG");
    let absent = missing(&dot, &svg);
    assert!(
        absent.is_empty(),
        "{IMG_DIR}/{NEURON_SVG} does not show {absent:?} of neuron_graph.dot; regenerate both with\n    \
         cargo run --release --example guide_figures -- neuron"
    );
}

#[test]
fn graphviz_renders_the_neuron_dot_file() {
    let dot = read("neuron_graph.dot");
    match graphviz_svg(&dot) {
        Ok(svg) => assert!(missing(&dot, &svg).is_empty(), "Graphviz left out {:?}", missing(&dot, &svg)),
        // Without Graphviz there is nothing to run; any other failure is the DOT file's fault.
        Err(e) if e.to_string().contains("cannot start") => eprintln!("skipping the Graphviz rendering: {e}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_architecture_figure_shows_what_the_models_are() {
    let svg = FIGURES.iter().find(|f| f.command == "architecture").map(|f| (f.render)().unwrap()).unwrap();
    let texts: Vec<String> = svg_texts(&svg).into_iter().collect();
    let count = |t: &str| svg.matches(&format!(">{t}</text>")).count();
    // The encoder-decoder is post-LN: 2 encoder and 3 decoder sublayers, each ending in Add & Norm.
    assert_eq!(count("Add &amp; LayerNorm"), 5, "{texts:?}");
    // The GPT block is pre-LN: a norm before each of its 2 sublayers, and ln_f at the end.
    assert_eq!(count("LayerNorm"), 3, "{texts:?}");
    assert_eq!(count("ln_f"), 1, "{texts:?}");
    assert_eq!(count("lm_head (tied)"), 1, "{texts:?}");
    assert_eq!(count("generator · d → tgt_vocab"), 1, "{texts:?}");
    assert!(svg.contains("post-LN") && svg.contains("pre-LN"));
}
