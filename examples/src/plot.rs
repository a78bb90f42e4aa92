//! The plot of a run or a comparison: objective (or relative suboptimality, on a log scale,
//! when the optimum is known) against seconds of training, one line per algorithm.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::trace::{create_parent, Trace};

/// Writes an SVG plot of `traces` to `path`.
pub fn write_svg(path: &Path, traces: &[(&str, &Trace)], optimum: Option<f64>) -> Result<()> {
    create_parent(path)?;
    let value = |p: &crate::trace::TracePoint| match (optimum, p.subopt) {
        (Some(_), Some(s)) => s.max(1e-16),
        _ => p.objective,
    };
    let points: Vec<(f64, f64)> = traces
        .iter()
        .flat_map(|(_, t)| t.points.iter().map(|p| (p.elapsed_s, value(p))))
        .collect();
    let max_t = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-3);
    let min_v = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_v = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if !min_v.is_finite() || !max_v.is_finite() {
        return Err(anyhow!("nothing to plot: the trace is empty or not finite"));
    }
    let y_label = if optimum.is_some() {
        "(f - f*) / f*"
    } else {
        "objective"
    };
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("objective against time", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..max_t * 1.02, (min_v * 0.8..max_v * 1.25).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("seconds of training")
        .y_desc(y_label)
        .draw()
        .map_err(plot_error)?;
    for (i, (name, trace)) in traces.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                trace.points.iter().map(|p| (p.elapsed_s, value(p))),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(name.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {error:?}")
}
