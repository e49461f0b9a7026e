//! Plots: the SVG files exist, are well-formed, carry their titles and labels, and bad input is
//! an error, never a panic. Each test writes into its own `TempDir`, removed when the test ends.

mod common;

use common::TempDir;
use gradlab::Error;
use gradlab::plot::{LossPoint, attention_heatmap, loss_curve};
use tensor::Tensor;

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

/// `n` noisy per-step losses falling from about 2.4 to about 0.001: four decades, like a task run.
fn steps(n: usize) -> Vec<(usize, f64)> {
    (0..n)
        .map(|s| {
            let t = s as f64 / n as f64;
            let noise = 1.0 + 0.3 * ((s * 7919 % 101) as f64 / 100.0 - 0.5);
            (s, 2.4 * (-7.8 * t).exp() * noise)
        })
        .collect()
}

/// The evaluations every `every` steps of a run of `n` steps shaped like [`steps`].
fn evals(n: usize, every: usize) -> Vec<LossPoint> {
    (0..=n)
        .step_by(every)
        .map(|s| {
            let loss = 2.4 * (-7.8 * s as f64 / n as f64).exp();
            LossPoint { step: s, train_loss: loss, val_loss: 1.2 * loss }
        })
        .collect()
}

/// The number of points of each `<polyline>` in `svg`.
fn polyline_lengths(svg: &str) -> Vec<usize> {
    svg.split("<polyline")
        .skip(1)
        .map(|p| {
            let start = p.find("points=\"").expect("a polyline has points") + "points=\"".len();
            let len = p[start..].find('"').unwrap();
            p[start..start + len].split_whitespace().count()
        })
        .collect()
}

/// The y-axis tick labels (right-aligned `<text>` elements): each label's value and its vertical
/// pixel position, in drawing order.
fn y_ticks(svg: &str) -> Vec<(f64, f64)> {
    svg.split("<text")
        .skip(1)
        .filter(|t| t.contains("text-anchor=\"end\""))
        .map(|t| {
            let y_at = t.find(" y=\"").unwrap() + 4;
            let y: f64 = t[y_at..y_at + t[y_at..].find('"').unwrap()].parse().unwrap();
            let label = t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim();
            (label.parse().unwrap_or_else(|_| panic!("tick label {label:?} is not a number")), y)
        })
        .collect()
}

/// Checks that the y axis is logarithmic: at least four tick labels, each short (no float
/// noise such as 0.30000000000000004), higher values higher up, and the pixel distance between
/// two ticks proportional to the log of their ratio (to within the rounding to whole pixels).
fn assert_log_axis(svg: &str) -> Vec<(f64, f64)> {
    let ticks = y_ticks(svg);
    assert!(ticks.len() >= 4, "only {} y ticks: {ticks:?}", ticks.len());
    let labels: Vec<String> = ticks.iter().map(|(v, _)| format!("{v}")).collect();
    assert!(labels.iter().all(|l| l.len() <= 6), "unreadable labels {labels:?}");
    let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
    let pixels_per_ln = (last.1 - first.1) / (first.0.ln() - last.0.ln());
    assert!(pixels_per_ln > 0.0, "values do not grow upwards: {ticks:?}");
    for &(v, y) in &ticks {
        let expected = first.1 + (first.0.ln() - v.ln()) * pixels_per_ln;
        assert!((y - expected).abs() <= 1.5, "tick {v} at y={y}, a log axis puts it at {expected:.1}: {ticks:?}");
    }
    ticks
}

#[test]
fn loss_curve_writes_a_labelled_svg() {
    let dir = TempDir::new("plot");
    let path = dir.join("loss.svg");
    loss_curve(&path, &steps(1500), &evals(1500, 250), "shakespeare-char run").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    for expected in [
        "shakespeare-char run",
        "train, each step",
        "train, each step (moving average)",
        "train, evaluation",
        "val, evaluation",
        "step",
        "loss (nats/token, log scale)",
    ] {
        assert!(texts.iter().any(|t| t == expected), "no text {expected:?} in {texts:?}");
    }
    // Every step, raw and smoothed: two lines of 1500 points; the evaluations: two lines of 7
    // points, with a marker on each.
    let lengths = polyline_lengths(&svg);
    assert_eq!(lengths.iter().filter(|&&n| n == 1500).count(), 2, "{lengths:?}");
    assert_eq!(lengths.iter().filter(|&&n| n == 7).count(), 2, "{lengths:?}");
    assert!(svg.matches("<circle").count() >= 14, "a marker on each evaluation");
}

#[test]
fn loss_curve_has_a_readable_log_axis() {
    let dir = TempDir::new("plot");
    // Four decades: labelled at the powers of ten, evenly spaced.
    let path = dir.join("log_axis.svg");
    loss_curve(&path, &steps(1500), &evals(1500, 250), "four decades").unwrap();
    let ticks = assert_log_axis(&std::fs::read_to_string(&path).unwrap());
    let values: Vec<f64> = ticks.iter().map(|t| t.0).collect();
    assert_eq!(values, [0.001, 0.01, 0.1, 1.0], "{ticks:?}");

    // A text run: 4.2 down to 1.6, less than half a decade, still gets round labels.
    let path = dir.join("log_axis_narrow.svg");
    let text_run: Vec<(usize, f64)> = (0..2000).map(|s| (s, 1.6 + 2.6 * (-(s as f64) / 150.0).exp())).collect();
    loss_curve(&path, &text_run, &[], "half a decade").unwrap();
    assert_log_axis(&std::fs::read_to_string(&path).unwrap());

    // Less than a factor of two: evenly spaced round values.
    let path = dir.join("log_axis_flat.svg");
    loss_curve(&path, &[], &run(30), "flat").unwrap();
    assert_log_axis(&std::fs::read_to_string(&path).unwrap());
}

#[test]
fn loss_curve_escapes_the_title() {
    let dir = TempDir::new("plot");
    let path = dir.join("escaped.svg");
    loss_curve(&path, &steps(20), &run(3), "lr < 1e-3 & \"warmup\"").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    assert!(texts.iter().any(|t| t == "lr &lt; 1e-3 &amp; &quot;warmup&quot;"), "{texts:?}");
}

#[test]
fn loss_curve_handles_one_point_and_gaps() {
    let dir = TempDir::new("plot");
    let one = dir.join("one.svg");
    loss_curve(&one, &[], &run(1), "one eval").unwrap();
    let svg = std::fs::read_to_string(&one).unwrap();
    parse_svg(&svg);
    assert!(svg.contains("<circle"), "a lone point is drawn as a marker");

    // NaN marks a missing or diverged value: left out, the rest still plotted.
    let mut points = run(10);
    points[4].val_loss = f64::NAN;
    points[9].train_loss = f64::INFINITY;
    let gaps = dir.join("gaps.svg");
    loss_curve(&gaps, &[], &points, "with gaps").unwrap();
    let svg = std::fs::read_to_string(&gaps).unwrap();
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "a non-finite value reached the drawing");
    parse_svg(&svg);
}

#[test]
fn non_finite_step_losses_break_the_line() {
    let dir = TempDir::new("plot");
    // Steps 40 and 70 are NaN and inf: the raw and the smoothed line each fall into three pieces
    // of 40, 29 and 29 points, and the moving average carries on past the gaps.
    let mut losses = steps(100);
    losses[40].1 = f64::NAN;
    losses[70].1 = f64::INFINITY;
    let path = dir.join("step_gaps.svg");
    loss_curve(&path, &losses, &evals(100, 50), "gaps").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "a non-finite value reached the drawing");
    parse_svg(&svg);
    let lengths = polyline_lengths(&svg);
    for (n, count) in [(40, 2), (29, 4)] {
        assert_eq!(lengths.iter().filter(|&&l| l == n).count(), count, "pieces of {n} points: {lengths:?}");
    }
    assert_log_axis(&svg);

    // A lone finite step between two NaNs still shows, as a dot.
    let lone = [(0, f64::NAN), (1, 0.5), (2, f64::NAN)];
    let path = dir.join("lone_step.svg");
    loss_curve(&path, &lone, &run(3), "lone").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.matches("<circle").count() > 6, "the lone step's dot besides the evaluations' markers");

    // A loss of exactly zero has no place on a log axis: drawn on the bottom edge, not dropped.
    let mut zero = steps(50);
    zero[49].1 = 0.0;
    let path = dir.join("zero_step.svg");
    loss_curve(&path, &zero, &[], "zero").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    assert_eq!(polyline_lengths(&svg).iter().filter(|&&l| l == 50).count(), 2);
}

#[test]
fn loss_curve_without_data_is_an_error() {
    let dir = TempDir::new("plot");
    let path = dir.join("empty.svg");
    assert!(matches!(loss_curve(&path, &[], &[], "empty"), Err(Error::Plot(m)) if m.contains("no loss points")));
    let all_nan = [LossPoint { step: 0, train_loss: f64::NAN, val_loss: f64::NAN }];
    assert!(matches!(loss_curve(&path, &[], &all_nan, "nan"), Err(Error::Plot(m)) if m.contains("finite")));
    let steps_nan = [(0, f64::NAN), (1, f64::INFINITY)];
    assert!(matches!(loss_curve(&path, &steps_nan, &all_nan, "nan"), Err(Error::Plot(m)) if m.contains("finite")));
    assert!(!path.exists(), "a failed plot must not leave a file");
}

#[test]
fn unwritable_path_is_an_io_error() {
    let dir = TempDir::new("plot");
    let path = dir.join("no_such_dir").join("loss.svg");
    match loss_curve(&path, &steps(10), &run(3), "t") {
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
    let dir = TempDir::new("plot");
    let (n_layer, n_head) = (2, 3);
    let toks = tokens("to be");
    let path = dir.join("attention.svg");
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
    let dir = TempDir::new("plot");
    let toks = tokens("<&>\n");
    let path = dir.join("escaped_tokens.svg");
    attention_heatmap(&path, &causal_maps(1, 1, toks.len()), &toks, "a<b").unwrap();
    let texts = parse_svg(&std::fs::read_to_string(&path).unwrap());
    for label in ["&lt;", "&amp;", "&gt;", "\\n"] {
        assert!(texts.iter().any(|t| t == label), "no label {label:?} in {texts:?}");
    }
}

#[test]
fn heatmap_rejects_missing_or_misshapen_maps() {
    let dir = TempDir::new("plot");
    let path = dir.join("bad_attention.svg");
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
    let dir = TempDir::new("plot");
    let toks = tokens("First Citizen: Before we proceed any further, hear me speak.");
    let t = toks.len();
    let path = dir.join("long_attention.svg");
    attention_heatmap(&path, &causal_maps(1, 2, t), &toks, "long context").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let texts = parse_svg(&svg);
    // Both panels, every cell drawn, and at most 33 labels per axis so they don't overlap.
    assert_eq!(texts.iter().filter(|s| s.starts_with("layer 0 head ")).count(), 2);
    assert!(svg.matches("<rect").count() >= 2 * t * t);
    let labels = texts.iter().filter(|s| s.chars().count() == 1).count();
    assert!(labels > 0 && labels <= 2 * 2 * 33, "{labels} single-character labels");
}
