//! The plot of a run or a comparison: objective (or relative suboptimality, on a log scale,
//! when the optimum is known) against seconds of training, one line per algorithm. Drawn as
//! SVG; a `.png` path gets it rasterized (with the system's fonts for the labels).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

use crate::trace::{write_whole, Trace};

/// Writes a plot of `traces` to `path`: PNG if its name ends in `.png`, SVG otherwise; with
/// the optimum known, the relative suboptimality `target` as a line of its own; `about`, if
/// not empty, follows the title (the data, seed and workers: [`Outcome::plot_about`]).
///
/// [`Outcome::plot_about`]: crate::job::Outcome::plot_about
pub fn write_plot(
    path: &Path,
    traces: &[(&str, &Trace)],
    optimum: Option<f64>,
    target: Option<f64>,
    about: &str,
) -> Result<()> {
    // Suboptimality relative to an optimum of 0 is not a number: the objective is drawn.
    let optimum = optimum.filter(|&f| f > 0.0);
    let what = if optimum.is_some() {
        "relative suboptimality against time"
    } else {
        "objective against time"
    };
    let title = match about {
        "" => what.to_string(),
        about => format!("{what}: {about}"),
    };
    let style = Style {
        title: &title,
        size: (900, 560),
        target,
    };
    write_styled(path, traces, optimum, &style)
}

/// A plot's title and size in pixels.
#[derive(Debug, Clone, Copy)]
pub struct Style<'a> {
    /// The caption above the chart.
    pub title: &'a str,
    /// Width and height.
    pub size: (u32, u32),
    /// A relative suboptimality to draw as a horizontal line, when the optimum is known.
    pub target: Option<f64>,
}

/// [`write_plot`] with its own title and size, for figures that come in sets.
pub fn write_styled(
    path: &Path,
    traces: &[(&str, &Trace)],
    optimum: Option<f64>,
    style: &Style<'_>,
) -> Result<()> {
    write_svg_or_png(path, render_svg(traces, optimum, style))
}

/// One line per series of `(x, y)` points, both axes linear: e.g. a speedup against the
/// delay intensity. Written as [`write_plot`] writes.
pub fn write_xy(
    path: &Path,
    style: &Style<'_>,
    (x_desc, y_desc): (&str, &str),
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    write_svg_or_png(path, render_xy(style, (x_desc, y_desc), series))
}

/// Pixels around a chart.
const MARGIN: u32 = 16;

/// The caption's size in pixels: `largest`, or less for a title that would not fit across the
/// figure at it (the paper's speedup figure with its settings, a figure naming a failed run's
/// error), which was cut off at both edges. A character is taken as half the size wide, a
/// little more than a sans-serif face's average in such a title (0.4 in DejaVu Sans).
fn caption_size(style: &Style<'_>, largest: f64) -> f64 {
    let room = f64::from(style.size.0.saturating_sub(2 * MARGIN));
    let chars = style.title.chars().count().max(1) as f64;
    (room / (0.5 * chars)).clamp(8.0, largest)
}

/// An axis's end `factor` past its largest value `max`, at most f64's largest: past it the
/// range was infinite.
fn headroom(max: f64, factor: f64) -> f64 {
    (max * factor).min(f64::MAX)
}

/// [`write_xy`]'s plot as SVG text.
fn render_xy(
    style: &Style<'_>,
    (x_desc, y_desc): (&str, &str),
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<String> {
    // A point the axes cannot place (a NaN or infinite speedup) is left out, as on a trace's
    // plot, rather than stretching the axes to infinity or leaving no plot at all.
    let drawn = |s: &[(f64, f64)]| -> Vec<(f64, f64)> {
        let finite = s.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
        finite.copied().collect()
    };
    let points = || series.iter().flat_map(|(_, s)| drawn(s));
    let max_x = points().map(|p| p.0).fold(0.0, f64::max).max(1e-3);
    let max_y = points().map(|p| p.1).fold(0.0, f64::max).max(1e-3);
    if !max_x.is_finite() || !max_y.is_finite() {
        return Err(anyhow!("nothing to plot: the points are not finite"));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, style.size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(style.title, ("sans-serif", caption_size(style, 20.0)))
            .margin(MARGIN)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..headroom(max_x, 1.1), 0.0..headroom(max_y, 1.15))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(plot_error)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(drawn(points), color.stroke_width(2)))
                .map_err(plot_error)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    drawn(points)
                        .into_iter()
                        .map(|p| Circle::new(p, 4, color.filled())),
                )
                .map_err(plot_error)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The two formats a plot is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.svg`, or a name without an extension (but `.png`).
    Svg,
    /// `.png`.
    Png,
}

/// The format of a plot at `path`, by its extension; another extension is an error, so that
/// `run.pdf` is not silently an SVG file.
pub fn format_of(path: &Path) -> Result<Format> {
    // A name that is an extension alone, `.png`, has none to `Path` (a hidden file's name):
    // it was written as an SVG under the name `.png`.
    let alone = (path.file_name().map(|n| n.to_ascii_lowercase()))
        .filter(|name| name == ".png" || name == ".svg")
        .map(|name| name.to_string_lossy()[1..].into());
    match (path.extension().map(|e| e.to_ascii_lowercase())).or(alone) {
        None => Ok(Format::Svg),
        Some(e) if e == "svg" => Ok(Format::Svg),
        Some(e) if e == "png" => Ok(Format::Png),
        Some(e) => Err(anyhow!(
            "{}: a plot is written as .svg or .png, not .{}",
            path.display(),
            e.to_string_lossy()
        )),
    }
}

/// Writes the plot `drawn` to `path` in its format: a plot that could not be drawn fails as
/// one that could not be written does, naming the file.
fn write_svg_or_png(path: &Path, drawn: Result<String>) -> Result<()> {
    let format = format_of(path)?;
    let written = drawn.and_then(|svg| {
        let bytes = match format {
            Format::Png => rasterize(&svg)?,
            Format::Svg => svg.into_bytes(),
        };
        Ok(write_whole(path, &bytes)?)
    });
    written.with_context(|| format!("cannot write {}", path.display()))
}

fn rasterize(svg: &str) -> Result<Vec<u8>> {
    let mut options = resvg::usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // The SVG asks for `sans-serif`; map it to a sans face this system has (fontdb's default
    // is Arial, rarely installed on Linux).
    let sans = fonts
        .faces()
        .flat_map(|face| face.families.iter().map(|(name, _)| name.clone()))
        .find(|name| name.contains("Sans"));
    if let Some(sans) = sans {
        fonts.set_sans_serif_family(sans);
    }
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(plot_error)?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow!("the plot has no area"))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("cannot encode the plot as PNG")
}

/// The plot as SVG text.
fn render_svg(
    traces: &[(&str, &Trace)],
    optimum: Option<f64>,
    style: &Style<'_>,
) -> Result<String> {
    let mut svg = String::new();
    let value = |p: &crate::trace::TracePoint| match (optimum, p.subopt) {
        (Some(_), Some(s)) => s.max(1e-16),
        _ => p.objective,
    };
    // The axis is logarithmic: a point it cannot place (a diverged run's NaN or infinite
    // objective, one beyond its decades) is left out, not drawn at the chart's bottom edge as
    // if the run had converged there, nor allowed to leave the whole plot unwritten.
    let drawn = |trace: &Trace| {
        let points = trace.points.iter().map(|p| (p.elapsed_s, value(p)));
        points
            .filter(|(_, v)| LOG_AXIS.contains(v))
            .collect::<Vec<_>>()
    };
    let points: Vec<(f64, f64)> = traces.iter().flat_map(|(_, t)| drawn(t)).collect();
    let max_t = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-3);
    let min_v = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_v = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if !min_v.is_finite() || !max_v.is_finite() {
        return Err(anyhow!(
            "nothing to plot: the trace holds no finite value above 0"
        ));
    }
    // A target not reached is drawn all the same: below the lines.
    let min_v = match (style.target, optimum) {
        (Some(target), Some(_)) if LOG_AXIS.contains(&target) => min_v.min(target),
        _ => min_v,
    };
    let y_label = if optimum.is_some() {
        "(f - f*) / f*"
    } else {
        "objective"
    };
    {
        let root = SVGBackend::with_string(&mut svg, style.size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(style.title, ("sans-serif", caption_size(style, 22.0)))
            .margin(MARGIN)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..max_t * 1.02, LogAxis::over(decades(min_v, max_v)))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("seconds of training")
            .y_desc(y_label)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(plot_error)?;
        let target = style.target.filter(|t| LOG_AXIS.contains(t));
        if let (Some(target), Some(_)) = (target, optimum) {
            let grey = BLACK.mix(0.55);
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, target), (max_t * 1.02, target)],
                    8,
                    6,
                    grey.stroke_width(1),
                ))
                .map_err(plot_error)?
                .label(format!("target {}", tick_label(target)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        }
        for (i, (name, trace)) in traces.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(drawn(trace), color.stroke_width(2)))
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
    }
    Ok(svg)
}

/// The values a log axis places: beyond, the whole decades around them leave the numbers
/// an f64 holds exactly (1e-308 is subnormal, 1e309 infinite), and drawing never ended.
const LOG_AXIS: std::ops::RangeInclusive<f64> = 1e-300..=1e300;

/// The whole decades around `[min, max]`: a log axis then has a labelled tick at each end.
fn decades(min: f64, max: f64) -> std::ops::Range<f64> {
    // 10^k as the literal `1ek` reads, which the axis's ticks hit exactly (powf may not).
    let power = |exponent: f64| format!("1e{exponent}").parse().unwrap_or(1.0);
    let low_exp = min.max(f64::MIN_POSITIVE).log10().floor();
    let high_exp = max.max(min).log10().ceil().max(low_exp + 1.0);
    // A hair below the lowest decade, whose tick label the axis leaves out at its very end.
    power(low_exp) * 0.98..power(high_exp)
}

/// A log axis whose ticks never repeat a label. Plotters' own places its last light tick of
/// a decade (10 x 0.1) where the next decade's bold one (1) goes, so both print "1" there.
struct LogAxis(plotters::coord::combinators::LogCoord<f64>);

impl LogAxis {
    fn over(range: std::ops::Range<f64>) -> Self {
        LogAxis(range.log_scale().into())
    }
}

impl plotters::coord::ranged1d::Ranged for LogAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.0.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        distinct_labels(self.0.key_points(hint))
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.0.range()
    }
}

/// `ticks` (ascending) less any whose label its predecessor already prints.
fn distinct_labels(mut ticks: Vec<f64>) -> Vec<f64> {
    ticks.dedup_by(|later, earlier| tick_label(*later) == tick_label(*earlier));
    ticks
}

/// A tick's number as a person writes it: `0.01`, `1`, `100`, or `1e-6` far from 1.
fn tick_label(value: f64) -> String {
    if value != 0.0 && !(1e-3..1e5).contains(&value.abs()) {
        // Four digits at most: the axis computes its ticks, 1e-5 as 9.999999999999999e-6.
        let text = format!("{value:.3e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {error:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point of a trace at `elapsed_s` of `objective`, with no f* to measure it against.
    fn point(elapsed_s: f64, objective: f64) -> crate::trace::TracePoint {
        crate::trace::TracePoint {
            elapsed_s,
            updates: 1,
            objective,
            subopt: None,
            dropped_stale: 0,
        }
    }

    #[test]
    fn a_log_axis_spans_whole_decades_with_plain_labels() {
        assert_eq!(decades(0.016, 9.6), 0.0098..10.0);
        assert_eq!(decades(0.5, 0.5), 0.098..1.0);
        let labels: Vec<String> = [0.01, 0.1, 1.0, 10.0, 2e-6, 3e5, 0.02, 9.999999999999999e-6]
            .into_iter()
            .map(tick_label)
            .collect();
        let plain = ["0.01", "0.1", "1", "10", "2e-6", "3e5", "0.02", "1e-5"];
        assert_eq!(labels, plain);
        assert_eq!(tick_label(1.5e-7), "1.5e-7");
    }

    /// The labels of a rendered SVG's ticks on the left (y) axis, top to bottom.
    fn y_tick_labels(svg: &str) -> Vec<String> {
        texts_anchored(svg, "end")
    }

    /// The texts of a rendered SVG anchored at `anchor` ("end": the y ticks; "middle": the
    /// x ticks, the title and the axis names).
    fn texts_anchored(svg: &str, anchor: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter(|text| text.contains(&format!("text-anchor=\"{anchor}\"")))
            .filter_map(|text| text.split_once('>'))
            .map(|(_, rest)| rest.split("</text>").next().unwrap_or("").trim().to_owned())
            .collect()
    }

    #[test]
    fn a_linear_axis_labels_its_ticks_as_the_log_axis_does() {
        // Plotters' own labels read "0.0", "0.01", "0.02": one digit for zero, two for the rest.
        let trace = Trace {
            points: vec![point(0.0, 2.0), point(0.03, 1.0), point(0.062, 0.5)],
        };
        let style = Style {
            title: "t",
            size: (900, 560),
            target: None,
        };
        let svg = render_svg(&[("sgd", &trace)], None, &style).expect("drawn");
        let x_labels = texts_anchored(&svg, "middle");
        assert!(x_labels.contains(&"0".to_owned()), "{x_labels:?}");
        assert!(x_labels.contains(&"0.01".to_owned()), "{x_labels:?}");
        assert!(!x_labels.contains(&"0.0".to_owned()), "{x_labels:?}");
        let series = [("a".to_string(), vec![(0.0, 0.0), (0.05, 0.2)])];
        let xy = render_xy(&style, ("x", "y"), &series).expect("drawn");
        for labels in [texts_anchored(&xy, "middle"), y_tick_labels(&xy)] {
            assert!(labels.contains(&"0".to_owned()), "{labels:?}");
            assert!(!labels.contains(&"0.0".to_owned()), "{labels:?}");
        }
    }

    #[test]
    fn adjacent_log_ticks_never_print_the_same_label() {
        use plotters::coord::ranged1d::Ranged;
        // 0.33..0.69: a logistic run's objectives, whose decade put two ticks at 1.
        for (min, max) in [(0.33, 0.69), (0.016, 9.6), (2e-7, 3e4)] {
            for hint in 2..60 {
                let ticks = LogAxis::over(decades(min, max)).key_points(hint);
                let labels: Vec<String> = ticks.iter().map(|&t| tick_label(t)).collect();
                assert!(
                    labels.windows(2).all(|pair| pair[0] != pair[1]),
                    "{min}..{max}, {hint} ticks at most: {labels:?}"
                );
                assert!(!labels.is_empty(), "{min}..{max}, {hint} ticks at most");
            }
        }
        assert_eq!(
            distinct_labels(vec![0.9, 1.0, 1.00000001, 2.0]),
            [0.9, 1.0, 2.0]
        );
    }

    #[test]
    fn a_logistic_runs_plot_labels_each_tick_once() {
        let trace = Trace {
            points: vec![point(0.0, 0.69), point(0.05, 0.4), point(0.09, 0.33)],
        };
        let style = Style {
            title: "objective against time",
            size: (900, 560),
            target: None,
        };
        let svg = render_svg(&[("sgd", &trace)], None, &style).expect("drawn");
        let labels = y_tick_labels(&svg);
        assert!(labels.contains(&"1".to_owned()), "{labels:?}");
        let mut distinct = labels.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), labels.len(), "{labels:?}");
    }

    #[test]
    fn a_diverged_runs_last_point_is_left_out_not_drawn_at_the_bottom() {
        let style = Style {
            title: "t",
            size: (400, 300),
            target: None,
        };
        let svg = |last: &[(f64, f64)]| {
            let mut points = vec![point(0.0, 2.0), point(1.0, 1.0)];
            points.extend(last.iter().map(|&(t, v)| point(t, v)));
            render_svg(&[("sgd", &Trace { points })], None, &style)
        };
        let finite = svg(&[]).expect("drawn");
        // The NaN point was drawn at the chart's bottom (the run seemed to converge); the
        // infinite one left no plot at all.
        for last in [f64::NAN, f64::INFINITY] {
            let diverged = svg(&[(2.0, last)]).expect("drawn");
            assert_eq!(diverged, finite, "a last point of {last}");
        }
        let nothing = Trace {
            points: vec![point(0.0, f64::NAN)],
        };
        let error = render_svg(&[("sgd", &nothing)], None, &style).unwrap_err();
        assert!(error.to_string().contains("nothing to plot"), "{error}");
    }

    #[test]
    fn an_xy_plot_of_values_near_the_largest_f64_is_drawn() {
        // Its axis ran 15% past the largest value: infinite near 1.7e308, and never drawn.
        let style = Style {
            title: "t",
            size: (400, 300),
            target: None,
        };
        let svg = drawn_in_time(move || {
            let series = [("a".to_string(), vec![(1.0, 1.0), (2.0, 1.7e308)])];
            render_xy(&style, ("x", "y"), &series)
        });
        let svg = svg.expect("an SVG");
        assert!(svg.contains("<svg"), "{svg}");
    }

    /// What `draw` returns, drawn on a thread: a generous bound only ends a test that would
    /// otherwise hang, on a plot drawn forever.
    fn drawn_in_time<T: Send + 'static>(draw: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(draw());
        });
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("the plot is drawn, not drawn forever")
    }

    #[test]
    fn a_point_or_target_beyond_the_log_axis_is_left_out_not_drawn_forever() {
        let point =
            |elapsed_s: f64, objective: f64, subopt: Option<f64>| crate::trace::TracePoint {
                elapsed_s,
                updates: 1,
                objective,
                subopt,
                dropped_stale: 0,
            };
        let style = |target: Option<f64>| Style {
            title: "t",
            size: (400, 300),
            target,
        };
        let svg = |points: Vec<crate::trace::TracePoint>, optimum, target| {
            drawn_in_time(move || {
                let trace = Trace { points };
                render_svg(&[("sgd", &trace)], optimum, &style(target))
            })
            .expect("drawn")
        };
        // An objective in reach of f64's ends (no optimum known: the objective is drawn).
        let objectives = |last: &[f64]| {
            let mut points = vec![point(0.0, 2.0, None), point(1.0, 1.0, None)];
            points.extend(last.iter().map(|&v| point(2.0, v, None)));
            points
        };
        let finite = svg(objectives(&[]), None, None);
        for last in [2.2e-308, 1e-310, 1.7e308] {
            assert_eq!(
                svg(objectives(&[last]), None, None),
                finite,
                "a point of {last:e}"
            );
        }
        // A target below what the axis places (`--target-subopt 1e-310`) is not drawn.
        let subopts = vec![point(0.0, 2.0, Some(1.0)), point(1.0, 1.5, Some(0.5))];
        let untargeted = svg(subopts.clone(), Some(1.0), None);
        assert_eq!(svg(subopts, Some(1.0), Some(1e-310)), untargeted);
    }

    #[test]
    fn an_optimum_of_zero_plots_the_objective() {
        let point = |elapsed_s: f64, objective: f64| crate::trace::TracePoint {
            elapsed_s,
            updates: 1,
            objective,
            subopt: Some(f64::INFINITY),
            dropped_stale: 0,
        };
        let trace = Trace {
            points: vec![point(0.0, 2.0), point(1.0, 1.0)],
        };
        let path = std::env::temp_dir().join(format!("plot-zero-{}.svg", std::process::id()));
        write_plot(&path, &[("sgd", &trace)], Some(0.0), None, "").expect("drawn");
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("objective against time"));
        std::fs::remove_file(path).unwrap();
    }

    /// Whether the PNG at `path` has ink within `band` pixels of its left or right edge in its
    /// top `rows` rows, where the caption is.
    fn caption_touches_an_edge(path: &Path, band: u32, rows: u32) -> bool {
        let png = std::fs::read(path).unwrap();
        let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a PNG");
        let width = pixmap.width();
        let inked = |x: u32, y: u32| {
            let p = pixmap.pixel(x, y).expect("inside");
            p.red().min(p.green()).min(p.blue()) < 200
        };
        (0..rows).any(|y| (0..band).chain(width - band..width).any(|x| inked(x, y)))
    }

    #[test]
    fn a_long_title_fits_across_the_figure() {
        // The paper's speedup figure: its title with the run's settings ran off both edges.
        let title = "time-to-target speedup of the asynchronous twin (1,024 workers x 4,096 \
                     partitions, cap 3e9 s)";
        let style = Style {
            title,
            size: (640, 400),
            target: None,
        };
        let dir = std::env::temp_dir().join(format!("plot-title-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let xy = dir.join("xy.png");
        let series = [("a".to_owned(), vec![(0.3, 1.5), (0.6, 2.0)])];
        write_xy(&xy, &style, ("x", "y"), &series).expect("drawn");
        assert!(!caption_touches_an_edge(&xy, 8, 40), "the title is cut off");
        let trace = Trace {
            points: vec![point(0.0, 2.0), point(1.0, 1.5)],
        };
        let traced = dir.join("trace.png");
        write_styled(&traced, &[("sgd", &trace)], Some(1.0), &style).expect("drawn");
        assert!(
            !caption_touches_an_edge(&traced, 8, 40),
            "the title is cut off"
        );
        // A short title keeps its size: drawn, it stays clear of the edges too.
        let short = Style {
            title: "speedup",
            ..style
        };
        assert_eq!(caption_size(&short, 20.0), 20.0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_point_the_axes_cannot_place_is_left_out_of_an_xy_plot() {
        let style = Style {
            title: "speedup",
            size: (400, 300),
            target: None,
        };
        let svg = |extra: &[(f64, f64)]| {
            let mut points = vec![(0.3, 1.5), (0.6, 2.0)];
            points.extend_from_slice(extra);
            let path = std::env::temp_dir().join(format!("plot-xy-{}.svg", std::process::id()));
            write_xy(&path, &style, ("x", "y"), &[("a".into(), points)]).expect("drawn");
            let svg = std::fs::read_to_string(&path).unwrap();
            std::fs::remove_file(path).unwrap();
            svg
        };
        let finite = svg(&[]);
        for extra in [(1.0, f64::NAN), (1.0, f64::INFINITY), (f64::NAN, 3.0)] {
            assert_eq!(svg(&[extra]), finite, "with {extra:?}");
        }
    }
}
