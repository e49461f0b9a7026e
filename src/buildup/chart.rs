//! The build-up's chart: each stage's validation loss against the step, one line per stage,
//! drawn from the results alone (so the same results always give the same bytes).

use plotters::prelude::*;

use super::BuildupResults;
use crate::error::{Error, Result};

/// One colour per stage (colour-blind-safe palette, Okabe and Ito).
const COLORS: [RGBColor; 6] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// The chart as SVG text.
///
/// # Errors
/// [`Error::Plot`] when there is nothing finite to draw or plotters fails.
pub fn chart_svg(results: &BuildupResults) -> Result<String> {
    let values = results.stages.iter().flat_map(|s| s.val_curve.iter().map(|&(_, v)| v)).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return Err(Error::Plot("the build-up results hold no finite loss".into()));
    }
    // From just below the best loss to a little above the bigram's plateau: the step-0 losses
    // (ln 65 = 4.17) would squash the differences that matter.
    let top = results.stages.iter().filter_map(|s| s.val_curve.get(1)).map(|&(_, v)| v).fold(lo, f64::max);
    let y_range = (lo - 0.05)..(top + 0.1);
    let steps = results.config.steps as i64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 520)).into_drawing_area();
        let plot = |root: &DrawingArea<SVGBackend, plotters::coord::Shift>| -> std::result::Result<(), Box<dyn std::error::Error>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(root)
                .caption("From bigram to GPT block: validation loss on tiny-shakespeare", ("sans-serif", 20))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(0..steps.max(1), y_range)?;
            chart.configure_mesh().x_desc("step").y_desc("validation loss (nats/char)").draw()?;
            for (s, color) in results.stages.iter().zip(COLORS.iter().cycle()) {
                let style = color.stroke_width(2);
                let points: Vec<(i64, f64)> = s.val_curve.iter().map(|&(step, v)| (step as i64, v)).collect();
                chart
                    .draw_series(LineSeries::new(points, style))?
                    .label(format!("{} {} ({:.3})", s.stage, s.name, s.final_val()))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
            Ok(())
        };
        plot(&root).map_err(|e| Error::Plot(format!("build-up chart: {e}")))?;
    }
    Ok(svg)
}
