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
}

impl Series {
    /// A curve without a band.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            band: Vec::new(),
        }
    }
}

const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
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
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        for (k, s) in series.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            if !s.band.is_empty() {
                let mut poly: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, b.2)).collect();
                poly.extend(s.band.iter().rev().map(|b| (b.0, b.1)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, colour.mix(0.2))))
                    .map_err(|e| fail(e.to_string()))?;
            }
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            if pts.len() <= 12 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    crate::io::write_atomic(path, svg.as_bytes())
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
