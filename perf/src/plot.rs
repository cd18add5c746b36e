//! `--plot PATH`: the record-latency percentile curve of each library, as an SVG.
//!
//! The x axis is the percentile on the usual HDR scale (50%, 90%, 99%, 99.9%, ... evenly
//! spaced: `1 / (1 - q)` on a log axis); the y axis is nanoseconds, log scale.

use plotters::prelude::*;

use hdrhistogram::Histogram;

const COLORS: [RGBColor; 3] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
];

/// The curve: `(1 / (1 - q), ns)` points from the histogram's quantile iterator.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(2)
        .map(|v| {
            let q = v.quantile_iterated_to().min(0.999_999);
            (1.0 / (1.0 - q), v.value_iterated_to().max(1) as f64)
        })
        .collect()
}

/// `1500.0` -> `1.5 us`.
fn human_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{} s", n / 1e9),
        n if n >= 1e6 => format!("{} ms", n / 1e6),
        n if n >= 1e3 => format!("{} us", n / 1e3),
        n => format!("{n} ns"),
    }
}

/// Writes one curve per `(label, histogram)`.
pub fn write(path: &str, title: &str, series: &[(&str, &Histogram<u64>)]) -> Result<(), String> {
    let curves: Vec<_> = series.iter().map(|(_, h)| curve(h)).collect();
    let y_max = curves.iter().flatten().map(|p| p.1).fold(10.0, f64::max) * 2.0;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("plotting to {path}: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..1e6f64).log_scale(), (1f64..y_max).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("record latency")
        .y_label_formatter(&|ns| human_ns(*ns))
        .x_label_formatter(&|x| {
            // 10 -> 90%, 100 -> 99%, 1000 -> 99.9%: one more decimal per decade past 100.
            let decimals = (x.log10().round() - 2.0).max(0.0) as usize;
            format!("{:.*}%", decimals, 100.0 * (1.0 - 1.0 / x))
        })
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (&(label, _), points)) in series.iter().zip(curves).enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
