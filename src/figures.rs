//! The guide's generated figures, each made by one function from the code it shows.
//!
//! Every function returns the text of one file of [`IMG_DIR`]:
//!
//! - [`neuron_dot`]: chapter 2's neuron as a Graphviz graph with the value and the gradient on
//!   every node, from [`autograd::dot`]; [`graphviz_svg`] renders it;
//! - [`sinusoid_svg`]: chapter 5's sinusoidal positional table, from [`SinusoidalEncoding`];
//! - [`masks_svg`]: chapter 6's masks as grids, from [`causal_mask`], [`padding_mask`] and
//!   [`combine_masks`];
//! - [`schedules_svg`]: chapter 9's learning-rate schedules, from [`LrSchedule::lr_at`] with the
//!   program's defaults ([`TrainConfig`]) and the paper's Noam settings;
//! - [`architecture_svg`]: chapter 8's encoder-decoder beside a GPT block, with the norm placement,
//!   sublayers, final norms and output heads read from models built by the library.
//!
//! `examples/guide_figures.rs` writes them (`cargo run --release --example guide_figures --
//! <command>`, the command of each entry of [`FIGURES`]), and `tests/figures.rs` regenerates each
//! and checks it is byte for byte the committed file, so no picture drifts from the code. The
//! output is deterministic: fixed sizes, no timestamps, seeded weights, whole-number coordinates.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use autograd::{Var, dot};
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::prelude::*;
use tensor::Tensor;
use transformer::optim::LrSchedule;
use transformer::{
    Activation, Gpt, GptConfig, Module, NormPlacement, SinusoidalEncoding, Transformer, TransformerConfig, causal_mask,
    combine_masks, padding_mask,
};

use crate::data::Task;
use crate::train::TrainConfig;
use crate::{Error, Result};

/// Where the guide's images live, relative to the repository root.
pub const IMG_DIR: &str = "docs/guide/img";

/// A generated file of [`IMG_DIR`]: the `guide_figures` command that writes it, and its maker.
pub struct Figure {
    /// The subcommand of `cargo run --release --example guide_figures --` that regenerates it.
    pub command: &'static str,
    /// The file name under [`IMG_DIR`].
    pub file: &'static str,
    /// Makes the file's text.
    pub render: fn() -> Result<String>,
}

/// The file Graphviz renders [`neuron_dot`] into (by `guide_figures neuron`, next to the DOT file).
pub const NEURON_SVG: &str = "neuron_graph.svg";

/// Every generated figure whose text is a pure function of the code (the Graphviz rendering
/// [`NEURON_SVG`] depends on the Graphviz version as well, so it is not listed).
pub const FIGURES: [Figure; 5] = [
    Figure { command: "neuron", file: "neuron_graph.dot", render: || Ok(neuron_dot()) },
    Figure { command: "sinusoid", file: "sinusoidal_table.svg", render: sinusoid_svg },
    Figure { command: "masks", file: "attention_masks.svg", render: || Ok(masks_svg()) },
    Figure { command: "schedules", file: "lr_schedules.svg", render: schedules_svg },
    Figure { command: "architecture", file: "transformer_architecture.svg", render: || Ok(architecture_svg()) },
];

// ---------------------------------------------------------------------------------------------
// Chapter 5: the sinusoidal table.

/// -1 blue, 0 white, +1 red.
fn diverging(v: f32) -> RGBColor {
    let v = f64::from(v.clamp(-1.0, 1.0));
    let mix = |from: u8, to: u8, w: f64| (f64::from(from) + (f64::from(to) - f64::from(from)) * w).round() as u8;
    if v >= 0.0 {
        RGBColor(mix(255, 178, v), mix(255, 24, v), mix(255, 43, v))
    } else {
        RGBColor(mix(255, 33, -v), mix(255, 102, -v), mix(255, 172, -v))
    }
}

/// Draws the table as a heatmap (positions down, dimensions across) above four of its columns as curves.
fn sinusoid_figure(svg: &mut String, max_len: usize, d: usize) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let pe = SinusoidalEncoding::<f32>::new(max_len, d);
    let table = pe.table().to_vec(); // (max_len, d) row-major
    let root = SVGBackend::with_string(svg, (820, 860)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(540);

    let (t, w) = (max_len as i32, d as i32);
    let mut heat = ChartBuilder::on(&top)
        .caption(format!("sinusoidal table PE ({max_len}, {d}): red +1, white 0, blue -1"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0..w, t..0)?;
    heat.configure_mesh()
        .disable_mesh()
        .x_desc("column (even: sin, odd: cos; frequency falls to the right)")
        .y_desc("position")
        .draw()?;
    heat.draw_series(table.iter().enumerate().map(|(idx, &v)| {
        let (p, c) = ((idx / d) as i32, (idx % d) as i32);
        Rectangle::new([(c, p), (c + 1, p + 1)], diverging(v).filled())
    }))?;

    let mut curves = ChartBuilder::on(&bottom)
        .caption("columns as functions of the position", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0..t - 1, -1.1f32..1.1f32)?;
    curves.configure_mesh().x_desc("position").y_desc("PE value").draw()?;
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];
    for (&col, color) in [0usize, 6, 12, 20].iter().zip(colors) {
        let points: Vec<(i32, f32)> = (0..max_len).map(|p| (p as i32, table[p * d + col])).collect();
        curves
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("column {col} (sin, wavelength {:.1})", wavelength(col, d)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    curves.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// The period, in positions, of column `col`: `2 pi 10000^(2i/d)` with `i = col / 2`.
fn wavelength(col: usize, d: usize) -> f64 {
    2.0 * std::f64::consts::PI * 10000f64.powf(2.0 * (col / 2) as f64 / d as f64)
}

/// Chapter 5's figure: the sinusoidal positional table `PE (64, 64)` of [`SinusoidalEncoding`] as a
/// heatmap (positions down, dimensions across), above four of its columns as curves against the
/// position.
///
/// # Errors
/// [`Error::Plot`] if plotters fails.
pub fn sinusoid_svg() -> Result<String> {
    let mut svg = String::new();
    sinusoid_figure(&mut svg, 64, 64).map_err(|e| Error::Plot(format!("sinusoidal table: {e}")))?;
    Ok(svg)
}

// ---------------------------------------------------------------------------------------------
// Chapter 2: the neuron as a graph.

/// Chapter 2's neuron, `o = tanh(x1*w1 + x2*w2 + b)` with micrograd's numbers, after
/// `backward_retain_all`, as Graphviz DOT laid out top to bottom: one box per value with its
/// label, shape, value and gradient, one oval per op.
///
/// ```
/// let text = gradlab::figures::neuron_dot();
/// assert!(text.contains("{ o | shape [] | data 0.7071 | grad 1.0000 }"));
/// assert!(text.contains("{ x1 | shape [] | data 2.0000 | grad -1.5000 }"));
/// ```
pub fn neuron_dot() -> String {
    let leaf = |v: f64, name: &str| Var::parameter(Tensor::scalar(v)).labeled(name);
    let (x1, w1) = (leaf(2.0, "x1"), leaf(-3.0, "w1"));
    let (x2, w2) = (leaf(0.0, "x2"), leaf(1.0, "w2"));
    let b = leaf(6.881_373_587_019_543, "b");
    let x1w1 = x1.mul(&w1).labeled("x1w1");
    let x2w2 = x2.mul(&w2).labeled("x2w2");
    let s = x1w1.add(&x2w2).labeled("s");
    let n = s.add(&b).labeled("n");
    let o = n.tanh().labeled("o");
    let grads = o.backward_retain_all();
    dot(&o).with_gradients(&grads).top_to_bottom().to_string()
}

/// Renders DOT text to SVG with Graphviz (`dot -Tsvg`).
///
/// # Errors
/// [`Error::Plot`] if the `dot` program cannot be started (Graphviz is not installed), or if it
/// fails or reports an error.
pub fn graphviz_svg(dot_text: &str) -> Result<String> {
    let fail = |why: String| Error::Plot(format!("graphviz `dot -Tsvg`: {why}"));
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start it ({e}); install Graphviz, e.g. apt-get install graphviz")))?;
    let mut stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
    stdin.write_all(dot_text.as_bytes()).map_err(|e| fail(e.to_string()))?;
    drop(stdin); // end of input
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("rror") {
        return Err(fail(format!("{}: {stderr}", out.status)));
    }
    String::from_utf8(out.stdout).map_err(|e| fail(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// A small SVG writer: boxes, lines, arrows and text, in whole pixels.

/// A font: family, size in pixels, weight.
#[derive(Clone, Copy)]
struct Font {
    family: &'static str,
    size: i32,
    bold: bool,
}

const TITLE: Font = Font { family: "sans-serif", size: 18, bold: true };
const HEADING: Font = Font { family: "sans-serif", size: 14, bold: false };
const BODY: Font = Font { family: "sans-serif", size: 14, bold: false };
const NOTE: Font = Font { family: "sans-serif", size: 13, bold: false };
const CODE: Font = Font { family: "monospace", size: 15, bold: true };
const DETAIL: Font = Font { family: "monospace", size: 12, bold: false };

/// An axis-aligned rectangle: top-left corner and size.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
}

impl Rect {
    fn right(self) -> i32 {
        self.x + self.w
    }
    fn bottom(self) -> i32 {
        self.y + self.h
    }
    fn cy(self) -> i32 {
        self.y + self.h / 2
    }
}

/// Escapes text for SVG character data and attribute values.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG document under construction.
#[derive(Default)]
struct Svg {
    body: String,
}

impl Svg {
    /// Appends one element (infallible: it writes to a `String`).
    fn push(&mut self, element: std::fmt::Arguments<'_>) {
        self.body.write_fmt(element).expect("writing to a String cannot fail");
        self.body.push('\n');
    }

    /// Text with its baseline at `y`; `anchor` is `start`, `middle` or `end`.
    fn text(&mut self, x: i32, y: i32, font: Font, anchor: &str, text: &str) {
        self.styled_text(x, y, font, anchor, "#000000", "", text);
    }

    /// Text turned a quarter to the left (reading upwards) about its anchor point `(x, y)`.
    fn text_up(&mut self, x: i32, y: i32, font: Font, anchor: &str, text: &str) {
        self.styled_text(x, y, font, anchor, "#444444", &format!(" transform=\"rotate(-90 {x} {y})\""), text);
    }

    #[allow(clippy::too_many_arguments)] // the attributes of one element
    fn styled_text(&mut self, x: i32, y: i32, font: Font, anchor: &str, fill: &str, extra: &str, text: &str) {
        let weight = if font.bold { " font-weight=\"bold\"" } else { "" };
        self.push(format_args!(
            "<text x=\"{x}\" y=\"{y}\" font-family=\"{}\" font-size=\"{}\"{weight} text-anchor=\"{anchor}\" fill=\"{fill}\"{extra}>{}</text>",
            font.family,
            font.size,
            xml_escape(text)
        ));
    }

    /// A rectangle with rounded corners of radius `rx`.
    fn rect(&mut self, r: Rect, fill: &str, stroke: &str, rx: i32) {
        self.push(format_args!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.2\"/>",
            r.x, r.y, r.w, r.h
        ));
    }

    /// A polyline through `points`, solid or dashed, with an arrowhead at its end or not.
    fn line(&mut self, points: &[(i32, i32)], dashed: bool, arrow: bool) {
        let d: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
        let dash = if dashed { " stroke-dasharray=\"5,4\"" } else { "" };
        let head = if arrow { " marker-end=\"url(#arrow)\"" } else { "" };
        self.push(format_args!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1.4\"{dash}{head}/>",
            d.join(" ")
        ));
    }

    /// A filled circle.
    fn dot(&mut self, x: i32, y: i32, r: i32) {
        self.push(format_args!("<circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"#333333\"/>"));
    }

    /// The addition sign of a residual connection: a circle with a plus in it.
    fn plus(&mut self, x: i32, y: i32, r: i32) {
        self.push(format_args!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" fill=\"#ffffff\" stroke=\"#333333\" stroke-width=\"1.4\"/>"
        ));
        let a = r - 4;
        self.line(&[(x - a, y), (x + a, y)], false, false);
        self.line(&[(x, y - a), (x, y + a)], false, false);
    }

    /// The document, `width` by `height` pixels on white, its body moved down by `dy`.
    fn finish(self, width: i32, height: i32, dy: i32) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n\
             <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333333\"/></marker></defs>\n\
             <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n\
             <g transform=\"translate(0 {dy})\">\n{}</g>\n</svg>\n",
            self.body
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Chapter 6: masks.

/// Side of one mask cell, in pixels.
const CELL: i32 = 34;
/// Blocked cells (mask value 1) are dark, allowed ones (0) white.
const BLOCKED: &str = "#44546a";

/// One mask drawn as a grid: a title (the call that made it), two lines of notes, the rows.
struct MaskPanel<'a> {
    title: &'a str,
    notes: [&'a str; 2],
    row_axis: &'a str,
    rows: Vec<Vec<f32>>,
}

/// A tensor's elements as rows of `width`, keeping the first `n_rows`.
fn grid_rows(t: &Tensor<f32>, width: usize, n_rows: usize) -> Vec<Vec<f32>> {
    t.to_vec().chunks(width).take(n_rows).map(<[f32]>::to_vec).collect()
}

/// The height of a panel with `rows` rows of cells.
fn mask_panel_height(rows: usize) -> i32 {
    104 + CELL * rows as i32 + 28
}

/// Draws one panel with its top-left corner at `(x, y)`.
fn draw_mask_panel(svg: &mut Svg, x: i32, y: i32, p: &MaskPanel<'_>) {
    svg.text(x, y + 16, CODE, "start", p.title);
    svg.text(x, y + 37, NOTE, "start", p.notes[0]);
    svg.text(x, y + 54, NOTE, "start", p.notes[1]);
    let (gx, gy) = (x + 48, y + 104);
    let cols = p.rows.first().map_or(0, Vec::len) as i32;
    svg.text(gx + cols * CELL / 2, y + 78, NOTE, "middle", "key j");
    for j in 0..cols {
        svg.text(gx + j * CELL + CELL / 2, y + 96, BODY, "middle", &j.to_string());
    }
    let n_rows = p.rows.len() as i32;
    svg.text_up(gx - 30, gy + n_rows * CELL / 2, NOTE, "middle", p.row_axis);
    for (i, row) in p.rows.iter().enumerate() {
        let cy = gy + i as i32 * CELL;
        svg.text(gx - 8, cy + CELL / 2 + 5, BODY, "end", &i.to_string());
        for (j, &v) in row.iter().enumerate() {
            let cell = Rect { x: gx + j as i32 * CELL, y: cy, w: CELL, h: CELL };
            let (fill, ink) = if v == 0.0 { ("#ffffff", "#666666") } else { (BLOCKED, "#ffffff") };
            svg.rect(cell, fill, "#b0b0b0", 0);
            svg.styled_text(cell.x + CELL / 2, cell.y + CELL / 2 + 5, BODY, "middle", ink, "", &v.to_string());
        }
    }
}

/// The masks of chapter 6 as grids of their values, each made by the library's own functions:
/// `causal_mask(6, 6)`; `causal_mask(2, 6)`, two new queries after four cached keys; a
/// `padding_mask` of two sequences with 4 and 5 real tokens of 6; and the two combined with
/// `combine_masks`. Blocked positions (value 1) are dark.
///
/// ```
/// let svg = gradlab::figures::masks_svg();
/// assert!(svg.starts_with("<svg") && svg.contains("causal_mask(2, 6)"));
/// ```
pub fn masks_svg() -> String {
    let t = 6;
    let causal = causal_mask::<f32>(t, t);
    let cached = causal_mask::<f32>(2, t);
    let is_pad = [false, false, false, false, true, true, false, false, false, false, false, true];
    let pad = padding_mask::<f32>(&is_pad, 2, t); // (2, 1, 1, 6)
    let both = combine_masks(&causal, &pad); // (2, 1, 6, 6)
    let panels = [
        MaskPanel {
            title: "causal_mask(6, 6)",
            notes: ["query i may read key j only when j ≤ i:", "the future is blocked"],
            row_axis: "query i",
            rows: grid_rows(&causal, t, t),
        },
        MaskPanel {
            title: "causal_mask(2, 6)",
            notes: ["KV cache: 2 new queries after 4 cached", "keys; query i sits at position 4 + i"],
            row_axis: "query i",
            rows: grid_rows(&cached, t, 2),
        },
        MaskPanel {
            title: "padding_mask(is_pad, 2, 6)",
            notes: ["shape (2, 1, 1, 6), a row per sequence:", "4 and 5 real tokens, then padding"],
            row_axis: "sequence",
            rows: grid_rows(&pad, t, 2),
        },
        MaskPanel {
            title: "combine_masks(causal, pad)",
            notes: ["shape (2, 1, 6, 6), sequence 0 shown:", "blocked where either mask blocks"],
            row_axis: "query i",
            rows: grid_rows(&both, t, t),
        },
    ];
    let mut svg = Svg::default();
    mask_legend(&mut svg, 24, 30);
    // Two columns, read top to bottom: the causal masks left, padding and the combination right.
    let (top, col_w) = (62, 48 + t as i32 * CELL + 48);
    let mut bottom = 0;
    for (c, pair) in panels.chunks(2).enumerate() {
        let (x, mut y) = (24 + c as i32 * col_w, top);
        for p in pair {
            draw_mask_panel(&mut svg, x, y, p);
            y += mask_panel_height(p.rows.len());
        }
        bottom = bottom.max(y);
    }
    svg.finish(24 + 2 * col_w, bottom, 0)
}

/// The key to the colours: a dark and a white swatch with their meaning.
fn mask_legend(svg: &mut Svg, x: i32, y: i32) {
    svg.rect(Rect { x, y: y - 14, w: 18, h: 18 }, BLOCKED, "#b0b0b0", 0);
    svg.text(x + 26, y, BODY, "start", "1 = blocked: score set to -inf, weight exactly 0");
    svg.rect(Rect { x: x + 400, y: y - 14, w: 18, h: 18 }, "#ffffff", "#b0b0b0", 0);
    svg.text(x + 426, y, BODY, "start", "0 = allowed");
}

// ---------------------------------------------------------------------------------------------
// Chapter 9: learning-rate schedules.

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(230, 110, 10);
const RED: RGBColor = RGBColor(214, 39, 40);

/// The schedules figure's size in pixels, as shown.
const SCHEDULES_SIZE: (u32, u32) = (860, 800);
/// Plotters draws in whole pixels; the figure is drawn this many times larger and shown at
/// [`SCHEDULES_SIZE`] (the SVG's viewBox scales it), so curves are placed to a quarter pixel.
const S: u32 = 4;

/// `n` pixels as shown, in drawing units.
fn px(n: u32) -> u32 {
    n * S
}

/// A rate as it reads in the legends: `3e-3`.
fn rate(lr: f64) -> String {
    format!("{lr:e}")
}

/// The schedule `train` uses with a configuration's defaults.
fn program_schedule(cfg: &TrainConfig) -> LrSchedule {
    LrSchedule::WarmupCosine {
        max_lr: cfg.learning_rate,
        min_lr: cfg.min_lr,
        warmup_iters: cfg.warmup_iters,
        decay_iters: cfg.lr_decay_iters,
    }
}

/// `(step, rate in units of 1e-3)` at each of `steps`, sorted and without repeats.
fn curve(schedule: LrSchedule, steps: impl Iterator<Item = usize>) -> Vec<(i32, f64)> {
    let mut steps: Vec<usize> = steps.collect();
    steps.sort_unstable();
    steps.dedup();
    steps.into_iter().map(|it| (it as i32, 1e3 * schedule.lr_at(it))).collect()
}

type DrawResult<T = ()> = std::result::Result<T, DrawingAreaErrorKind<std::io::Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type StepChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordi32, RangedCoordf64>>;

/// The three schedules of chapter 9, from `LrSchedule::lr_at`: above, `WarmupCosine` with the
/// defaults of `train` for a task and for a text file (read from [`TrainConfig`]), each beside
/// the `Constant` schedule at its peak rate, over the run's `max_iters`; below, `Noam` with the
/// paper's base model (`d_model` 512, 4000 warmup steps) over its 100,000 steps.
///
/// ```
/// let svg = gradlab::figures::schedules_svg().unwrap();
/// assert!(svg.contains("WarmupCosine") && svg.contains("Noam"));
/// ```
///
/// # Errors
/// [`Error::Plot`] if plotters fails to draw.
pub fn schedules_svg() -> Result<String> {
    let (w, h) = SCHEDULES_SIZE;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (px(w), px(h))).into_drawing_area();
        draw_schedules(&root).and_then(|()| root.present()).map_err(|e| Error::Plot(format!("schedules: {e}")))?;
    } // the backend borrows `svg` until dropped
    // Show the drawing at its intended size: the viewBox keeps the drawing units.
    let drawn = format!("<svg width=\"{}\" height=\"{}\"", px(w), px(h));
    if !svg.starts_with(&drawn) {
        return Err(Error::Plot(format!("schedules: unexpected SVG header {:?}", &svg[..svg.len().min(80)])));
    }
    Ok(svg.replacen(&drawn, &format!("<svg width=\"{w}\" height=\"{h}\""), 1))
}

fn draw_schedules(root: &Area<'_>) -> DrawResult {
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(px(420));
    draw_program_schedules(&top)?;
    draw_noam(&bottom)
}

/// A chart of rate against step, with the margins, axes and fonts both panels share.
fn schedule_chart<'a, 'b>(area: &'a Area<'b>, caption: &str, x_max: i32, y_max: f64) -> DrawResult<StepChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", px(22)))
        .margin(px(16))
        .margin_right(px(40))
        .x_label_area_size(px(48))
        .y_label_area_size(px(64))
        .build_cartesian_2d(0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("learning rate (× 1e-3)")
        .axis_desc_style(("sans-serif", px(17)))
        .label_style(("sans-serif", px(15)))
        .axis_style(BLACK.stroke_width(px(1)))
        .bold_line_style(BLACK.mix(0.15).stroke_width(px(1)))
        .light_line_style(WHITE)
        .set_all_tick_mark_size(px(5))
        .draw()?;
    Ok(chart)
}

/// A legend in the upper right corner.
fn schedule_legend<'a, 'b: 'a>(chart: &mut StepChart<'a, 'b>) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(px(10))
        .legend_area_size(px(30))
        .label_font(("sans-serif", px(15)))
        .background_style(WHITE)
        .border_style(BLACK.stroke_width(px(1)))
        .draw()
}

/// A legend mark: a line `len` pixels long.
fn legend_line(style: ShapeStyle, len: u32) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + px(len) as i32, y)], style)
}

/// `WarmupCosine` with `train`'s defaults for a task and for `--data`, and `Constant` at each peak.
fn draw_program_schedules(area: &Area<'_>) -> DrawResult {
    let runs = [
        ("train on a task", TrainConfig::for_task(Task::Sort), BLUE),
        ("train --data", TrainConfig::for_text(PathBuf::from("text.txt")), ORANGE),
    ];
    let x_max = runs.iter().map(|(_, c, _)| c.max_iters).max().unwrap_or(1) as i32;
    let y_max = runs.iter().map(|(_, c, _)| 1e3 * c.learning_rate).fold(0.0, f64::max) * 5.0 / 3.0;
    let mut chart = schedule_chart(area, "The schedule of gradlab train, with its defaults", x_max, y_max)?;
    for (name, cfg, color) in runs {
        let (warmup, end) = (cfg.warmup_iters, cfg.max_iters);
        // The warmup is a straight line: its two ends; then every 10 steps.
        let steps = [0, warmup.saturating_sub(1), end - 1].into_iter().chain((warmup..end).step_by(10));
        let label = format!(
            "{name}: WarmupCosine {} → {}, warmup {warmup}, decay to step {}",
            rate(cfg.learning_rate),
            rate(cfg.min_lr),
            cfg.lr_decay_iters
        );
        let style = color.stroke_width(px(3));
        chart
            .draw_series(LineSeries::new(curve(program_schedule(&cfg), steps), style))?
            .label(label)
            .legend(legend_line(style, 24));
        let flat = curve(LrSchedule::Constant(cfg.learning_rate), [0, end - 1].into_iter());
        let dashed = color.stroke_width(px(2));
        chart
            .draw_series(DashedLineSeries::new(flat, px(8), px(6), dashed))?
            .label(format!("Constant({}), for comparison", rate(cfg.learning_rate)))
            .legend(legend_line(dashed, 10));
    }
    schedule_legend(&mut chart)
}

/// `Noam` with the paper's base model settings, its peak marked.
fn draw_noam(area: &Area<'_>) -> DrawResult {
    let (d_model, warmup, steps) = (512, 4000, 100_000);
    let noam = LrSchedule::Noam { d_model, warmup, factor: 1.0 };
    let peak = (warmup - 1, 1e3 * noam.lr_at(warmup - 1));
    let mut chart = schedule_chart(area, "Noam: the paper's base model", steps as i32, peak.1 * 1.25)?;
    let style = RED.stroke_width(px(3));
    let points = curve(noam, [0, peak.0].into_iter().chain((warmup..=steps).step_by(250)));
    chart
        .draw_series(LineSeries::new(points, style))?
        .label(format!("Noam {{ d_model: {d_model}, warmup: {warmup}, factor: 1 }}"))
        .legend(legend_line(style, 24));
    chart.draw_series([Circle::new((peak.0 as i32, peak.1), px(5), RED.filled())])?;
    let note = format!(
        "peak at step {} (s = {warmup}): (d_model warmup)^-0.5 = {:.2e}; then ~ 1/sqrt(s)",
        peak.0,
        peak.1 / 1e3
    );
    chart.draw_series([Text::new(note, (peak.0 as i32 + 2500, peak.1), ("sans-serif", px(15)))])?;
    schedule_legend(&mut chart)
}

// ---------------------------------------------------------------------------------------------
// Chapter 8: the architecture, read from built models.

/// Width and height of a box of the architecture figure.
const BOX_W: i32 = 214;
const BOX_H: i32 = 42;
/// Length of the arrow between two items of a column.
const GAP: i32 = 24;
/// Radius of the addition sign.
const PLUS_R: i32 = 11;

const FILL_ATTENTION: &str = "#fcdcb4";
const FILL_FEED_FORWARD: &str = "#c7e6f5";
const FILL_NORM: &str = "#f2f0b8";
const FILL_EMBEDDING: &str = "#f9c9cf";
const FILL_LINEAR: &str = "#dcd0f0";
const FILL_FRAME: &str = "#f3f3f3";

/// What the figure draws of one stack of layers, read from a built model.
struct StackPicture {
    /// Where each sublayer's norm sits.
    norm: NormPlacement,
    /// `(module, norm)` of each sublayer in order, as the layer names its parameters
    /// (`("attn", "ln_1")`, ...).
    sublayers: Vec<(String, String)>,
    /// Whether the stack ends in a final layer norm `ln_f`.
    final_norm: bool,
}

/// The sublayers of a layer from its parameter names: the modules (`attn`, `cross_attn`, `mlp`)
/// in order, each with the norm (`ln_1`, ...) of the same rank.
fn sublayers(named: &[(String, Var<f64>)]) -> Vec<(String, String)> {
    let mut parts: Vec<&str> = named.iter().map(|(n, _)| n.split('.').next().unwrap_or("")).collect();
    parts.dedup();
    let (norms, modules): (Vec<&str>, Vec<&str>) = parts.into_iter().partition(|p| p.starts_with("ln_"));
    assert_eq!(norms.len(), modules.len(), "one norm per sublayer: {norms:?} {modules:?}");
    modules.into_iter().zip(norms).map(|(m, n)| (m.to_string(), n.to_string())).collect()
}

/// A layer's placement, seen from its output on inputs far from zero mean: a post-LN layer ends
/// in a layer norm (unit gain, zero shift at initialisation), so every row comes out with mean 0;
/// a pre-LN layer adds its sublayers to the unnormalised stream, which keeps the input's offset.
fn placement_of(output: &Tensor<f64>) -> NormPlacement {
    let largest_row_mean = output.mean(&[-1], false).to_vec().into_iter().fold(0.0, |m: f64, v| m.max(v.abs()));
    if largest_row_mean < 1e-6 { NormPlacement::Post } else { NormPlacement::Pre }
}

/// `(B, T, d) = (1, 4, d)` inputs with mean 3 per row, for [`placement_of`].
fn probe_input(d: usize, seed: u64) -> Var<f64> {
    Var::constant(Tensor::rand_normal(&[1, 4, d], 3.0, 1.0, seed))
}

/// The activation's name as the boxes print it.
fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "ReLU",
        Activation::GeluTanh => "GELU (tanh)",
        Activation::GeluErf => "GELU (erf)",
    }
}

/// The small encoder-decoder of chapter 8 (post-LN as the paper, untied output layer, dropout
/// off), whose structure the architecture figure draws and whose parameters the chapter counts.
pub fn chapter8_transformer() -> Transformer<f64> {
    let config = TransformerConfig {
        src_vocab: 13,
        tgt_vocab: 13,
        d_model: 32,
        n_head: 4,
        d_ff: 64,
        n_encoder_layers: 2,
        n_decoder_layers: 2,
        max_len: 16,
        dropout: 0.0,
        tie_weights: false,
        norm: NormPlacement::Post,
    };
    Transformer::new(config, 0)
}

/// The program's default GPT for the sort task (any size shows the same structure).
fn default_gpt() -> Gpt<f64> {
    let cfg = TrainConfig::for_task(Task::Sort);
    Gpt::new(GptConfig { dropout: 0.0, ..cfg.gpt_config(11) }, 0)
}

/// Everything the figure reads from the two models.
struct ModelPictures {
    encoder: StackPicture,
    decoder: StackPicture,
    gpt: StackPicture,
    /// The encoder-decoder's output layer reuses `tgt_embed.weight`.
    transformer_tied: bool,
    /// The GPT's LM head reuses `wte.weight` (no parameter of its own).
    gpt_tied: bool,
    /// Embeddings multiplied by `sqrt(d)`.
    transformer_scaled: bool,
    gpt_scaled: bool,
    transformer_activation: Activation,
    gpt_activation: Activation,
    /// GPT's feed-forward width as a multiple of `d`.
    gpt_ff_ratio: usize,
}

/// Builds the models and reads what the figure shows off them.
fn read_models() -> ModelPictures {
    let model = chapter8_transformer();
    let d = model.config.d_model;
    let enc = &model.encoder.layers[0];
    let dec = &model.decoder.layers[0];
    let x = probe_input(d, 1);
    let memory = probe_input(d, 2);
    let enc_out = enc.forward(&x, None).value();
    let dec_out = dec.forward(&x, &memory, Some(&causal_mask(4, 4)), None).value();

    let gpt = default_gpt();
    let block = &gpt.blocks[0];
    let gx = probe_input(gpt.config.n_embd, 3);
    let gpt_out = block.forward(&gx, Some(&causal_mask(4, 4))).value();
    ModelPictures {
        encoder: StackPicture {
            norm: placement_of(&enc_out),
            sublayers: sublayers(&enc.named_parameters()),
            final_norm: model.encoder.ln_f.is_some(),
        },
        decoder: StackPicture {
            norm: placement_of(&dec_out),
            sublayers: sublayers(&dec.named_parameters()),
            final_norm: model.decoder.ln_f.is_some(),
        },
        gpt: StackPicture {
            norm: placement_of(&gpt_out),
            sublayers: sublayers(&block.named_parameters()),
            final_norm: true, // `Gpt::ln_f` is not optional
        },
        transformer_tied: model.generator.is_none(),
        gpt_tied: !gpt.named_parameters().iter().any(|(n, _)| n.starts_with("lm_head")),
        transformer_scaled: model.tgt_embed.scale_by_sqrt_d,
        gpt_scaled: gpt.wte.scale_by_sqrt_d,
        transformer_activation: enc.mlp.activation,
        gpt_activation: block.mlp.activation,
        gpt_ff_ratio: block.mlp.fc.weight.shape()[0] / gpt.config.n_embd,
    }
}

/// A box of a column: a title and a line of detail (code names) under it.
struct Item<'a> {
    title: &'a str,
    detail: &'a str,
    fill: &'a str,
}

/// One column of the architecture, drawn from the bottom up: `top` is the y of the top of the
/// last thing drawn, where the next arrow starts.
struct Column {
    cx: i32,
    top: i32,
}

impl Column {
    /// A column whose input label has its baseline at `y`.
    fn new(svg: &mut Svg, cx: i32, y: i32, input: &str) -> Self {
        svg.text(cx, y, BODY, "middle", input);
        Column { cx, top: y - 16 }
    }

    /// A box above the last thing drawn, joined to it by an arrow.
    fn block(&mut self, svg: &mut Svg, item: &Item<'_>) -> Rect {
        let r = Rect { x: self.cx - BOX_W / 2, y: self.top - GAP - BOX_H, w: BOX_W, h: BOX_H };
        svg.line(&[(self.cx, self.top), (self.cx, r.bottom())], false, true);
        svg.rect(r, item.fill, "#333333", 6);
        svg.text(self.cx, r.y + 18, BODY, "middle", item.title);
        svg.text(self.cx, r.y + 35, DETAIL, "middle", item.detail);
        self.top = r.y;
        r
    }

    /// An addition sign above the last thing drawn; returns its bounding square.
    fn plus(&mut self, svg: &mut Svg) -> Rect {
        let r = Rect { x: self.cx - PLUS_R, y: self.top - GAP - 2 * PLUS_R, w: 2 * PLUS_R, h: 2 * PLUS_R };
        svg.line(&[(self.cx, self.top), (self.cx, r.bottom())], false, true);
        svg.plus(self.cx, r.cy(), PLUS_R);
        self.top = r.y;
        r
    }

    /// An addition sign fed from the side by a small box (the positions).
    fn plus_with_side_input(&mut self, svg: &mut Svg, side: &Item<'_>) -> Rect {
        let plus = self.plus(svg);
        let r = Rect { x: plus.right() + 26, y: plus.cy() - BOX_H / 2, w: 96, h: BOX_H };
        svg.rect(r, side.fill, "#333333", 6);
        svg.text(r.x + r.w / 2, r.y + 18, BODY, "middle", side.title);
        svg.text(r.x + r.w / 2, r.y + 35, DETAIL, "middle", side.detail);
        svg.line(&[(r.x, plus.cy()), (plus.right(), plus.cy())], false, true);
        plus
    }

    /// A plain line upwards, to make room.
    fn extend(&mut self, svg: &mut Svg, len: i32) {
        svg.line(&[(self.cx, self.top), (self.cx, self.top - len)], false, false);
        self.top -= len;
    }

    /// Where a residual branch leaves the stream: half way up the next arrow.
    fn fork(&self) -> (i32, i32) {
        (self.cx, self.top - GAP / 2)
    }

    /// The residual branch from `fork` round the right of the boxes into the side of `target`.
    fn residual(&self, svg: &mut Svg, fork: (i32, i32), target: Rect) {
        let side = self.cx + BOX_W / 2 + 12;
        svg.dot(fork.0, fork.1, 3);
        svg.line(&[fork, (side, fork.1), (side, target.cy()), (target.right(), target.cy())], false, true);
    }
}

/// Labels of a column's sublayer modules: `(module name) -> (title, detail, fill)`.
type Describe<'a> = &'a dyn Fn(&str) -> (String, String, &'static str);

/// Draws a stack's layer once, framed and labelled with how often it repeats; returns the
/// rectangle of each sublayer module by name (the decoder's cross-attention takes the memory).
fn draw_stack(
    svg: &mut Svg,
    col: &mut Column,
    stack: &StackPicture,
    describe: Describe<'_>,
    repeat: &str,
) -> Vec<(String, Rect)> {
    col.extend(svg, 16);
    let frame_mark = svg.body.len();
    let frame_bottom = col.top + 8;
    let mut modules = Vec::new();
    for (module, norm) in &stack.sublayers {
        let (title, detail, fill) = describe(module);
        let item = Item { title: &title, detail: &detail, fill };
        let fork = col.fork();
        let target = match stack.norm {
            NormPlacement::Post => {
                modules.push((module.clone(), col.block(svg, &item)));
                col.block(svg, &Item { title: "Add & LayerNorm", detail: norm, fill: FILL_NORM })
            }
            NormPlacement::Pre => {
                col.block(svg, &Item { title: "LayerNorm", detail: norm, fill: FILL_NORM });
                modules.push((module.clone(), col.block(svg, &item)));
                col.plus(svg)
            }
        };
        col.residual(svg, fork, target);
    }
    col.extend(svg, 14);
    let frame = Rect { x: col.cx - BOX_W / 2 - 28, y: col.top + 6, w: BOX_W + 28 + 24, h: frame_bottom - col.top - 6 };
    let mut framed = Svg::default();
    framed.rect(frame, FILL_FRAME, "#999999", 10);
    framed.text_up(frame.x + 18, frame.y + 10, DETAIL, "end", repeat);
    svg.body.insert_str(frame_mark, &framed.body);
    if stack.final_norm {
        col.block(svg, &Item { title: "LayerNorm", detail: "ln_f", fill: FILL_NORM });
    }
    modules
}

/// The output layer, and when it is tied, a dashed link to the embedding it shares a weight with.
fn draw_head(svg: &mut Svg, col: &mut Column, item: &Item<'_>, tied_to: Option<Rect>) -> Rect {
    let head = col.block(svg, item);
    if let Some(embed) = tied_to {
        let side = col.cx + BOX_W / 2 + 40;
        svg.line(
            &[(embed.right(), embed.cy()), (side, embed.cy()), (side, head.cy()), (head.right(), head.cy())],
            true,
            false,
        );
        svg.text_up(side + 16, (embed.cy() + head.cy()) / 2, DETAIL, "middle", "one weight, used twice");
    }
    head
}

/// The output label above the last thing drawn.
fn draw_output(svg: &mut Svg, col: &mut Column, label: &str) {
    svg.line(&[(col.cx, col.top), (col.cx, col.top - GAP)], false, true);
    svg.text(col.cx, col.top - GAP - 8, BODY, "middle", label);
    col.top -= GAP + 24;
}

/// The residual rule of a placement, with dropout as the code applies it.
fn residual_rule(norm: NormPlacement) -> &'static str {
    match norm {
        NormPlacement::Post => "post-LN: x = LayerNorm(x + Dropout(sublayer(x)))",
        NormPlacement::Pre => "pre-LN: x = x + Dropout(sublayer(LayerNorm(x)))",
    }
}

/// The title and the detail line of an embedding box.
fn embedding_item(name: &'static str, scaled: bool) -> Item<'static> {
    Item { title: if scaled { "Embedding × √d" } else { "Embedding" }, detail: name, fill: FILL_EMBEDDING }
}

/// Column centres of the encoder, the decoder and the GPT, and the figure's width.
const ENC_X: i32 = 165;
const DEC_X: i32 = 490;
const GPT_X: i32 = 850;
const WIDTH: i32 = 1040;

/// Chapter 8's figure: the encoder-decoder `Transformer` (its chapter-8 configuration, post-LN
/// as the paper) beside the decoder-only `Gpt` (the program's default), in the spirit of Figure 1
/// of "Attention Is All You Need". Boxes, arrows and labels are SVG elements written here; what
/// they show is read from models built by the library: each stack's norm placement (from a
/// layer's output), its sublayers in order (from the layer's parameter names), whether it ends in
/// `ln_f`, whether the output layer is tied to an embedding, the embedding scaling and the
/// feed-forward activation and width.
///
/// ```
/// let svg = gradlab::figures::architecture_svg();
/// assert!(svg.contains("Cross-attention") && svg.contains("lm_head"));
/// ```
pub fn architecture_svg() -> String {
    let m = read_models();
    let mut svg = Svg::default();

    // Encoder.
    let mut enc = Column::new(&mut svg, ENC_X, 0, "src (B, S)");
    enc.block(&mut svg, &embedding_item("src_embed", m.transformer_scaled));
    enc.plus_with_side_input(&mut svg, &Item { title: "PE", detail: "sinusoidal", fill: FILL_EMBEDDING });
    let act = activation_name(m.transformer_activation);
    let describe_enc = |module: &str| describe_module(module, "attn · padding mask", act, "d_ff");
    draw_stack(&mut svg, &mut enc, &m.encoder, &describe_enc, "Block × n_encoder_layers");

    // Decoder.
    let mut dec = Column::new(&mut svg, DEC_X, 0, "tgt (B, T), shifted right");
    let tgt_embed = dec.block(&mut svg, &embedding_item("tgt_embed", m.transformer_scaled));
    dec.plus_with_side_input(&mut svg, &Item { title: "PE", detail: "sinusoidal", fill: FILL_EMBEDDING });
    let describe_dec = |module: &str| describe_module(module, "attn · causal_mask", act, "d_ff");
    let modules = draw_stack(&mut svg, &mut dec, &m.decoder, &describe_dec, "DecoderBlock × n_decoder_layers");
    let head = if m.transformer_tied {
        Item { title: "Linear (tied)", detail: "tgt_embed.weightᵀ", fill: FILL_LINEAR }
    } else {
        Item { title: "Linear", detail: "generator · d → tgt_vocab", fill: FILL_LINEAR }
    };
    draw_head(&mut svg, &mut dec, &head, m.transformer_tied.then_some(tgt_embed));
    draw_output(&mut svg, &mut dec, "logits (B, T, tgt_vocab)");
    if let Some((_, cross)) = modules.iter().find(|(name, _)| name == "cross_attn") {
        draw_memory(&mut svg, &mut enc, *cross);
    }

    // GPT.
    let mut gpt = Column::new(&mut svg, GPT_X, 0, "ids (B, T)");
    let wte = gpt.block(&mut svg, &embedding_item("wte", m.gpt_scaled));
    gpt.plus_with_side_input(&mut svg, &Item { title: "wpe", detail: "learned", fill: FILL_EMBEDDING });
    let gpt_act = activation_name(m.gpt_activation);
    let width = format!("{}d", m.gpt_ff_ratio);
    let describe_gpt = |module: &str| describe_module(module, "attn · causal_mask", gpt_act, &width);
    draw_stack(&mut svg, &mut gpt, &m.gpt, &describe_gpt, "Block, causal × n_layer");
    let head = if m.gpt_tied {
        Item { title: "lm_head (tied)", detail: "wte.weightᵀ", fill: FILL_LINEAR }
    } else {
        Item { title: "lm_head", detail: "Linear d → vocab_size", fill: FILL_LINEAR }
    };
    draw_head(&mut svg, &mut gpt, &head, m.gpt_tied.then_some(wte));
    draw_output(&mut svg, &mut gpt, "logits (B, T, vocab_size)");

    let top = enc.top.min(dec.top).min(gpt.top);
    draw_headings(&mut svg, top, &m);
    let footnote = "Dropout (not drawn) follows the embeddings and every sublayer; arrows show the forward pass.";
    svg.text(24, 40, NOTE, "start", footnote);
    let dy = -top + 92;
    svg.finish(WIDTH, dy + 56, dy)
}

/// Title, detail and colour of a sublayer module's box.
fn describe_module(
    module: &str,
    self_attention: &str,
    activation: &str,
    ff_width: &str,
) -> (String, String, &'static str) {
    match module {
        "attn" if self_attention.contains("causal") => {
            ("Causal self-attention".into(), self_attention.into(), FILL_ATTENTION)
        }
        "attn" => ("Self-attention".into(), self_attention.into(), FILL_ATTENTION),
        "cross_attn" => ("Cross-attention".into(), "cross_attn · K, V: memory".into(), FILL_ATTENTION),
        "mlp" => (format!("Feed-forward, {activation}"), format!("mlp · d → {ff_width} → d"), FILL_FEED_FORWARD),
        other => (other.into(), other.into(), FILL_FRAME),
    }
}

/// The encoder's output, the memory, routed into the bottom of the decoder's cross-attention.
fn draw_memory(svg: &mut Svg, enc: &mut Column, cross: Rect) {
    let turn = enc.top - 22;
    let channel = (ENC_X + DEC_X) / 2 + 6;
    let entry_x = cross.x + 36;
    let below = cross.bottom() + 10;
    svg.text(enc.cx, turn - 8, BODY, "middle", "memory (B, S, d)");
    svg.line(
        &[
            (enc.cx, enc.top),
            (enc.cx, turn),
            (channel, turn),
            (channel, below),
            (entry_x, below),
            (entry_x, cross.bottom()),
        ],
        false,
        true,
    );
    svg.text(channel - 6, below - 5, DETAIL, "end", "K, V");
    enc.top = turn - 26;
}

/// The two titles with the residual rule of each model, above the columns.
fn draw_headings(svg: &mut Svg, top: i32, m: &ModelPictures) {
    let pair = (ENC_X + DEC_X) / 2;
    svg.text(pair, top - 48, TITLE, "middle", "Encoder-decoder Transformer");
    svg.text(pair, top - 26, HEADING, "middle", residual_rule(m.decoder.norm));
    svg.text(GPT_X, top - 48, TITLE, "middle", "GPT");
    svg.text(GPT_X, top - 26, HEADING, "middle", residual_rule(m.gpt.norm));
    let divider = (DEC_X + GPT_X) / 2 + 14;
    svg.push(format_args!(
        "<line x1=\"{divider}\" y1=\"{}\" x2=\"{divider}\" y2=\"10\" stroke=\"#bbbbbb\" stroke-width=\"1\" stroke-dasharray=\"3,5\"/>",
        top - 8
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The placement probe tells both placements apart, on encoder and decoder layers alike.
    #[test]
    fn placement_is_read_from_a_layer_output() {
        for norm in [NormPlacement::Post, NormPlacement::Pre] {
            let config = TransformerConfig { norm, ..chapter8_transformer().config };
            let model = Transformer::<f64>::new(config, 0);
            let x = probe_input(config.d_model, 1);
            let enc = model.encoder.layers[0].forward(&x, None).value();
            let dec = model.decoder.layers[0].forward(&x, &x, None, None).value();
            assert_eq!((placement_of(&enc), placement_of(&dec)), (norm, norm));
            assert_eq!(model.encoder.ln_f.is_some(), norm == NormPlacement::Pre);
        }
    }

    #[test]
    fn sublayers_pair_each_module_with_its_norm() {
        let m = read_models();
        let pairs = |s: &StackPicture| s.sublayers.iter().map(|(a, b)| format!("{a}/{b}")).collect::<Vec<_>>();
        assert_eq!(pairs(&m.encoder), ["attn/ln_1", "mlp/ln_2"]);
        assert_eq!(pairs(&m.decoder), ["attn/ln_1", "cross_attn/ln_2", "mlp/ln_3"]);
        assert_eq!(pairs(&m.gpt), ["attn/ln_1", "mlp/ln_2"]);
        assert_eq!((m.encoder.norm, m.gpt.norm), (NormPlacement::Post, NormPlacement::Pre));
        assert!(m.gpt_tied && !m.transformer_tied && m.transformer_scaled && !m.gpt_scaled);
        assert_eq!(m.gpt_ff_ratio, 4);
    }
}
