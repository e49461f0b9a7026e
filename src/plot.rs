//! Plots of a training run as SVG files: the loss curve, and attention weights as heatmaps.
//!
//! Drawn with plotters' SVG backend, which writes text as `<text>` elements and needs no font
//! files. Each plot is rendered into memory first and written in one go, so a failed drawing
//! never leaves half a file, and the two kinds of failure stay apart: writing the file gives
//! [`Error::Io`], anything about the data or the drawing gives [`Error::Plot`].
//!
//! Empty input is an error ([`Error::Plot`] saying what is missing), never a panic and never an
//! empty-looking picture that could be mistaken for a result.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use tensor::Tensor;

use crate::{Error, Result};

/// One evaluation of a training run: the step and both losses (mean cross-entropy, nats per token).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossPoint {
    /// Optimizer step at which the losses were measured.
    pub step: usize,
    /// Loss on the training split.
    pub train_loss: f64,
    /// Loss on the validation split.
    pub val_loss: f64,
}

type DrawResult<T = ()> = std::result::Result<T, DrawingAreaErrorKind<std::io::Error>>;

/// Renders with `draw` into an in-memory SVG of `size` pixels, then writes it to `path`.
fn write_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root).and_then(|()| root.present()).map_err(|e| Error::Plot(format!("{}: {e}", path.display())))?;
    } // the backend borrows `svg` until dropped
    std::fs::write(path, svg).map_err(|e| Error::io("cannot write", path, e))
}

const STEP_COLOR: RGBColor = RGBColor(31, 119, 180);
const TRAIN_COLOR: RGBColor = RGBColor(8, 48, 107);
const VAL_COLOR: RGBColor = RGBColor(214, 39, 40);

/// Draws a training run's loss against step, on a log-scale loss axis, to an SVG file.
///
/// `step_losses` holds `(step, loss)` for every optimizer step, in step order: the training loss
/// of the batch each step learned from. It is drawn faint, with its exponential moving average
/// over it (of the log of the loss, so it follows the curve as the axis draws it; bias-corrected,
/// with a window of about a fiftieth of the steps, at most 100). `evals` are the evaluations, drawn
/// on top: the train and the validation loss as lines with a marker at each evaluation. Either may
/// be empty, not both. The log axis keeps the late progress visible: a loss going from 0.1 to 0.01
/// moves as far as one going from 10 to 1.
///
/// Non-finite losses (NaN, inf) are left out and break the line (the moving average skips them),
/// so NaN can stand for "not measured at this step", and a diverged run still plots what came
/// before. A loss of zero, which a log axis cannot place, is drawn on the axis' bottom edge.
///
/// ```
/// use gradlab::plot::{LossPoint, loss_curve};
/// let steps: Vec<(usize, f64)> = (0..400).map(|s| (s, 3.0 / (1.0 + s as f64 / 20.0))).collect();
/// let evals: Vec<LossPoint> = (0..5)
///     .map(|i| (100 * i, 1.0 + 5.0 * i as f64))
///     .map(|(step, d)| LossPoint { step, train_loss: 3.0 / d, val_loss: 3.3 / d })
///     .collect();
/// let path = std::env::temp_dir().join("gradlab_doctest_loss.svg");
/// loss_curve(&path, &steps, &evals, "toy run").unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("toy run"));
/// # std::fs::remove_file(&path).ok();
/// ```
///
/// # Errors
/// [`Error::Plot`] if both are empty or no loss is finite and above zero; [`Error::Io`] if the
/// file cannot be written.
pub fn loss_curve(path: &Path, step_losses: &[(usize, f64)], evals: &[LossPoint], title: &str) -> Result<()> {
    if step_losses.is_empty() && evals.is_empty() {
        return Err(Error::Plot(format!("{}: no loss points to plot", path.display())));
    }
    let all = step_losses.iter().map(|&(_, v)| v).chain(evals.iter().flat_map(|p| [p.train_loss, p.val_loss]));
    let (lo, hi) = all
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return Err(Error::Plot(format!(
            "{}: none of the {} step losses and {} evaluations has a finite loss above zero",
            path.display(),
            step_losses.len(),
            evals.len()
        )));
    }
    // A margin of 5% of the decades shown (a factor of 2 around a single value), on both sides.
    let pad = if hi > lo { (0.05 * (hi / lo).ln()).exp() } else { 2.0 };
    let (bottom, top, ticks) = log_axis(lo / pad, hi * pad);
    // Faint lines at 2 to 9 times each power of ten between the labelled ones, as on log paper.
    let minor: Vec<f64> = decade_multiples(bottom, top, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1)
        .into_iter()
        .filter(|v| !ticks.iter().any(|t| (t / v - 1.0).abs() < 1e-9))
        .collect();
    // Integer coordinates for steps, so ticks read "200", not "200.0".
    let steps = step_losses.iter().map(|&(s, _)| s).chain(evals.iter().map(|p| p.step));
    let (first, last) = steps.fold((usize::MAX, 0), |(a, b), s| (a.min(s), b.max(s)));
    let x_range = first as i64..(last as i64).max(first as i64 + 1);

    let raw = finite_runs(step_losses.iter().copied(), bottom);
    let smooth = moving_average(&raw, step_losses.len());
    let train = finite_runs(evals.iter().map(|p| (p.step, p.train_loss)), bottom);
    let val = finite_runs(evals.iter().map(|p| (p.step, p.val_loss)), bottom);

    write_svg(path, (900, 540), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, (bottom..top).log_scale().with_key_points(ticks))?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .x_desc("step")
            .y_desc("loss (nats/token, log scale)")
            .y_label_formatter(&|v| tick_label(*v))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        let (x0, x1) = (chart.x_range().start, chart.x_range().end);
        chart.draw_series(minor.iter().map(|&v| PathElement::new(vec![(x0, v), (x1, v)], BLACK.mix(0.06))))?;
        let faint = STEP_COLOR.mix(0.3).stroke_width(1);
        let bold = STEP_COLOR.stroke_width(2);
        let step_series = [("train, each step", faint, &raw), ("train, each step (moving average)", bold, &smooth)];
        for (label, style, runs) in step_series {
            if runs.is_empty() {
                continue;
            }
            chart
                .draw_series(runs.iter().filter(|r| r.len() > 1).map(|r| PathElement::new(r.clone(), style)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            // A point with no finite neighbour has no line through it: mark it so it still shows.
            chart.draw_series(runs.iter().filter(|r| r.len() == 1).map(|r| Circle::new(r[0], 2, style.filled())))?;
        }
        for (label, color, runs) in [("train, evaluation", TRAIN_COLOR, &train), ("val, evaluation", VAL_COLOR, &val)] {
            if runs.is_empty() {
                continue;
            }
            let line = color.stroke_width(2);
            chart
                .draw_series(runs.iter().filter(|r| r.len() > 1).map(|r| PathElement::new(r.clone(), line)))?
                .label(label)
                .legend(move |(x, y)| {
                    EmptyElement::at((x + 10, y))
                        + PathElement::new(vec![(-10, 0), (10, 0)], line)
                        + Circle::new((0, 0), 4, color.filled())
                });
            chart.draw_series(runs.iter().flatten().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Splits one loss series `(step, loss)` into runs of consecutive points with a finite loss,
/// raised to `floor` where below it (the bottom of the log axis).
fn finite_runs(points: impl Iterator<Item = (usize, f64)>, floor: f64) -> Vec<Vec<(i64, f64)>> {
    let mut runs = vec![Vec::new()];
    for (step, v) in points {
        if v.is_finite() {
            runs.last_mut().expect("runs starts non-empty").push((step as i64, v.max(floor)));
        } else if !runs.last().expect("runs starts non-empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// The bias-corrected exponential moving average of `ln(loss)` along `runs` (which the gaps
/// between them do not reset), back on the loss scale, with a window of `n / 50` points
/// (1 to 100) for a series of `n` points.
fn moving_average(runs: &[Vec<(i64, f64)>], n: usize) -> Vec<Vec<(i64, f64)>> {
    let window = (n as f64 / 50.0).clamp(1.0, 100.0);
    let decay = 1.0 - 1.0 / window;
    let (mut sum, mut weight) = (0.0, 0.0);
    runs.iter()
        .map(|run| {
            run.iter()
                .map(|&(step, v)| {
                    sum = decay * sum + (1.0 - decay) * v.ln();
                    weight = decay * weight + (1.0 - decay);
                    (step, (sum / weight).exp())
                })
                .collect()
        })
        .collect()
}

/// A log axis covering `lo..hi` (`0 < lo < hi`): its range and where its ticks go. The ticks are
/// the sparsest of the powers of ten, 1-2-5 times them, or 1 to 9 times them that gives at least
/// four (every few powers of ten over a very long range). A range too narrow for that (less than
/// a factor of about 2.5) gets evenly spaced round values instead, and is widened to the round
/// values just outside it, so that both ends are labelled.
fn log_axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let within = |mantissas: &[f64], every: usize| decade_multiples(lo, hi, mantissas, every);
    let decades = within(&[1.0], 1).len();
    if decades > 10 {
        return (lo, hi, within(&[1.0], decades.div_ceil(8)));
    }
    for mantissas in [&[1.0][..], &[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]] {
        let ticks = within(mantissas, 1);
        if ticks.len() >= 4 {
            return (lo, hi, ticks);
        }
    }
    // 1-2-5 steps, the largest that gives four ticks inside the range.
    let mut k = (hi - lo).log10().ceil() as i32;
    loop {
        for m in [5.0, 2.0, 1.0] {
            let step = m * 10f64.powi(k - 1);
            if (hi / step).floor() - (lo / step).ceil() >= 3.0 {
                let (first, last) = ((lo / step).floor().max(1.0) as i64, (hi / step).ceil() as i64);
                let ticks: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
                return (lo.min(ticks[0]), ticks[ticks.len() - 1], ticks);
            }
        }
        k -= 1;
    }
}

/// The values `m * 10^k` in `lo..=hi` for each `m` of `mantissas` and every `every`-th power `k`.
fn decade_multiples(lo: f64, hi: f64, mantissas: &[f64], every: usize) -> Vec<f64> {
    let (k_lo, k_hi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (k_lo..=k_hi)
        .filter(|k| ((k - k_lo) as usize).is_multiple_of(every))
        .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

/// A tick value as a short label: three significant digits at most, no trailing zeros
/// (`0.3`, not `0.30000000000000004`; `1e-5` below 0.0001).
fn tick_label(v: f64) -> String {
    fn trim(s: &str) -> &str {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
    }
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() < 1e-4 {
        let s = format!("{v:.2e}");
        let (mantissa, exponent) = s.split_once('e').expect("{:e} has an exponent");
        return format!("{}e{exponent}", trim(mantissa));
    }
    let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    trim(&format!("{v:.decimals$}")).to_string()
}

/// Side of one heatmap panel's cell grid, in pixels: readable for short contexts, bounded for long ones.
fn grid_pixels(t: usize) -> u32 {
    (t as u32 * 20).clamp(120, 360)
}

/// White (weight 0) to dark blue (weight 1); NaN shows grey, so a broken map is visible.
fn weight_color(w: f32) -> RGBColor {
    if w.is_nan() {
        return RGBColor(160, 160, 160);
    }
    let w = f64::from(w.clamp(0.0, 1.0));
    let mix = |lo: u8, hi: u8| (f64::from(lo) + (f64::from(hi) - f64::from(lo)) * w).round() as u8;
    RGBColor(mix(255, 8), mix(255, 48), mix(255, 107))
}

/// A token as an axis label: spaces and control characters made visible.
fn token_label(token: &str) -> String {
    token.chars().map(|c| if c == ' ' { "␣".to_string() } else { c.escape_debug().to_string() }).collect()
}

/// Draws attention weights as a grid of heatmaps, one panel per (layer, head), to an SVG file.
///
/// `maps[layer]` has shape `(1, n_head, T, T)` — one sample, as [`transformer::Gpt::attention_maps`]
/// returns for a batch of one — and `tokens` (length `T`) labels the axes:
/// queries down the rows, keys along the columns (on top, as in a matrix). Rows are layers,
/// columns heads; each panel is titled `layer L head H`. The colour scale is fixed to `[0, 1]`
/// (white to dark blue) so panels compare directly. Every cell is one SVG rectangle, so the file
/// grows as `n_layer * n_head * T^2`: plot a short context.
///
/// ```
/// use gradlab::plot::attention_heatmap;
/// use tensor::Tensor;
/// // One layer, two heads, three tokens: uniform causal attention.
/// let w = [1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
/// let map = Tensor::<f32>::from_vec([w, w].concat(), &[1, 2, 3, 3]);
/// let tokens: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
/// let path = std::env::temp_dir().join("gradlab_doctest_attention.svg");
/// attention_heatmap(&path, &[map], &tokens, "uniform").unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("layer 0 head 1"));
/// # std::fs::remove_file(&path).ok();
/// ```
///
/// # Errors
/// [`Error::Plot`] if `maps` or `tokens` is empty, or a map's shape is not `(1, h, T, T)` with
/// `h >= 1` and `T = tokens.len()`; [`Error::Io`] if the file cannot be written.
pub fn attention_heatmap(path: &Path, maps: &[Tensor<f32>], tokens: &[String], title: &str) -> Result<()> {
    attention_heatmap_qk(path, maps, tokens, tokens, title)
}

/// [`attention_heatmap`] with separate labels for the queries (rows, `Tq` of them) and the keys
/// (columns, `Tk`): maps of shape `(1, n_head, Tq, Tk)`, as cross-attention has (target positions
/// attending over source positions).
///
/// # Errors
/// As [`attention_heatmap`], with `(1, h, Tq, Tk)` the expected shape.
pub fn attention_heatmap_qk(
    path: &Path,
    maps: &[Tensor<f32>],
    queries: &[String],
    keys: &[String],
    title: &str,
) -> Result<()> {
    let fail = |reason: String| Err(Error::Plot(format!("{}: {reason}", path.display())));
    if maps.is_empty() {
        return fail("no attention maps to plot (the model has no attention layers)".into());
    }
    if queries.is_empty() || keys.is_empty() {
        return fail("no tokens to label the attention maps with".into());
    }
    let (tq, tk) = (queries.len(), keys.len());
    for (layer, map) in maps.iter().enumerate() {
        let s = map.shape();
        if s.len() != 4 || s[0] != 1 || s[1] == 0 || s[2] != tq || s[3] != tk {
            return fail(format!(
                "attention map of layer {layer} has shape {s:?}; expected (1, n_head, {tq}, {tk}) for {tq} queries and {tk} keys"
            ));
        }
    }
    let n_head = maps.iter().map(|m| m.shape()[1]).max().unwrap_or(1);
    let rows: Vec<String> = queries.iter().map(|s| token_label(s)).collect();
    let cols: Vec<String> = keys.iter().map(|s| token_label(s)).collect();

    let grid = grid_pixels(tq.max(tk));
    let (label_area, caption_px, margin) = (40u32, 24u32, 8u32);
    let panel = (grid + label_area + 2 * margin, grid + label_area + caption_px + 2 * margin);
    let title_px = 40;
    let size = (panel.0 * n_head as u32, panel.1 * maps.len() as u32 + title_px);
    write_svg(path, size, |root| {
        root.fill(&WHITE)?;
        let body = root.titled(title, ("sans-serif", 24))?;
        let panels = body.split_evenly((maps.len(), n_head));
        for (layer, map) in maps.iter().enumerate() {
            let heads = map.shape()[1];
            let weights = map.to_vec(); // (1, h, Tq, Tk) row-major
            for head in 0..heads {
                let area = &panels[layer * n_head + head];
                let head_weights = &weights[head * tq * tk..(head + 1) * tq * tk];
                let caption = format!("layer {layer} head {head}");
                draw_panel(area, head_weights, &rows, &cols, &caption, margin, label_area)?;
            }
        }
        Ok(())
    })
}

/// One `(Tq, Tk)` heatmap (row-major weights, queries by keys) with the query labels down the
/// side and the key labels along the top.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    weights: &[f32],
    rows: &[String],
    cols: &[String],
    caption: &str,
    margin: u32,
    label_area: u32,
) -> DrawResult {
    let (tq, tk) = (rows.len() as i32, cols.len() as i32);
    // Rows grow downwards (y from tq to 0), as a matrix is read; cell (key j, query i) spans [j, j+1] x [i, i+1].
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(margin)
        .top_x_label_area_size(label_area)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0..tk, tq..0)?;
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let label =
        |labels: &[String], k: &i32| usize::try_from(*k).ok().and_then(|k| labels.get(k)).cloned().unwrap_or_default();
    let col_label = |k: &i32| label(cols, k);
    let row_label = |k: &i32| label(rows, k);
    // Ticks fall on cell edges; shift each label by half a cell onto its cell's centre.
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels((tk as usize + 1).min(33))
        .y_labels((tq as usize + 1).min(33))
        .x_label_offset(w as i32 / tk / 2)
        .y_label_offset(h as i32 / tq / 2)
        .x_label_formatter(&col_label)
        .y_label_formatter(&row_label)
        .label_style(("sans-serif", 11))
        .draw()?;
    chart.draw_series(weights.iter().enumerate().map(|(idx, &wt)| {
        let (i, j) = ((idx / tk as usize) as i32, (idx % tk as usize) as i32);
        Rectangle::new([(j, i), (j + 1, i + 1)], weight_color(wt).filled())
    }))?;
    Ok(())
}
