//! What one library delivered, as JSON (`--json`) and as the printed table.

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// What the null workload measured (`--compare null`): the empty calls that `workload.rs`
/// interleaves with ringspan's spans, one schedule slot in [`crate::workload::SAMPLE_EVERY`],
/// to read ringspan's latency against the machine's own.
pub struct NullReport {
    /// Empty calls timed.
    pub spans: u64,
    pub histogram: Histogram<u64>,
}

/// One library's run.
pub struct LibReport {
    /// `ringspan` or `opentelemetry_sdk`.
    pub library: &'static str,
    /// How it was wired, in a few words.
    pub setup: String,
    pub recorded: u64,
    pub exported: u64,
    pub rejected: u64,
    /// Dropped spans by reason; `unreported` holds what the library never counted.
    pub dropped_by_reason: Map<String, Value>,
    pub seconds: f64,
    pub histogram: Histogram<u64>,
    pub allocs_per_span: f64,
    pub rss_start: u64,
    pub rss_end: u64,
    /// RSS once a second after the warm-up.
    pub rss_steady: Vec<u64>,
    /// The receiver process's RSS at the same instants (empty unless it has its own process).
    pub receiver_rss: Vec<u64>,
    pub preallocated: Option<u64>,
    /// CPU seconds by thread role.
    pub cpu: Map<String, Value>,
    /// The null workload interleaved with this run (`--compare null`; ringspan's run only).
    pub null: Option<NullReport>,
    /// CPU seconds of the library's background threads (what moves spans off the producers:
    /// drain + exporter for ringspan, batch processor + HTTP client for opentelemetry_sdk).
    pub background_cpu: f64,
    /// Library-specific figures (requests, bytes, retries...).
    pub extra: Map<String, Value>,
    /// Whether every span is accounted for, and how that was checked.
    pub identity: Result<String, String>,
}

/// RSS samples in the JSON report: first, last, least, most and all of them.
fn rss_json(samples: &[u64]) -> Value {
    json!({
        "first": samples.first(),
        "last": samples.last(),
        "min": samples.iter().min(),
        "max": samples.iter().max(),
        "samples": samples,
    })
}

impl LibReport {
    pub fn dropped(&self) -> u64 {
        self.dropped_by_reason
            .values()
            .filter_map(Value::as_u64)
            .sum()
    }

    /// Background CPU nanoseconds per delivered span.
    pub fn background_ns_per_span(&self) -> Option<f64> {
        (self.exported > 0).then(|| self.background_cpu * 1e9 / self.exported as f64)
    }

    pub fn json(&self) -> Value {
        let h = &self.histogram;
        let mut v = json!({
            "library": self.library,
            "setup": self.setup,
            "spans_recorded": self.recorded,
            "spans_exported": self.exported,
            "spans_rejected": self.rejected,
            "spans_dropped": self.dropped(),
            "dropped_by_reason": self.dropped_by_reason,
            "delivered_per_sec": self.exported as f64 / self.seconds,
            "record_ns": {
                "p50": h.value_at_quantile(0.5),
                "p99": h.value_at_quantile(0.99),
                "p999": h.value_at_quantile(0.999),
                "max": h.max(),
                "samples": h.len(),
            },
            "allocs_per_span": self.allocs_per_span,
            "preallocated_bytes": self.preallocated,
            "rss_bytes_start": self.rss_start,
            "rss_bytes_end": self.rss_end,
            "rss_bytes_after_warmup": rss_json(&self.rss_steady),
            "cpu_seconds": self.cpu,
            "background_cpu_ns_per_delivered_span": self.background_ns_per_span(),
            "identity": match &self.identity {
                Ok(how) => json!({"holds": true, "how": how}),
                Err(why) => json!({"holds": false, "why": why}),
            },
        });
        let obj = v.as_object_mut().expect("an object");
        if !self.receiver_rss.is_empty() {
            obj.insert(
                "receiver_rss_bytes_after_warmup".into(),
                rss_json(&self.receiver_rss),
            );
        }
        obj.extend(self.extra.clone());
        v
    }
}

/// The latency percentiles the table and the JSON report.
const QUANTILES: [(&str, &str, f64); 4] = [
    ("p50", "p50", 0.5),
    ("p99", "p99", 0.99),
    ("p99.9", "p999", 0.999),
    ("p99.99", "p9999", 0.9999),
];

/// The null workload's percentiles, and by how much `r`'s exceed them (ns, signed).
pub fn null_json(null: &NullReport, r: &LibReport) -> Value {
    let mut record = Map::new();
    let mut over = Map::new();
    for (_, key, q) in QUANTILES {
        let n = null.histogram.value_at_quantile(q);
        record.insert(key.into(), n.into());
        over.insert(
            key.into(),
            (r.histogram.value_at_quantile(q) as i64 - n as i64).into(),
        );
    }
    record.insert("max".into(), null.histogram.max().into());
    record.insert("samples".into(), null.histogram.len().into());
    json!({
        "null": {"spans": (null.spans), "record_ns": record},
        "record_ns_over_null": over,
    })
}

/// Prints the reports side by side, one column per library; the null workload, when it ran,
/// is a last column with its latency only, and a row gives ringspan's excess over it.
pub fn print_table(header: &str, reports: &[LibReport], null: Option<&NullReport>) {
    println!("{header}");
    // `null_cell` fills the null column: `None` prints a dash.
    let row = |name: &str, cells: Vec<String>, null_cell: Option<String>| {
        print!("  {name:<22}");
        for c in cells {
            print!(" {c:>20}");
        }
        if null.is_some() {
            print!(" {:>20}", null_cell.unwrap_or_else(|| "-".to_owned()));
        }
        println!();
    };
    let each = |f: &dyn Fn(&LibReport) -> String| reports.iter().map(f).collect::<Vec<_>>();
    row(
        "",
        each(&|r| r.library.to_owned()),
        Some("null (empty call)".to_owned()),
    );
    row(
        "spans recorded",
        each(&|r| r.recorded.to_string()),
        null.map(|n| format!("{} calls", n.spans)),
    );
    row("spans exported", each(&|r| r.exported.to_string()), None);
    row("spans rejected", each(&|r| r.rejected.to_string()), None);
    row("spans dropped", each(&|r| r.dropped().to_string()), None);
    row(
        "delivered per sec",
        each(&|r| format!("{:.0}", r.exported as f64 / r.seconds)),
        None,
    );
    for (label, _, q) in QUANTILES {
        row(
            &format!("record ns {label}"),
            each(&|r| r.histogram.value_at_quantile(q).to_string()),
            null.map(|n| n.histogram.value_at_quantile(q).to_string()),
        );
    }
    row(
        "record ns max",
        each(&|r| r.histogram.max().to_string()),
        null.map(|n| n.histogram.max().to_string()),
    );
    if let (Some(n), Some(ours)) = (null, reports.first()) {
        let over = |q: f64| {
            ours.histogram.value_at_quantile(q) as i64 - n.histogram.value_at_quantile(q) as i64
        };
        println!(
            "  {:<22} {:+} / {:+} / {:+} ns at p50 / p99 / p99.9",
            format!("{} over null", ours.library),
            over(0.5),
            over(0.99),
            over(0.999)
        );
    }
    row(
        "background ns/span",
        each(&|r| {
            r.background_ns_per_span()
                .map_or("-".to_owned(), |ns| format!("{ns:.0}"))
        }),
        None,
    );
    row(
        "allocs per span",
        each(&|r| format!("{:.4}", r.allocs_per_span)),
        None,
    );
    row(
        "RSS MB start -> end",
        each(&|r| {
            format!(
                "{:.1} -> {:.1}",
                r.rss_start as f64 / 1e6,
                r.rss_end as f64 / 1e6
            )
        }),
        None,
    );
    let range = |samples: &[u64]| {
        let mb = |v: Option<&u64>| v.map_or(0.0, |&b| b as f64 / 1e6);
        format!(
            "{:.1} .. {:.1}",
            mb(samples.iter().min()),
            mb(samples.iter().max())
        )
    };
    row(
        "RSS MB after warm-up",
        each(&|r| range(&r.rss_steady)),
        None,
    );
    if reports.iter().any(|r| !r.receiver_rss.is_empty()) {
        row(
            "receiver process RSS MB",
            each(&|r| range(&r.receiver_rss)),
            None,
        );
    }
    for r in reports {
        println!("  {}:", r.library);
        println!("    setup       {}", r.setup);
        println!(
            "    dropped     {}",
            Value::Object(r.dropped_by_reason.clone())
        );
        println!("    cpu seconds {}", Value::Object(r.cpu.clone()));
        if !r.extra.is_empty() {
            println!("    {}", Value::Object(r.extra.clone()));
        }
        match &r.identity {
            Ok(how) => println!("    identity    holds: {how}"),
            Err(why) => println!("    identity    BROKEN: {why}"),
        }
    }
}
