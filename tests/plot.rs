//! Plots: the SVG files exist, are well-formed, carry their titles and labels, and bad input is
//! an error, never a panic.

use std::path::PathBuf;

use gradlab::Error;
use gradlab::plot::{LossPoint, attention_heatmap, loss_curve};
use tensor::Tensor;

/// A fresh path in a per-process scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradlab_plot_tests_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Checks that `svg` is one `<svg>` element whose tags all nest properly, with no stray `<` or
/// `&` in text (so every title and label was escaped), and returns the text content of its
/// `<text>` elements.
fn parse_svg(svg: &str) -> Vec<String> {
    assert!(svg.starts_with("<svg"), "does not start with <svg: {:?}", &svg[..svg.len().min(60)]);
    assert!(svg.trim_end().ends_with("</svg>"), "does not end with </svg>");
    let mut stack: Vec<String> = Vec::new();
    let mut texts = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        check_entities(text);
        if stack.last().is_some_and(|t| t == "text") {
            texts.push(text.trim().to_string());
        }
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "'<' inside tag {tag:?}");
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name.trim(), "mismatched closing tag");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().expect("empty tag").to_string();
            stack.push(name);
        }
        rest = &rest[close + 1..];
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "content after the closing </svg>");
        }
    }
    assert!(stack.is_empty(), "unclosed tags {stack:?}");
    texts
}

/// Every `&` in text starts a known entity.
fn check_entities(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        assert!(
            ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"].iter().any(|e| entity.starts_with(e)),
            "bare '&' in {text:?}"
        );
    }
}

fn run(n: usize) -> Vec<LossPoint> {
    (0..n)
        .map(|i| LossPoint {
            step: 50 * i,
            train_loss: 2.4 * (-(i as f64) / 8.0).exp() + 1.1,
            val_loss: 2.4 * (-(i as f64) / 10.0).exp() + 1.3,
        })
        .collect()
}

#[test]
fn loss_curve_writes_a_labelled_svg() {
    let path = scratch("loss.svg");
    loss_curve(&path, &run(30), "shakespeare-char run").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    for expected in ["shakespeare-char run", "train", "val", "step", "loss (nats/token)"] {
        assert!(texts.iter().any(|t| t == expected), "no text {expected:?} in {texts:?}");
    }
    // Two lines of 30 points each (plus the two legend samples).
    assert!(svg.matches("<polyline").count() >= 4, "expected the two loss lines and their legend marks");
}

#[test]
fn loss_curve_escapes_the_title() {
    let path = scratch("escaped.svg");
    loss_curve(&path, &run(3), "lr < 1e-3 & \"warmup\"").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    assert!(texts.iter().any(|t| t == "lr &lt; 1e-3 &amp; &quot;warmup&quot;"), "{texts:?}");
}

#[test]
fn loss_curve_handles_one_point_and_gaps() {
    let one = scratch("one.svg");
    loss_curve(&one, &run(1), "one eval").unwrap();
    let svg = std::fs::read_to_string(&one).unwrap();
    parse_svg(&svg);
    assert!(svg.contains("<circle"), "a lone point is drawn as a marker");

    // NaN marks a missing or diverged value: left out, the rest still plotted.
    let mut points = run(10);
    points[4].val_loss = f64::NAN;
    points[9].train_loss = f64::INFINITY;
    let gaps = scratch("gaps.svg");
    loss_curve(&gaps, &points, "with gaps").unwrap();
    let svg = std::fs::read_to_string(&gaps).unwrap();
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "a non-finite value reached the drawing");
    parse_svg(&svg);
}

#[test]
fn loss_curve_without_data_is_an_error() {
    let path = scratch("empty.svg");
    assert!(matches!(loss_curve(&path, &[], "empty"), Err(Error::Plot(m)) if m.contains("no loss points")));
    let all_nan = [LossPoint { step: 0, train_loss: f64::NAN, val_loss: f64::NAN }];
    assert!(matches!(loss_curve(&path, &all_nan, "nan"), Err(Error::Plot(m)) if m.contains("finite")));
    assert!(!path.exists(), "a failed plot must not leave a file");
}

#[test]
fn unwritable_path_is_an_io_error() {
    let path = scratch("no_such_dir").join("loss.svg");
    match loss_curve(&path, &run(3), "t") {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// Causal attention maps `(1, h, T, T)`: each query spreads over the keys up to itself, with
/// head-dependent weights so panels differ.
fn causal_maps(n_layer: usize, n_head: usize, t: usize) -> Vec<Tensor<f32>> {
    (0..n_layer)
        .map(|layer| {
            let mut data = Vec::with_capacity(n_head * t * t);
            for head in 0..n_head {
                for i in 0..t {
                    let raw: Vec<f32> =
                        (0..t).map(|j| if j <= i { (1 + (i + j + head + layer) % 4) as f32 } else { 0.0 }).collect();
                    let sum: f32 = raw.iter().sum();
                    data.extend(raw.iter().map(|r| r / sum));
                }
            }
            Tensor::from_vec(data, &[1, n_head, t, t])
        })
        .collect()
}

fn tokens(text: &str) -> Vec<String> {
    text.chars().map(String::from).collect()
}

#[test]
fn heatmap_has_one_titled_panel_per_layer_and_head() {
    let (n_layer, n_head) = (2, 3);
    let toks = tokens("to be");
    let path = scratch("attention.svg");
    attention_heatmap(&path, &causal_maps(n_layer, n_head, toks.len()), &toks, "attention: to be").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    assert!(texts.iter().any(|t| t == "attention: to be"));
    let panel_titles: Vec<&String> = texts.iter().filter(|t| t.starts_with("layer ")).collect();
    assert_eq!(panel_titles.len(), n_layer * n_head, "{panel_titles:?}");
    for l in 0..n_layer {
        for h in 0..n_head {
            let title = format!("layer {l} head {h}");
            assert_eq!(texts.iter().filter(|t| **t == title).count(), 1, "{title}");
        }
    }
    // Every token labels a row and a column of every panel; the space is shown as a visible mark.
    for label in ["t", "o", "␣", "b", "e"] {
        let n = texts.iter().filter(|t| *t == label).count();
        assert_eq!(n, 2 * n_layer * n_head, "label {label:?}");
    }
    // One rectangle per cell, plus a few for backgrounds.
    let cells = n_layer * n_head * toks.len() * toks.len();
    let rects = svg.matches("<rect").count();
    assert!((cells..cells + 10).contains(&rects), "{rects} rectangles for {cells} cells");
}

#[test]
fn heatmap_escapes_token_labels() {
    let toks = tokens("<&>\n");
    let path = scratch("escaped_tokens.svg");
    attention_heatmap(&path, &causal_maps(1, 1, toks.len()), &toks, "a<b").unwrap();
    let texts = parse_svg(&std::fs::read_to_string(&path).unwrap());
    for label in ["&lt;", "&amp;", "&gt;", "\\n"] {
        assert!(texts.iter().any(|t| t == label), "no label {label:?} in {texts:?}");
    }
}

#[test]
fn heatmap_rejects_missing_or_misshapen_maps() {
    let path = scratch("bad_attention.svg");
    let toks = tokens("abc");
    let is_plot_error = |r: gradlab::Result<()>, needle: &str| matches!(r, Err(Error::Plot(m)) if m.contains(needle));
    assert!(is_plot_error(attention_heatmap(&path, &[], &toks, "t"), "no attention maps"));
    assert!(is_plot_error(attention_heatmap(&path, &causal_maps(1, 2, 3), &[], "t"), "no tokens"));
    // Four tokens, maps over three.
    assert!(is_plot_error(attention_heatmap(&path, &causal_maps(1, 2, 3), &tokens("abcd"), "t"), "(1, n_head, 4, 4)"));
    // A batch of two.
    let two = Tensor::<f32>::zeros(&[2, 2, 3, 3]);
    assert!(is_plot_error(attention_heatmap(&path, &[two], &toks, "t"), "[2, 2, 3, 3]"));
    // No heads, and the wrong rank.
    let none = Tensor::<f32>::zeros(&[1, 0, 3, 3]);
    assert!(is_plot_error(attention_heatmap(&path, &[none], &toks, "t"), "layer 0"));
    let flat = Tensor::<f32>::zeros(&[3, 3]);
    let mut maps = causal_maps(1, 2, 3);
    maps.push(flat);
    assert!(is_plot_error(attention_heatmap(&path, &maps, &toks, "t"), "layer 1"));
    assert!(!path.exists());
}

#[test]
fn long_context_heatmap_labels_a_readable_subset() {
    let toks = tokens("First Citizen: Before we proceed any further, hear me speak.");
    let t = toks.len();
    let path = scratch("long_attention.svg");
    attention_heatmap(&path, &causal_maps(1, 2, t), &toks, "long context").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    // Both panels, every cell drawn, and at most 33 labels per axis so they don't overlap.
    assert_eq!(texts.iter().filter(|s| s.starts_with("layer 0 head ")).count(), 2);
    assert!(svg.matches("<rect").count() >= 2 * t * t);
    let labels = texts.iter().filter(|s| s.chars().count() == 1).count();
    assert!(labels > 0 && labels <= 2 * 2 * 33, "{labels} single-character labels");
}
