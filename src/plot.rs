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

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(214, 39, 40);

/// Draws train and validation loss against step, with axis labels and a legend, to an SVG file.
///
/// Non-finite losses (NaN, inf) are left out and break the line, so NaN can stand for "not
/// measured at this step", and a diverged run still plots what came before.
///
/// ```
/// use gradlab::plot::{LossPoint, loss_curve};
/// let points: Vec<LossPoint> = (0..5)
///     .map(|i| LossPoint { step: 100 * i, train_loss: 3.0 / (1.0 + i as f64), val_loss: 3.2 / (1.0 + i as f64) })
///     .collect();
/// let path = std::env::temp_dir().join("gradlab_doctest_loss.svg");
/// loss_curve(&path, &points, "toy run").unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("toy run"));
/// # std::fs::remove_file(&path).ok();
/// ```
///
/// # Errors
/// [`Error::Plot`] if `points` is empty or holds no finite loss; [`Error::Io`] if the file cannot be written.
pub fn loss_curve(path: &Path, points: &[LossPoint], title: &str) -> Result<()> {
    if points.is_empty() {
        return Err(Error::Plot(format!("{}: no loss points to plot", path.display())));
    }
    let finite = points.iter().flat_map(|p| [p.train_loss, p.val_loss]).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return Err(Error::Plot(format!(
            "{}: none of the {} loss points has a finite loss",
            path.display(),
            points.len()
        )));
    }
    // A flat or single-point series still needs a non-empty range to draw into.
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5f64.max(0.05 * hi.abs()) };
    let y_range = (lo - pad)..(hi + pad);
    // Integer coordinates for steps, so ticks read "200", not "200.0".
    let first = points.iter().map(|p| p.step).min().unwrap_or(0) as i64;
    let last = points.iter().map(|p| p.step).max().unwrap_or(0) as i64;
    let x_range = first..last.max(first + 1);

    write_svg(path, (800, 500), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range, y_range)?;
        chart.configure_mesh().x_desc("step").y_desc("loss (nats/token)").draw()?;
        for (label, color, loss) in [
            ("train", TRAIN_COLOR, (|p: &LossPoint| p.train_loss) as fn(&LossPoint) -> f64),
            ("val", VAL_COLOR, |p: &LossPoint| p.val_loss),
        ] {
            let runs = finite_runs(points, loss);
            let style = color.stroke_width(2);
            chart
                .draw_series(runs.iter().filter(|r| r.len() > 1).map(|r| PathElement::new(r.clone(), style)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            // A point with no finite neighbour has no line through it: mark it so it still shows.
            chart.draw_series(runs.iter().filter(|r| r.len() == 1).map(|r| Circle::new(r[0], 3, color.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        Ok(())
    })
}

/// Splits one loss series into runs of consecutive finite points `(step, loss)`.
fn finite_runs(points: &[LossPoint], loss: fn(&LossPoint) -> f64) -> Vec<Vec<(i64, f64)>> {
    let mut runs = vec![Vec::new()];
    for p in points {
        let v = loss(p);
        if v.is_finite() {
            runs.last_mut().expect("runs starts non-empty").push((p.step as i64, v));
        } else if !runs.last().expect("runs starts non-empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
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
/// returns after a forward pass on a batch of one — and `tokens` (length `T`) labels the axes:
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
    let fail = |reason: String| Err(Error::Plot(format!("{}: {reason}", path.display())));
    if maps.is_empty() {
        return fail("no attention maps to plot (run a forward pass first)".into());
    }
    if tokens.is_empty() {
        return fail("no tokens to label the attention maps with".into());
    }
    let t = tokens.len();
    for (layer, map) in maps.iter().enumerate() {
        let s = map.shape();
        if s.len() != 4 || s[0] != 1 || s[1] == 0 || s[2] != t || s[3] != t {
            return fail(format!(
                "attention map of layer {layer} has shape {s:?}; expected (1, n_head, {t}, {t}) for {t} tokens"
            ));
        }
    }
    let n_head = maps.iter().map(|m| m.shape()[1]).max().unwrap_or(1);
    let labels: Vec<String> = tokens.iter().map(|s| token_label(s)).collect();

    let grid = grid_pixels(t);
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
            let weights = map.to_vec(); // (1, h, T, T) row-major
            for head in 0..heads {
                let area = &panels[layer * n_head + head];
                let head_weights = &weights[head * t * t..(head + 1) * t * t];
                draw_panel(area, head_weights, &labels, &format!("layer {layer} head {head}"), margin, label_area)?;
            }
        }
        Ok(())
    })
}

/// One `(T, T)` heatmap (row-major weights, queries by keys) with token labels on both axes.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    weights: &[f32],
    labels: &[String],
    caption: &str,
    margin: u32,
    label_area: u32,
) -> DrawResult {
    let t = labels.len() as i32;
    // Rows grow downwards (y from t to 0), as a matrix is read; cell (key j, query i) spans [j, j+1] x [i, i+1].
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(margin)
        .top_x_label_area_size(label_area)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0..t, t..0)?;
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let label = |k: &i32| usize::try_from(*k).ok().and_then(|k| labels.get(k)).cloned().unwrap_or_default();
    // Ticks fall on cell edges; shift each label by half a cell onto its cell's centre.
    let max_labels = (t as usize + 1).min(33);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(max_labels)
        .y_labels(max_labels)
        .x_label_offset(w as i32 / t / 2)
        .y_label_offset(h as i32 / t / 2)
        .x_label_formatter(&label)
        .y_label_formatter(&label)
        .label_style(("sans-serif", 11))
        .draw()?;
    chart.draw_series(weights.iter().enumerate().map(|(idx, &wt)| {
        let (i, j) = ((idx / t as usize) as i32, (idx % t as usize) as i32);
        Rectangle::new([(j, i), (j + 1, i + 1)], weight_color(wt).filled())
    }))?;
    Ok(())
}
