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
    /// Beside the answer at the top.
    Answer,
    Knobs,
    Tuning,
    Stages,
    Bias,
    Training,
    Cost,
    Embedding,
    Simulation,
}

/// A named series of (x, y) points.
#[derive(Clone)]
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

/// The plot area's size; a legend widens the figure to its right.
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

/// How a legend entry's key is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    /// Series i's marker.
    Series(usize),
    /// A grey line (the Pareto front).
    Front,
    /// A popularity-decile group of the item map (0 head … 2 tail).
    Decile(usize),
}

/// Legend entries: (label, key), without repeats.
type Keys = Vec<(String, Key)>;

fn series_keys<'a>(series: impl IntoIterator<Item = &'a Series>) -> Keys {
    let mut keys: Keys = Vec::new();
    for s in series {
        if !keys.iter().any(|(name, _)| *name == s.name) {
            keys.push((s.name.clone(), Key::Series(s.style)));
        }
    }
    keys
}

/// Width of the legend column for these labels (0 without a legend):
/// about 8 px per character of the 15 px font, beside a 28 px key.
fn legend_width(keys: &Keys) -> u32 {
    match keys.iter().map(|(label, _)| label.chars().count()).max() {
        Some(chars) => 48 + 8 * chars as u32,
        None => 0,
    }
}

/// Rows of the legend column: below the caption, one per entry.
const LEGEND_TOP: i32 = 48;
const LEGEND_ROW: i32 = 22;

/// The legend in its own column right of the plot, so it never covers data.
fn draw_legend(area: &DrawingArea<SVGBackend, Shift>, keys: &Keys) -> Drawn {
    for (row, (label, key)) in keys.iter().enumerate() {
        let y = LEGEND_TOP + LEGEND_ROW * row as i32;
        let at = (16, y);
        match *key {
            Key::Series(i) => area.draw(&marker(i, at))?,
            Key::Front => area.draw(&PathElement::new(
                vec![(8, y), (24, y)],
                BLACK.mix(0.6).stroke_width(1),
            ))?,
            Key::Decile(group) => area.draw(&decile_marker(group, at))?,
        }
        area.draw(&Text::new(
            label.clone(),
            (32, y - 8),
            ("sans-serif", 15).into_font(),
        ))?;
    }
    Ok(())
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

/// A log-axis range around positive values: a factor 1.5 of padding, and
/// at least a decade.
fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let lo = if lo.is_finite() { lo } else { 1.0 };
    let hi = hi.max(lo * 10.0);
    lo / 1.5..hi * 1.5
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

/// An SVG of the plot area `size` and, where there are keys, a legend
/// column to its right.
fn render(
    size: (u32, u32),
    keys: &Keys,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let width = size.0 + legend_width(keys);
        let root = SVGBackend::with_string(&mut svg, (width, size.1)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (plot, side) = root.split_horizontally(size.0);
        draw(&plot).map_err(|e| e.to_string())?;
        draw_legend(&side, keys).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The x axis of line figures: what it shows, integer positions named for
/// a categorical axis, or a log scale.
pub struct XAxis<'a> {
    pub desc: &'a str,
    pub labels: Option<&'a [String]>,
    pub log: bool,
}

/// Lines with markers (and optional 95% bands) on one axis.
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    x_labels: Option<&[String]>,
) -> Result<String, String> {
    let x = XAxis {
        desc: x_desc,
        labels: x_labels,
        log: false,
    };
    line_panels(title, &x, &[(y_desc.to_string(), series.to_vec())])
}

/// Line panels side by side over one x axis, one per (y description,
/// series): quantities of different scales each get their own y axis.
pub fn line_panels(
    title: &str,
    x: &XAxis,
    panels: &[(String, Vec<Series>)],
) -> Result<String, String> {
    let keys = series_keys(panels.iter().flat_map(|(_, s)| s));
    let size = (SIZE.0.max(420 * panels.len() as u32), SIZE.1);
    render(size, &keys, |root| {
        let titled = root.titled(title, ("sans-serif", 22))?;
        let areas = titled.split_evenly((1, panels.len().max(1)));
        for ((y_desc, series), area) in panels.iter().zip(areas) {
            line_panel(&area, x, y_desc, series)?;
        }
        Ok(())
    })
}

fn line_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    x: &XAxis,
    y_desc: &str,
    series: &[Series],
) -> Drawn {
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let bands = series.iter().flat_map(|s| {
        s.points
            .iter()
            .zip(s.band.iter().flatten())
            .flat_map(|(p, b)| [p.1 - b, p.1 + b])
    });
    let yr = range(all().map(|p| p.1).chain(bands));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(64);
    let format_label = |v: &f64| {
        let i = v.round();
        match x.labels {
            Some(labels) if (v - i).abs() < 1e-9 && i >= 0.0 => {
                labels.get(i as usize).cloned().unwrap_or_default()
            }
            Some(_) => String::new(),
            None => crate::format::format_number(*v),
        }
    };
    if x.log {
        let xr = log_range(all().map(|p| p.0));
        let mut chart = builder
            .build_cartesian_2d(xr.clone().log_scale().with_key_points(log_ticks(&xr)), yr)?;
        chart
            .configure_mesh()
            .x_desc(format!("{} (log scale)", x.desc))
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_label_formatter(&format_label)
            .draw()?;
        draw_series(&mut chart, series)
    } else {
        let xr = match x.labels {
            Some(labels) => -0.5..(labels.len() as f64 - 0.5),
            None => range(all().map(|p| p.0)),
        };
        let mut chart = builder.build_cartesian_2d(xr, yr)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x.desc)
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16));
        if let Some(labels) = x.labels {
            mesh.x_labels(labels.len());
        }
        mesh.x_label_formatter(&format_label).draw()?;
        draw_series(&mut chart, series)
    }
}

fn draw_series<'a, X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
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
        chart.draw_series(s.points.iter().map(|&p| marker(i, p)))?;
    }
    Ok(())
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
    let mut keys = vec![("Pareto front".to_string(), Key::Front)];
    keys.extend(series_keys(panels.iter().flat_map(|(_, _, s)| s)));
    render(SIZE, &keys, |root| {
        let titled = root.titled(title, ("sans-serif", 22))?;
        let areas = titled.split_evenly((1, panels.len().max(1)));
        for ((x_desc, x_higher, series), area) in panels.iter().zip(areas) {
            let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.clone()).collect();
            let (xr, yr) = (
                range(all.iter().map(|p| p.0)),
                range(all.iter().map(|p| p.1)),
            );
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
            chart.draw_series(LineSeries::new(
                front.iter().copied(),
                BLACK.mix(0.6).stroke_width(1),
            ))?;
            chart.draw_series(
                front
                    .iter()
                    .map(|&p| Circle::new(p, 8, BLACK.mix(0.6).stroke_width(1))),
            )?;
            for s in series {
                let i = s.style;
                chart.draw_series(s.points.iter().map(|&p| marker(i, p)))?;
            }
        }
        Ok(())
    })
}

/// Scoring cost (log x) against accuracy, one point per configuration.
pub fn cost(title: &str, y_desc: &str, series: &[Series]) -> Result<String, String> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.clone()).collect();
    let xr = log_range(all.iter().map(|p| p.0.max(1e-3)));
    let yr = range(all.iter().map(|p| p.1));
    render(SIZE, &series_keys(series), |root| {
        let mut chart = titled(root, title, (42, 64)).build_cartesian_2d(
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
            chart.draw_series(s.points.iter().map(|&p| marker(i, p)))?;
        }
        Ok(())
    })
}

/// One row of a forest plot: a model's difference from the reference.
pub struct ForestRow {
    pub name: String,
    pub diff: f64,
    /// The 95% interval of the difference.
    pub interval: Option<(f64, f64)>,
    /// Each seed's difference, drawn as dots under the interval.
    pub seeds: Vec<f64>,
    /// Significant after correction: drawn black, else grey.
    pub significant: bool,
    pub style: usize,
}

/// A forest plot: one row per model, top to bottom, its difference with its
/// interval and per-seed dots, and a line at no difference.
pub fn forest(title: &str, x_desc: &str, rows: &[ForestRow]) -> Result<String, String> {
    let n = rows.len();
    let xs = rows.iter().flat_map(|r| {
        let (lo, hi) = r.interval.unwrap_or((r.diff, r.diff));
        [r.diff, lo, hi, 0.0]
            .into_iter()
            .chain(r.seeds.iter().copied())
    });
    let xr = range(xs);
    // Row i sits at y = n - 1 - i, so the first row is on top.
    let y_of = |i: usize| (n - 1 - i) as f64;
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let label_width = 16 + 8 * names.iter().map(|s| s.chars().count()).max().unwrap_or(4) as u32;
    let height = (96 + 40 * n as u32).max(200);
    render((SIZE.0, height), &Vec::new(), |root| {
        let mut chart = titled(root, title, (42, label_width))
            .build_cartesian_2d(xr.clone(), -0.6..(n as f64 - 0.4))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .light_line_style(WHITE)
            .disable_y_mesh()
            .y_labels(n.max(1))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_label_formatter(&|x| crate::format::format_to_precision(*x, None))
            .y_label_formatter(&|y| {
                let i = y.round();
                match (y - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < n {
                    true => names[n - 1 - i as usize].to_string(),
                    false => String::new(),
                }
            })
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.6), (0.0, n as f64 - 0.4)],
            BLACK.mix(0.5).stroke_width(1),
        )))?;
        for (i, row) in rows.iter().enumerate() {
            let y = y_of(i);
            let ink = if row.significant {
                BLACK
            } else {
                RGBColor(140, 140, 140)
            };
            if let Some((lo, hi)) = row.interval {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(lo, y), (hi, y)],
                    ink.stroke_width(3),
                )))?;
            }
            chart.draw_series(
                row.seeds
                    .iter()
                    .map(|&d| Circle::new((d, y - 0.22), 3, color(row.style).stroke_width(1))),
            )?;
            chart.draw_series(std::iter::once(marker(row.style, (row.diff, y))))?;
        }
        Ok(())
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
    let groups = [
        (0usize, "decile 1 (most popular), triangles", 1..=1),
        (1, "deciles 2–5, crosses", 2..=5),
        (2, "deciles 6–10 (tail), dots", 6..=10),
    ];
    let keys: Keys = groups
        .iter()
        .map(|(group, name, _)| (name.to_string(), Key::Decile(*group)))
        .collect();
    render(SIZE, &keys, |root| {
        let mut chart = titled(root, title, (36, 56)).build_cartesian_2d(xr, yr)?;
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
        for (group, _, deciles_in) in groups.iter().rev() {
            let mine = order
                .iter()
                .copied()
                .filter(|&i| deciles_in.contains(&deciles[i]));
            chart.draw_series(mine.map(|i| {
                let style = decile_shade(deciles[i]).mix(0.8).filled();
                decile_shape(*group, points[i], style)
            }))?;
        }
        Ok(())
    })
}

/// Decile d's shade, from vermilion (1, the head) to blue (10, the tail).
fn decile_shade(d: usize) -> RGBColor {
    let t = (d as f64 - 1.0) / 9.0;
    RGBColor(
        (213.0 * (1.0 - t)) as u8,
        (94.0 * (1.0 - t) + 114.0 * t) as u8,
        (178.0 * t) as u8,
    )
}

/// The map's three shapes: head triangles, middle crosses, tail dots.
fn decile_shape<DB: DrawingBackend, C: Clone + 'static>(
    group: usize,
    at: C,
    style: ShapeStyle,
) -> DynElement<'static, DB, C> {
    match group {
        0 => TriangleMarker::new(at, 5, style).into_dyn(),
        1 => Cross::new(at, 3, style).into_dyn(),
        _ => Circle::new(at, 2, style).into_dyn(),
    }
}

/// A decile group's key: its shape in a representative shade.
fn decile_marker<DB: DrawingBackend, C: Clone + 'static>(
    group: usize,
    at: C,
) -> DynElement<'static, DB, C> {
    let shade = decile_shade([1, 3, 9][group.min(2)]);
    decile_shape(group, at, shade.filled())
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
        // The legend sits in its own column right of the plot area.
        let lines: Vec<&str> = svg.lines().collect();
        for label in ["ease", "mf"] {
            let at = lines.iter().position(|l| l.trim() == label).unwrap();
            let x: f64 = lines[at - 1]
                .split("x=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|x| x.parse().ok())
                .unwrap();
            assert!(
                x >= SIZE.0 as f64,
                "{label} drawn at x = {x}, inside the plot"
            );
        }
        assert!(svg.contains(&format!(
            "width=\"{}\"",
            SIZE.0 + legend_width(&series_keys(&series))
        )));
    }

    #[test]
    fn a_forest_plot_has_one_row_per_model_with_its_seeds() {
        let rows = vec![
            ForestRow {
                name: "two_tower".into(),
                diff: 0.07,
                interval: Some((0.06, 0.08)),
                seeds: vec![0.065, 0.075],
                significant: true,
                style: 0,
            },
            ForestRow {
                name: "random".into(),
                diff: -0.1,
                interval: None,
                seeds: vec![-0.1],
                significant: false,
                style: 1,
            },
        ];
        let svg = forest("Test ndcg@10 minus most_pop's", "Δ ndcg@10", &rows).unwrap();
        let has_text = |t: &str| svg.lines().any(|l| l.trim() == t);
        assert!(has_text("two_tower") && has_text("random"));
        // Three seed circles plus the first model's round marker.
        assert_eq!(svg.matches("<circle").count(), 4);
        // Two rows: 96 px of frame and 40 px a row, at least 200.
        assert!(svg.contains("height=\"200\""));
    }
}
