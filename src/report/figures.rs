//! The report's figures as SVG (plotters): deterministic text (no dates,
//! fixed float formatting), every series with its own marker shape as well
//! as its colour so they read in greyscale, and titles naming the metric,
//! K and protocol.

use std::error::Error;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DynElement;
use plotters::prelude::*;
use serde::Serialize;

/// One figure: written next to the report as `file`, linked from `section`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figure {
    pub file: String,
    pub title: String,
    pub section: Section,
    #[serde(skip)]
    pub svg: String,
}

impl Figure {
    /// A drawn figure, or where drawing failed (only a plotters bug can),
    /// an SVG saying so in its place, so the report keeps the rest.
    pub fn drawn(
        file: String,
        title: String,
        section: Section,
        svg: Result<String, String>,
    ) -> Self {
        let svg = svg.unwrap_or_else(|e| {
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><text x=\"10\" y=\"20\">figure failed: {e}</text></svg>")
        });
        Self {
            file,
            title,
            section,
            svg,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Knobs,
    Stages,
    Bias,
    Training,
    Cost,
    Embedding,
    Simulation,
}

/// A named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Half-widths of a 95% band around y, one per point.
    pub band: Option<Vec<f64>>,
    /// Colour and marker index: the same model keeps its look in every
    /// figure of a report.
    pub style: usize,
}

type Drawn = Result<(), Box<dyn Error>>;

const SIZE: (u32, u32) = (760, 440);

/// Okabe–Ito: distinguishable under the common colour-vision deficiencies.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Series i's marker: six shape/fill combinations, so up to six series
/// differ without colour.
fn marker<DB: DrawingBackend, C: Clone + 'static>(i: usize, at: C) -> DynElement<'static, DB, C> {
    let c = color(i);
    match i % 6 {
        0 => Circle::new(at, 4, c.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 6, c.filled()).into_dyn(),
        2 => Cross::new(at, 5, c.stroke_width(2)).into_dyn(),
        3 => Circle::new(at, 5, c.stroke_width(2)).into_dyn(),
        4 => TriangleMarker::new(at, 6, c.stroke_width(2)).into_dyn(),
        _ => Circle::new(at, 2, c.filled()).into_dyn(),
    }
}

/// Axis range with 5% padding (and a unit range for a single value).
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
    (lo - pad)..(hi + pad)
}

/// A chart with the figures' caption font and margin, and room for axis
/// labels of (x, y) pixels.
fn titled<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    (x_labels, y_labels): (u32, u32),
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(x_labels)
        .y_label_area_size(y_labels);
    builder
}

fn render(draw: impl FnOnce(DrawingArea<SVGBackend, Shift>) -> Drawn) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(root).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Lines with markers (and optional 95% bands) on linear axes; `x_labels`
/// names integer x positions for categorical axes.
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    x_labels: Option<&[String]>,
) -> Result<String, String> {
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let lows = series.iter().flat_map(|s| {
        s.points
            .iter()
            .zip(s.band.iter().flatten())
            .flat_map(|(p, b)| [p.1 - b, p.1 + b])
    });
    let xr = match x_labels {
        Some(labels) => -0.5..(labels.len() as f64 - 0.5),
        None => range(all().map(|p| p.0)),
    };
    let yr = range(all().map(|p| p.1).chain(lows));
    render(|root| {
        let mut chart =
            titled(&root, title, (42, 64)).build_cartesian_2d(xr.clone(), yr.clone())?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16));
        let format_label = |x: &f64| {
            let i = x.round();
            match x_labels {
                Some(labels) if (x - i).abs() < 1e-9 && i >= 0.0 => {
                    labels.get(i as usize).cloned().unwrap_or_default()
                }
                Some(_) => String::new(),
                None => crate::format::format_number(*x),
            }
        };
        if let Some(labels) = x_labels {
            mesh.x_labels(labels.len());
        }
        mesh.x_label_formatter(&format_label).draw()?;
        draw_series(&mut chart, series)?;
        let corner = clear_corner(&all().collect::<Vec<_>>(), &xr, &yr, false);
        legend(&mut chart, corner)
    })
}

fn draw_series<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    series: &[Series],
) -> Drawn {
    for s in series {
        let i = s.style;
        if let Some(band) = &s.band {
            let upper = s.points.iter().zip(band).map(|(p, b)| (p.0, p.1 + b));
            let lower = s.points.iter().zip(band).rev().map(|(p, b)| (p.0, p.1 - b));
            chart.draw_series(std::iter::once(Polygon::new(
                upper.chain(lower).collect::<Vec<_>>(),
                color(i).mix(0.15).filled(),
            )))?;
        }
        chart.draw_series(LineSeries::new(s.points.iter().copied(), color(i)))?;
        chart
            .draw_series(s.points.iter().map(|&p| marker(i, p)))?
            .label(s.name.as_str())
            .legend(move |p| marker(i, p));
    }
    Ok(())
}

fn legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.6))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 15))
        .position(position)
        .draw()?;
    Ok(())
}

/// The plot corner with the fewest points, so the legend hides as little
/// data as possible; ties go to the first of upper right, upper left, lower
/// right, lower left.
fn clear_corner(
    points: &[(f64, f64)],
    x: &std::ops::Range<f64>,
    y: &std::ops::Range<f64>,
    log_x: bool,
) -> SeriesLabelPosition {
    // (right, upper), in order of preference.
    let corners = [(true, true), (false, true), (true, false), (false, false)];
    let inside = |(right, upper): (bool, bool), (fx, fy): (f64, f64)| {
        let in_x = if right { fx >= 0.55 } else { fx <= 0.45 };
        let in_y = if upper { fy >= 0.6 } else { fy <= 0.4 };
        in_x && in_y
    };
    let crowding = |corner: &&(bool, bool)| {
        points
            .iter()
            .filter(|&&p| inside(**corner, fraction(p, x, y, log_x)))
            .count()
    };
    // min_by_key keeps the first of equal minima.
    match corners.iter().min_by_key(crowding) {
        Some((false, true)) => SeriesLabelPosition::UpperLeft,
        Some((true, false)) => SeriesLabelPosition::LowerRight,
        Some((false, false)) => SeriesLabelPosition::LowerLeft,
        _ => SeriesLabelPosition::UpperRight,
    }
}

/// A point's position as fractions of the ranges (x on a log scale when
/// `log_x`).
fn fraction(
    p: (f64, f64),
    x: &std::ops::Range<f64>,
    y: &std::ops::Range<f64>,
    log_x: bool,
) -> (f64, f64) {
    let fx = if log_x {
        (p.0.ln() - x.start.ln()) / (x.end.ln() - x.start.ln())
    } else {
        (p.0 - x.start) / (x.end - x.start)
    };
    (fx, (p.1 - y.start) / (y.end - y.start))
}

/// Indices of the Pareto-optimal points: no other point is at least as good
/// on both axes and better on one. `x_higher`: larger x is better.
pub fn pareto_front(points: &[(f64, f64)], x_higher: bool) -> Vec<usize> {
    let better_x = |a: f64, b: f64| if x_higher { a >= b } else { a <= b };
    let strictly = |a: f64, b: f64| if x_higher { a > b } else { a < b };
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (xi, yi) = points[i];
            !points
                .iter()
                .any(|&(x, y)| better_x(x, xi) && y >= yi && (strictly(x, xi) || y > yi))
        })
        .collect();
    front.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0));
    front
}

/// Scatter panels (x described in full, whether larger x is better, the
/// series): one marker shape per series, the Pareto front joined by a line
/// and ringed. The accuracy/bias trade-off and the index recall/speed one.
pub fn tradeoff(
    title: &str,
    y_desc: &str,
    panels: &[(String, bool, Vec<Series>)],
) -> Result<String, String> {
    render(|root| {
        let titled = root.titled(title, ("sans-serif", 22))?;
        let areas = titled.split_evenly((1, panels.len().max(1)));
        for ((x_desc, x_higher, series), area) in panels.iter().zip(areas) {
            let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.clone()).collect();
            let (xr, yr) = (
                range(all.iter().map(|p| p.0)),
                range(all.iter().map(|p| p.1)),
            );
            let corner = clear_corner(&all, &xr, &yr, false);
            let mut chart = ChartBuilder::on(&area)
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(xr, yr)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .light_line_style(WHITE)
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 16))
                .x_label_formatter(&|x| crate::format::format_number(*x))
                .draw()?;
            let front: Vec<(f64, f64)> = pareto_front(&all, *x_higher)
                .into_iter()
                .map(|i| all[i])
                .collect();
            chart
                .draw_series(LineSeries::new(
                    front.iter().copied(),
                    BLACK.mix(0.6).stroke_width(1),
                ))?
                .label("Pareto front")
                .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLACK));
            chart.draw_series(
                front
                    .iter()
                    .map(|&p| Circle::new(p, 8, BLACK.mix(0.6).stroke_width(1))),
            )?;
            for s in series {
                let i = s.style;
                chart
                    .draw_series(s.points.iter().map(|&p| marker(i, p)))?
                    .label(s.name.as_str())
                    .legend(move |p| marker(i, p));
            }
            legend(&mut chart, corner)?;
        }
        Ok(())
    })
}

/// Scoring cost (log x) against accuracy, one point per configuration.
pub fn cost(title: &str, y_desc: &str, series: &[Series]) -> Result<String, String> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.clone()).collect();
    let lo = all
        .iter()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .max(1e-3);
    let hi = all.iter().map(|p| p.0).fold(0.0, f64::max).max(lo * 10.0);
    let (xr, yr) = (lo / 1.5..hi * 1.5, range(all.iter().map(|p| p.1)));
    let corner = clear_corner(&all, &xr, &yr, true);
    render(|root| {
        let mut chart = titled(&root, title, (42, 64)).build_cartesian_2d(
            xr.clone().log_scale().with_key_points(log_ticks(&xr)),
            yr.clone(),
        )?;
        chart
            .configure_mesh()
            .x_desc("serving µs per user (log scale)")
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_label_formatter(&|x| crate::format::format_number(*x))
            .draw()?;
        for s in series {
            let i = s.style;
            chart
                .draw_series(s.points.iter().map(|&p| marker(i, p)))?
                .label(s.name.as_str())
                .legend(move |p| marker(i, p));
        }
        legend(&mut chart, corner)
    })
}

/// Ticks 1, 2, 5 × 10^k inside `range`: plotters' own log ticks are
/// powers of ten only, which left a figure of models between 1 and 10 µs
/// without a label.
fn log_ticks(range: &std::ops::Range<f64>) -> Vec<f64> {
    let (first, last) = (
        range.start.log10().floor() as i32,
        range.end.log10().ceil() as i32,
    );
    (first..=last)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|t| range.contains(t))
        .collect()
}

/// A 2-D map of items, shaded by popularity decile (1 = most popular tenth)
/// with three marker shapes (decile 1 triangles, deciles 2–5 crosses,
/// deciles 6–10 dots).
/// Items a map draws at most: beyond it every k-th item (by id) is drawn,
/// so a large catalogue's figure stays a readable size.
pub const MAP_POINTS: usize = 5_000;

/// The k of "every k-th item" for a map of `n` items (1: all of them).
pub fn map_stride(n: usize) -> usize {
    n.div_ceil(MAP_POINTS).max(1)
}

pub fn item_map(title: &str, points: &[(f64, f64)], deciles: &[usize]) -> Result<String, String> {
    let stride = map_stride(points.len());
    let (xr, yr) = (
        range(points.iter().map(|p| p.0)),
        range(points.iter().map(|p| p.1)),
    );
    let corner = clear_corner(points, &xr, &yr, false);
    render(|root| {
        let mut chart = titled(&root, title, (36, 56)).build_cartesian_2d(xr, yr)?;
        chart
            .configure_mesh()
            .x_desc("PCA 1")
            .y_desc("PCA 2")
            .light_line_style(WHITE)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_label_formatter(&|x| crate::format::format_number(*x))
            .draw()?;
        // Draw the tail first so the head stays visible on top.
        let mut order: Vec<usize> = (0..points.len()).step_by(stride).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(deciles[i]));
        for (group, name, deciles_in) in [
            (2usize, "deciles 6–10 (tail), dots", 6..=10),
            (1, "deciles 2–5, crosses", 2..=5),
            (0, "decile 1 (most popular), triangles", 1..=1),
        ] {
            let shade = |d: usize| {
                let t = (d as f64 - 1.0) / 9.0;
                RGBColor(
                    (213.0 * (1.0 - t) + 0.0 * t) as u8,
                    (94.0 * (1.0 - t) + 114.0 * t) as u8,
                    (0.0 * (1.0 - t) + 178.0 * t) as u8,
                )
            };
            let mine: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| deciles_in.contains(&deciles[i]))
                .collect();
            let element =
                move |i: usize, p: (f64, f64)| -> DynElement<'static, SVGBackend, (f64, f64)> {
                    let style = shade(deciles[i]).mix(0.8).filled();
                    match group {
                        0 => TriangleMarker::new(p, 5, style).into_dyn(),
                        1 => Cross::new(p, 3, style).into_dyn(),
                        _ => Circle::new(p, 2, style).into_dyn(),
                    }
                };
            let legend_color = shade(match group {
                0 => 1,
                1 => 3,
                _ => 9,
            });
            chart
                .draw_series(mine.iter().map(|&i| element(i, points[i])))?
                .label(name)
                .legend(move |p| -> DynElement<'static, SVGBackend, (i32, i32)> {
                    let style = legend_color.filled();
                    match group {
                        0 => TriangleMarker::new(p, 5, style).into_dyn(),
                        1 => Cross::new(p, 3, style).into_dyn(),
                        _ => Circle::new(p, 3, style).into_dyn(),
                    }
                });
        }
        legend(&mut chart, corner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_label_every_decade_at_1_2_5() {
        assert_eq!(log_ticks(&(1.3..30.0)), [2.0, 5.0, 10.0, 20.0]);
        assert_eq!(log_ticks(&(0.06..0.3)), [0.1, 0.2]);
        assert_eq!(
            log_ticks(&(150.0..9_000.0)),
            [200.0, 500.0, 1_000.0, 2_000.0, 5_000.0]
        );
    }

    #[test]
    fn the_legend_goes_to_the_emptiest_corner() {
        // Points crowd the upper right and upper left: lower right is free.
        let crowded = [(0.9, 0.9), (0.8, 0.7), (0.1, 0.9), (0.2, 0.2)];
        let unit = 0.0..1.0;
        assert_eq!(
            clear_corner(&crowded, &unit, &unit, false),
            SeriesLabelPosition::LowerRight
        );
        // Ties keep the conventional upper right.
        assert_eq!(
            clear_corner(&[], &unit, &unit, false),
            SeriesLabelPosition::UpperRight
        );
        // Log x: 100 on 1..1000 sits at two thirds, in the right half.
        let p = fraction((100.0, 5.0), &(1.0..1000.0), &(0.0..10.0), true);
        assert!((p.0 - 2.0 / 3.0).abs() < 1e-12 && (p.1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        // x = arp (lower is better), y = ndcg.
        let points = [
            (10.0, 0.1),
            (20.0, 0.2),
            (15.0, 0.05),
            (30.0, 0.2),
            (5.0, 0.01),
        ];
        assert_eq!(pareto_front(&points, false), vec![4, 0, 1]);
        // x = coverage (higher is better).
        let points = [(0.1, 0.3), (0.5, 0.2), (0.4, 0.1), (0.9, 0.05)];
        assert_eq!(pareto_front(&points, true), vec![0, 1, 3]);
    }

    #[test]
    fn plots_are_deterministic_titled_svg() {
        let series = vec![
            Series {
                name: "ease".into(),
                points: vec![(0.0, 0.1), (1.0, 0.2)],
                band: Some(vec![0.01, 0.02]),
                style: 0,
            },
            Series {
                name: "mf".into(),
                points: vec![(0.0, 0.15), (1.0, 0.12)],
                band: None,
                style: 1,
            },
        ];
        let labels = ["0".to_string(), "0.3".to_string()];
        let draw = || {
            lines(
                "test ndcg@10 (full ranking)",
                "dropout",
                "ndcg@10",
                &series,
                Some(&labels),
            )
            .unwrap()
        };
        let svg = draw();
        assert_eq!(svg, draw());
        assert!(svg.starts_with("<svg") && svg.contains("test ndcg@10 (full ranking)"));
        let has_text = |t: &str| svg.lines().any(|l| l.trim() == t);
        assert!(has_text("ease") && has_text("mf") && has_text("0.3"));
    }
}
