//! `GET /debug/`: the index page, as Go's `/debug/pprof/` index is: the endpoints, then the
//! current figures, as plain HTML (no script, no external resource).

use std::fmt::Write;

use super::metrics::{Family, Value};

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
    h.push_str("<h2>Now</h2>\n<table>\n<tr><th>metric</th><th>labels</th><th>value</th><th>what it is</th></tr>\n");
    for f in families {
        let unit = f
            .unit
            .as_ref()
            .map_or(String::new(), |u| format!("_{}", u.as_str()));
        // The name and what it is once per family, across its series' rows.
        let span = match f.series.len() {
            1 => String::new(),
            n => format!(" rowspan=\"{n}\""),
        };
        for (i, (labels, value)) in f.series.iter().enumerate() {
            let labels = labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let value = match value {
                Value::Count(n) => n.to_string(),
                Value::Gauge(v) if v.fract() == 0.0 => format!("{v:.0}"),
                Value::Gauge(v) => format!("{v:.3}"),
            };
            h.push_str("<tr>");
            if i == 0 {
                let _ = write!(h, "<td{span}>{}{}</td>", esc(f.name), esc(&unit));
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
