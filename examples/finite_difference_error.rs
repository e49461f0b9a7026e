//! The error of a central finite difference as a function of its step, in f64 and in f32: the
//! figure of the gradient-checking chapter (docs/guide/04-gradient-checking.md).
//!
//! For `f = exp` on 101 points of `[0, 2]`, the worst `|(f(x + eps) - f(x - eps)) / (2 eps) - f'(x)|`,
//! with the difference computed entirely in the element type. It falls as `eps^2` (truncation)
//! until rounding, about `u |f| / eps`, takes over: the V shape that makes the checker use f64 and
//! `eps = 1e-6`.
//!
//! Run with `cargo run --release --example finite_difference_error [out.svg]`; the default output
//! is `docs/guide/img/finite-difference-error.svg`.

use plotters::prelude::*;
use tensor::Float;

/// The worst error of the central difference of exp over 101 points x in [0, 2], computed in T.
fn worst_error<T: Float>(eps: f64) -> f64 {
    let h = T::from_f64(eps);
    (0..=100)
        .map(|i| {
            let x = T::from_f64(i as f64 / 50.0);
            let numeric = ((x + h).exp() - (x - h).exp()) / (h + h);
            (numeric.to_f64() - x.to_f64().exp()).abs()
        })
        .fold(0.0, f64::max)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "docs/guide/img/finite-difference-error.svg".into());
    // Steps from 1e-1 down to 1e-10, four per decade.
    let steps: Vec<f64> = (4..=40).map(|k| 10f64.powf(-(k as f64) / 4.0)).collect();
    let f64_errors: Vec<(f64, f64)> = steps.iter().map(|&e| (e, worst_error::<f64>(e))).collect();
    let f32_errors: Vec<(f64, f64)> = steps.iter().map(|&e| (e, worst_error::<f32>(e))).collect();

    println!("{:>10}  {:>12}  {:>12}", "eps", "error (f64)", "error (f32)");
    for ((e, a), (_, b)) in f64_errors.iter().zip(&f32_errors) {
        println!("{e:>10.1e}  {a:>12.2e}  {b:>12.2e}");
    }

    let (y_lo, y_hi) = (1e-11, 1e2);
    let root = SVGBackend::new(&path, (760, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Central difference of exp: error vs step", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d((1e-10f64..1e-1f64).log_scale(), (y_lo..y_hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("step eps")
        .y_desc("worst |numeric - exact| on [0, 2]")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;

    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    for (label, color, points) in [("f64", blue, &f64_errors), ("f32", orange, &f32_errors)] {
        // A step so small that x + eps == x gives a zero difference: the error is then |f'|, and
        // stays on the plot. Zero errors (exact by luck) cannot be drawn on a log axis; clamp them.
        let pts: Vec<(f64, f64)> = points.iter().map(|&(e, err)| (e, err.max(y_lo))).collect();
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts, style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    // The checker's step and absolute tolerance.
    let green = RGBColor(44, 160, 44);
    chart
        .draw_series(LineSeries::new(vec![(1e-6, y_lo), (1e-6, y_hi)], green.stroke_width(2)))?
        .label("GradCheck eps = 1e-6")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2)));
    let red = RGBColor(200, 40, 40);
    chart
        .draw_series(LineSeries::new(vec![(1e-10, 1e-5), (1e-1, 1e-5)], red.stroke_width(2)))?
        .label("GradCheck atol = 1e-5")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("wrote {path}");
    Ok(())
}
