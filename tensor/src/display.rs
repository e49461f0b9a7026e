//! Printing tensors as PyTorch does.
//!
//! ```
//! use tensor::Tensor;
//! let x = Tensor::<f32>::arange(0.0, 4.0, 1.0).reshape(&[2, 2]);
//! assert_eq!(x.to_string(), "tensor([[0.0000, 1.0000],\n        [2.0000, 3.0000]], shape=[2, 2], dtype=f32)");
//! assert_eq!(Tensor::<f64>::scalar(3.5).to_string(), "tensor(3.5000, dtype=f64)");
//! assert_eq!(format!("{:.1}", x.narrow(1, 0, 1)), "tensor([[0.0],\n        [2.0]], shape=[2, 1], dtype=f32)");
//! ```
//!
//! The rules follow `torch._tensor_str` with its default print options:
//! - every value gets 4 decimals (or the precision asked for, `{:.2}`), right-aligned to the
//!   widest shown value so columns line up;
//! - scientific notation (`1.0000e+08`) for all values when the shown non-zero finite magnitudes
//!   span more than a factor of 1000, exceed 1e8, or go below 1e-4;
//! - rows go on their own lines, with one blank line between 2-D blocks, one more per extra axis;
//!   a row longer than 80 characters wraps;
//! - above 1000 elements, each axis longer than 6 shows its first and last 3 entries around `...`.
//!
//! `Debug` prints the same and adds the strides and storage offset, which is what a view changes.

use std::fmt;

use crate::{Float, Tensor};

/// Tensors with more elements than this are summarized (`torch` threshold).
const THRESHOLD: usize = 1000;
/// Entries kept at each end of a summarized axis (`torch` edgeitems).
const EDGE_ITEMS: usize = 3;
/// Rows wrap to stay within this many characters (`torch` linewidth).
const LINE_WIDTH: usize = 80;
/// Decimals when the format asks for none.
const DEFAULT_PRECISION: usize = 4;
/// Length of the `tensor(` prefix: nested rows are indented past it.
const PREFIX: &str = "tensor(";

/// How every value of one tensor is written: the same notation and width for all, so columns align.
struct ValueFormat {
    precision: usize,
    sci: bool,
    width: usize,
}

impl ValueFormat {
    /// Chooses the notation from the values that will be shown, as torch's `_Formatter`.
    fn new<T: Float>(shown: &[T], precision: usize) -> Self {
        let magnitudes = shown.iter().map(|v| v.to_f64().abs()).filter(|m| m.is_finite() && *m != 0.0);
        let (min, max) = magnitudes.fold((f64::INFINITY, 0.0f64), |(lo, hi), m| (lo.min(m), hi.max(m)));
        let sci = max > 0.0 && (max / min > 1000.0 || max > 1e8 || min < 1e-4);
        let mut f = ValueFormat { precision, sci, width: 0 };
        f.width = shown.iter().map(|&v| f.plain(v).len()).max().unwrap_or(0);
        f
    }

    /// One value, unpadded.
    fn plain<T: Float>(&self, v: T) -> String {
        if v.is_nan() {
            return "nan".into();
        }
        if !v.is_finite() {
            return if v > T::ZERO { "inf".into() } else { "-inf".into() };
        }
        if !self.sci {
            return format!("{v:.*}", self.precision);
        }
        // Rust writes `1.0000e8`; torch and NumPy write `1.0000e+08`.
        let s = format!("{v:.*e}", self.precision);
        let (mantissa, exp) = s.split_once('e').expect("LowerExp output has an exponent");
        let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }

    /// One value, right-aligned to the common width.
    fn padded<T: Float>(&self, v: T) -> String {
        format!("{:>w$}", self.plain(v), w = self.width)
    }
}

/// The entries of an axis of size `n` to show: all, or the ends with `None` marking the `...`.
fn shown_entries(n: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).map(Some).chain([None]).chain((n - EDGE_ITEMS..n).map(Some)).collect()
    } else {
        (0..n).map(Some).collect()
    }
}

/// Appends `suffixes` after `body` as torch's `_add_suffixes`: on the last line if it fits in
/// the line width, else on a new line indented past `tensor(`.
fn add_suffixes(mut body: String, suffixes: &[String]) -> String {
    // torch counts the last line as two characters longer than it is; do the same so the
    // suffixes break exactly where torch breaks them.
    let mut last_line = body.len() - body.rfind('\n').map_or(0, |i| i + 1) + 2;
    for s in suffixes {
        if last_line + s.len() + 2 > LINE_WIDTH {
            body.push_str(&format!(",\n{:w$}{s}", "", w = PREFIX.len()));
            last_line = PREFIX.len() + s.len();
        } else {
            body.push_str(&format!(", {s}"));
            last_line += s.len() + 2;
        }
    }
    body.push(')');
    body
}

impl<T: Float> Tensor<T> {
    /// Calls `f` with each shown value, in printing order.
    fn visit_shown(&self, axis: usize, offset: usize, summarize: bool, f: &mut impl FnMut(T)) {
        if axis == self.ndim() {
            f(self.storage[offset]);
            return;
        }
        for i in shown_entries(self.shape()[axis], summarize).into_iter().flatten() {
            self.visit_shown(axis + 1, offset + i * self.strides()[axis], summarize, f);
        }
    }

    /// The bracketed text of the sub-tensor starting at `axis` and storage `offset`, whose
    /// opening bracket sits at column `indent`.
    fn axis_text(&self, axis: usize, offset: usize, indent: usize, summarize: bool, vf: &ValueFormat) -> String {
        let n = self.shape()[axis];
        let stride = self.strides()[axis];
        let entries = shown_entries(n, summarize);
        if axis + 1 == self.ndim() {
            let items: Vec<String> = entries
                .iter()
                .map(|e| match e {
                    Some(i) => vf.padded(self.storage[offset + i * stride]),
                    None => " ...".to_string(),
                })
                .collect();
            let per_line = ((LINE_WIDTH.saturating_sub(indent)) / (vf.width + 2)).max(1);
            let lines: Vec<String> = items.chunks(per_line).map(|line| line.join(", ")).collect();
            return format!("[{}]", lines.join(&format!(",\n{:w$}", "", w = indent + 1)));
        }
        let blocks: Vec<String> = entries
            .iter()
            .map(|e| match e {
                Some(i) => self.axis_text(axis + 1, offset + i * stride, indent + 1, summarize, vf),
                None => "...".to_string(),
            })
            .collect();
        let newlines = "\n".repeat(self.ndim() - axis - 1);
        format!("[{}]", blocks.join(&format!(",{newlines}{:w$}", "", w = indent + 1)))
    }

    /// The full text: `tensor(<values>, <suffixes>)`.
    fn render(&self, precision: usize, extra: &[String]) -> String {
        let summarize = self.numel() > THRESHOLD;
        let mut shown = Vec::new();
        self.visit_shown(0, self.layout.offset(), summarize, &mut |v| shown.push(v));
        let vf = ValueFormat::new(&shown, precision);
        let mut suffixes = Vec::new();
        let body = if self.ndim() == 0 {
            vf.padded(self.storage[self.layout.offset()])
        } else {
            suffixes.push(format!("shape={:?}", self.shape()));
            if self.numel() == 0 {
                "[]".to_string()
            } else {
                self.axis_text(0, self.layout.offset(), PREFIX.len(), summarize, &vf)
            }
        };
        suffixes.extend(extra.iter().cloned());
        suffixes.push(format!("dtype={}", T::NAME));
        add_suffixes(format!("{PREFIX}{body}"), &suffixes)
    }
}

/// Prints like PyTorch: `tensor([[0.0000, 1.0000], ...], shape=[2, 2], dtype=f32)`; see the
/// module docs of `tensor/src/display.rs` for the rules. `{:.N}` sets the number of decimals.
impl<T: Float> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(f.precision().unwrap_or(DEFAULT_PRECISION), &[]))
    }
}

/// The [`Display`](fmt::Display) text plus the layout: `..., shape=[3, 2], strides=[1, 3], offset=0, dtype=f32)`.
///
/// ```
/// use tensor::Tensor;
/// let t = Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]).mt();
/// assert_eq!(
///     format!("{t:?}"),
///     "tensor([[0.0000, 3.0000],\n        [1.0000, 4.0000],\n        [2.0000, 5.0000]], shape=[3, 2], strides=[1, 3], offset=0, dtype=f64)"
/// );
/// ```
impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra = [format!("strides={:?}", self.strides()), format!("offset={}", self.layout.offset())];
        f.write_str(&self.render(f.precision().unwrap_or(DEFAULT_PRECISION), &extra))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn three_dims_put_a_blank_line_between_blocks() {
        let x = Tensor::<f32>::arange(0.0, 8.0, 1.0).reshape(&[2, 2, 2]);
        let want = "tensor([[[0.0000, 1.0000],\n         [2.0000, 3.0000]],\n\n        [[4.0000, 5.0000],\n         [6.0000, 7.0000]]], shape=[2, 2, 2], dtype=f32)";
        assert_eq!(x.to_string(), want);
    }

    #[test]
    fn negative_values_align_and_special_values_print_like_torch() {
        let x = Tensor::<f64>::from_vec(vec![1.0, -10.5, f64::NAN, f64::NEG_INFINITY], &[4]);
        assert_eq!(x.to_string(), "tensor([  1.0000, -10.5000,      nan,     -inf], shape=[4], dtype=f64)");
    }

    #[test]
    fn wide_magnitude_range_switches_to_scientific() {
        let x = Tensor::<f32>::from_vec(vec![1e-5, 0.0, -2.5e10], &[3]);
        assert_eq!(x.to_string(), "tensor([ 1.0000e-05,  0.0000e+00, -2.5000e+10], shape=[3], dtype=f32)");
        // The suffixes move to their own line rather than pass 80 columns.
        let y = Tensor::<f32>::from_vec(vec![1e-5, 1.0, 0.0, -2.5e10], &[4]);
        assert_eq!(
            y.to_string(),
            "tensor([ 1.0000e-05,  1.0000e+00,  0.0000e+00, -2.5000e+10], shape=[4],\n       dtype=f32)"
        );
    }

    #[test]
    fn long_rows_wrap_at_eighty_columns() {
        let x = Tensor::<f32>::arange(0.0, 12.0, 1.0);
        let s = x.to_string();
        assert!(s.lines().all(|l| l.len() <= 80), "{s}");
        assert_eq!(s.lines().count(), 2);
        assert!(s.contains(" 7.0000,\n         8.0000,"), "{s}");
    }

    #[test]
    fn empty_tensor() {
        assert_eq!(Tensor::<f64>::zeros(&[0, 3]).to_string(), "tensor([], shape=[0, 3], dtype=f64)");
    }
}
