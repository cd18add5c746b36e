//! `GET /debug/`: the index page, as Go's `/debug/pprof/` index is: the endpoints, then the
//! current figures, as plain HTML (no script, no external resource).

use std::fmt::Write;

use super::metrics::{prom_label, prom_unit};
use crate::observe::families::{Family, Value};

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page for `families`, with the last export error if there is one.
pub(super) fn render(families: &[Family], last_error: Option<&str>) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ringspan</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}\
         td.n{text-align:right;font-family:monospace}</style></head><body>\n\
         <h1>ringspan</h1>\n<h2>Endpoints</h2>\n<ul>\n\
         <li><a href=\"/metrics\">/metrics</a>: every counter and gauge below, in the \
         OpenMetrics text format</li>\n\
         <li><a href=\"/debug/\">/debug/</a>: this page</li>\n\
         <li><a href=\"/debug/pprof/heap\">/debug/pprof/heap</a>: live and total \
         allocations by size class (with a counting allocator)</li>\n",
    );
    if cfg!(feature = "profile") {
        h.push_str(
            "<li><a href=\"/debug/pprof/profile?seconds=30\">/debug/pprof/profile?seconds=N</a>: \
             a CPU profile of N seconds (at most 60), for <code>go tool pprof</code></li>\n",
        );
    }
    h.push_str("</ul>\n");
    if let Some(e) = last_error {
        let _ = writeln!(h, "<h2>Last export error</h2>\n<p>{}</p>", esc(e));
    }
    leaks(&mut h, families);
    h.push_str("<h2>Now</h2>\n<table>\n<tr><th>metric</th><th>labels</th><th>value</th><th>what it is</th></tr>\n");
    for f in families {
        let unit = prom_unit(f.unit).map_or(String::new(), |u| format!("_{}", u.as_str()));
        // The name and what it is once per family, across its series' rows.
        let span = match f.series.len() {
            1 => String::new(),
            n => format!(" rowspan=\"{n}\""),
        };
        for (i, (labels, value)) in f.series.iter().enumerate() {
            let labels = labels
                .iter()
                .map(|(k, v)| format!("{}={v}", prom_label(k)))
                .collect::<Vec<_>>()
                .join(", ");
            let value = match value {
                Value::Count(n) => n.to_string(),
                Value::Gauge(v) if v.fract() == 0.0 => format!("{v:.0}"),
                Value::Gauge(v) => format!("{v:.3}"),
            };
            h.push_str("<tr>");
            if i == 0 {
                let _ = write!(h, "<td{span}>{}{}</td>", esc(f.prom), esc(&unit));
            }
            let _ = write!(h, "<td>{}</td><td class=\"n\">{value}</td>", esc(&labels));
            if i == 0 {
                let _ = write!(h, "<td{span}>{}</td>", esc(f.help));
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

/// The series of the family named `name` (OTLP name), if it is there.
fn series<'f>(families: &'f [Family], name: &str) -> &'f [(Vec<(&'static str, String)>, Value)] {
    families
        .iter()
        .find(|f| f.name == name)
        .map_or(&[], |f| &f.series[..])
}

fn gauge(v: &Value) -> f64 {
    match *v {
        Value::Count(n) => n as f64,
        Value::Gauge(g) => g,
    }
}

fn label<'a>(labels: &'a [(&'static str, String)], key: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// A table under these column heads, a row per entry: its text cells (escaped), then its
/// figure (right-aligned); "none" without entries.
fn table(h: &mut String, heads: &[&str], rows: &[(Vec<&str>, String)]) {
    if rows.is_empty() {
        h.push_str("<p>none</p>\n");
        return;
    }
    h.push_str("<table>\n<tr>");
    for head in heads {
        let _ = write!(h, "<th>{head}</th>");
    }
    h.push_str("</tr>\n");
    for (cells, figure) in rows {
        h.push_str("<tr>");
        for c in cells {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        let _ = writeln!(h, "<td class=\"n\">{figure}</td></tr>");
    }
    h.push_str("</table>\n");
}

/// The leak report: spans open too long, spans abandoned by exited threads, producers that
/// hold a ring and record nothing, a growing exporter backlog.
fn leaks(h: &mut String, families: &[Family]) {
    let threshold = series(families, "ringspan.span.open.threshold")
        .first()
        .map_or(0.0, |(_, v)| gauge(v));
    h.push_str("<h2>Leak report</h2>\n");
    let _ = writeln!(
        h,
        "<h3>Spans open longer than {threshold:.0} s (the oldest of each producer)</h3>"
    );
    let long: Vec<_> = series(families, "ringspan.span.open.long_age")
        .iter()
        .map(|(l, v)| {
            let cells = vec![
                label(l, "span.name"),
                label(l, "thread.name"),
                label(l, "ring"),
            ];
            (cells, format!("{:.1} s", gauge(v)))
        })
        .collect();
    table(h, &["span", "thread", "ring", "open for"], &long);
    h.push_str("<h3>Spans left open by threads that exited (the last 16)</h3>\n");
    let abandoned: Vec<_> = series(families, "ringspan.span.abandoned")
        .iter()
        .map(|(l, v)| {
            let cells = vec![label(l, "span.name"), label(l, "thread.name")];
            (cells, format!("{:.0}", gauge(v)))
        })
        .collect();
    table(h, &["span", "thread", "spans"], &abandoned);
    let _ = writeln!(
        h,
        "<h3>Producers holding a ring without recording for longer than {threshold:.0} s</h3>"
    );
    let idle: Vec<_> = series(families, "ringspan.ring.idle")
        .iter()
        .filter(|(_, v)| gauge(v) > threshold)
        .map(|(l, v)| (vec![label(l, "ring")], format!("{:.1} s", gauge(v))))
        .collect();
    table(h, &["ring", "idle for"], &idle);
    h.push_str("<h3>Exporter backlog</h3>\n");
    let growing = series(families, "ringspan.export.backlog.growing")
        .first()
        .map_or(0.0, |(_, v)| gauge(v));
    if growing > 0.0 {
        let _ = writeln!(
            h,
            "<p>growing (never shrinking) for {growing:.1} s: the collector does not keep up</p>"
        );
    } else {
        h.push_str("<p>not growing</p>\n");
    }
}
