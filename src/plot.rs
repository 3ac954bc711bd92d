//! SVG line charts for the experiment reports (plotters' SVG backend; no fonts needed, text is
//! SVG `<text>`), written atomically.

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// One named curve: `(x, y)` points, with an optional shaded band `(x, low, high)`.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The curve.
    pub points: Vec<(f64, f64)>,
    /// A band around the curve (e.g. an interquartile range or a confidence interval).
    pub band: Vec<(f64, f64, f64)>,
    /// Draw the points only, without the connecting line (a scatter plot).
    pub scatter: bool,
}

impl Series {
    /// A curve without a band.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            band: Vec::new(),
            scatter: false,
        }
    }

    /// Points without a line (a scatter plot).
    pub fn scatter(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            scatter: true,
            ..Series::new(name, points)
        }
    }
}

/// Ten distinct colours (matplotlib's tab10), so up to ten series never share one.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `series` as lines (with their bands) in a 720×440 chart and writes it to `path`.
///
/// # Errors
/// No finite points to draw, a drawing failure, or an I/O error naming the file.
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let fail = |e: String| Error::Format {
        path: Some(path.to_path_buf()),
        reason: format!("cannot draw chart: {e}"),
    };
    let finite = |v: f64| v.is_finite();
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|v| finite(*v));
    let ys = series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
        })
        .filter(|v| finite(*v));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !(x0.is_finite() && y0.is_finite()) {
        return Err(fail("no finite points".into()));
    }
    let pad = |a: f64, b: f64| {
        if b > a {
            (b - a) * 0.05
        } else {
            a.abs().max(1.0) * 0.05
        }
    };
    let (x1, y0, y1) = (
        if x1 > x0 { x1 } else { x0 + 1.0 },
        y0 - pad(y0, y1),
        y1 + pad(y0, y1),
    );
    write_svg(path, (720, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, s) in series.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            if !s.band.is_empty() {
                let mut poly: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, b.2)).collect();
                poly.extend(s.band.iter().rev().map(|b| (b.0, b.1)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, colour.mix(0.2))))
                    .map_err(|e| e.to_string())?;
            }
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            if s.scatter {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, colour.mix(0.6).filled())))
                    .map_err(|e| e.to_string())?
                    .label(s.name.clone())
                    .legend(move |(x, y)| Circle::new((x + 9, y), 3, colour.filled()));
                continue;
            }
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            if pts.len() <= 12 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// One category of an [`interval_chart`]: a label, a point estimate and its interval.
#[derive(Clone, Debug)]
pub struct Interval95 {
    /// Category label (x axis).
    pub label: String,
    /// Point estimate.
    pub mean: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
}

/// Draws with `draw` on a white SVG canvas of `size` pixels and writes the SVG to `path`
/// atomically; drawing errors become [`Error::Format`] naming the file.
fn write_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_error(path, e))?;
        draw(&root).map_err(|e| chart_error(path, e))?;
        root.present().map_err(|e| chart_error(path, e))?;
    }
    crate::io::write_atomic(path, svg.as_bytes())
}

fn chart_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: Some(path.to_path_buf()),
        reason: format!("cannot draw chart: {e}"),
    }
}

/// Draws one point with an error bar per category on a categorical x axis (Fig. 3), with a
/// dashed line at 0, and writes it to `path`. Non-finite interval ends are drawn as the point.
///
/// # Errors
/// No category with a finite estimate, a drawing failure, or an I/O error naming the file.
pub fn interval_chart(path: &Path, title: &str, y_label: &str, items: &[Interval95]) -> Result<()> {
    let fail = |e: String| chart_error(path, e);
    let vals: Vec<f64> = items
        .iter()
        .flat_map(|i| [i.mean, i.lo, i.hi])
        .chain([0.0])
        .filter(|v| v.is_finite())
        .collect();
    if !items.iter().any(|i| i.mean.is_finite()) {
        return Err(fail("no finite estimates".into()));
    }
    let (y0, y1) = vals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let pad = ((y1 - y0) * 0.08).max(1e-6);
    let n = items.len();
    write_svg(path, (120 + 110 * n as u32, 460), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, (y0 - pad)..(y1 + pad))
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = items.iter().map(|i| i.label.clone()).collect();
        chart
            .configure_mesh()
            .x_labels(n.max(1))
            .x_label_formatter(&|x: &f64| {
                let k = x.round();
                if (x - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < labels.len() {
                    labels[k as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
                BLACK.mix(0.4).stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
        for (k, it) in items.iter().enumerate() {
            if !it.mean.is_finite() {
                continue;
            }
            let colour = COLOURS[k % COLOURS.len()];
            let x = k as f64;
            let (lo, hi) = (
                if it.lo.is_finite() { it.lo } else { it.mean },
                if it.hi.is_finite() { it.hi } else { it.mean },
            );
            chart
                .draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], colour.stroke_width(2)),
                    PathElement::new(vec![(x - 0.12, lo), (x + 0.12, lo)], colour.stroke_width(2)),
                    PathElement::new(vec![(x - 0.12, hi), (x + 0.12, hi)], colour.stroke_width(2)),
                ])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Circle::new((x, it.mean), 5, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// The entity name of a cash asset in allocation plots: [`stacked_area`] draws it in its own
/// neutral colour, outside the palette the instruments cycle through.
pub const CASH: &str = "cash";

/// The band colour of cash in [`stacked_area`] (a light grey the palette does not use).
const CASH_COLOUR: RGBColor = RGBColor(200, 200, 200);

/// Draws allocations `weights` (`[step][entity]`, each row on the simplex) as stacked areas over
/// the steps (Fig. 5's allocation plots) and writes the chart to `path`. An entity named
/// [`CASH`] gets its own light-grey band; the others cycle through the palette.
///
/// # Errors
/// No steps, a row length that is not `names.len()`, a drawing failure, or an I/O error.
pub fn stacked_area(
    path: &Path,
    title: &str,
    x_label: &str,
    names: &[String],
    weights: &[f64],
) -> Result<()> {
    let fail = |e: String| chart_error(path, e);
    let m = names.len();
    if m == 0 || weights.is_empty() || !weights.len().is_multiple_of(m) {
        return Err(fail(format!(
            "{} weights do not form rows of {m} entities",
            weights.len()
        )));
    }
    let steps = weights.len() / m;
    write_svg(path, (720, 440), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..(steps.max(2) - 1) as f64, 0.0..1.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("allocation")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        let mut below = vec![0.0; steps];
        let mut palette = COLOURS.iter().cycle();
        for (i, name) in names.iter().enumerate() {
            let colour = if name == CASH {
                CASH_COLOUR
            } else {
                *palette.next().unwrap_or(&COLOURS[0])
            };
            let above: Vec<f64> = (0..steps)
                .map(|d| below[d] + weights[d * m + i].max(0.0))
                .collect();
            let mut poly: Vec<(f64, f64)> = (0..steps).map(|d| (d as f64, above[d].min(1.0))).collect();
            poly.extend((0..steps).rev().map(|d| (d as f64, below[d].min(1.0))));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, colour.mix(0.75).filled())))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
            below = above;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_and_rejects_empty_data() {
        let dir = std::env::temp_dir().join(format!("pimtl-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.svg");
        let mut s = Series::new("a", vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)]);
        s.band = vec![(0.0, 0.5, 1.5), (1.0, 1.5, 2.5), (2.0, 1.0, 2.0)];
        line_chart(
            &p,
            "t",
            "x",
            "y",
            &[s, Series::new("b", vec![(0.0, 0.0), (2.0, 3.0)])],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("<svg") && text.contains("polyline"));
        assert!(line_chart(&dir.join("e.svg"), "t", "x", "y", &[Series::new("a", vec![])]).is_err());
        let items = [
            Interval95 {
                label: "MTL".into(),
                mean: 0.1,
                lo: -0.05,
                hi: 0.2,
            },
            Interval95 {
                label: "STL".into(),
                mean: 0.02,
                lo: f64::NAN,
                hi: f64::NAN,
            },
        ];
        interval_chart(&dir.join("i.svg"), "t", "gain", &items).unwrap();
        assert!(std::fs::read_to_string(dir.join("i.svg"))
            .unwrap()
            .contains("MTL"));
        let names = vec!["a".to_string(), "b".to_string()];
        stacked_area(
            &dir.join("s.svg"),
            "t",
            "day",
            &names,
            &[0.5, 0.5, 0.2, 0.8, 1.0, 0.0],
        )
        .unwrap();
        assert!(stacked_area(&dir.join("x.svg"), "t", "day", &names, &[0.5, 0.5, 0.2]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
