//! What one library delivered, as JSON (`--json`) and as the printed table.

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

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
    pub preallocated: Option<u64>,
    /// CPU seconds by thread role.
    pub cpu: Map<String, Value>,
    /// Library-specific figures (requests, bytes, retries...).
    pub extra: Map<String, Value>,
    /// Whether every span is accounted for, and how that was checked.
    pub identity: Result<String, String>,
}

impl LibReport {
    pub fn dropped(&self) -> u64 {
        self.dropped_by_reason
            .values()
            .filter_map(Value::as_u64)
            .sum()
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
            "rss_bytes_after_warmup": {
                "first": self.rss_steady.first(),
                "last": self.rss_steady.last(),
                "min": self.rss_steady.iter().min(),
                "max": self.rss_steady.iter().max(),
            },
            "cpu_seconds": self.cpu,
            "identity": match &self.identity {
                Ok(how) => json!({"holds": true, "how": how}),
                Err(why) => json!({"holds": false, "why": why}),
            },
        });
        v.as_object_mut()
            .expect("an object")
            .extend(self.extra.clone());
        v
    }
}

/// Prints the reports side by side, one column per library.
pub fn print_table(header: &str, reports: &[LibReport]) {
    println!("{header}");
    let row = |name: &str, cells: Vec<String>| {
        print!("  {name:<22}");
        for c in cells {
            print!(" {c:>26}");
        }
        println!();
    };
    let each = |f: &dyn Fn(&LibReport) -> String| reports.iter().map(f).collect::<Vec<_>>();
    row("", each(&|r| r.library.to_owned()));
    row("spans recorded", each(&|r| r.recorded.to_string()));
    row("spans exported", each(&|r| r.exported.to_string()));
    row("spans rejected", each(&|r| r.rejected.to_string()));
    row("spans dropped", each(&|r| r.dropped().to_string()));
    row(
        "delivered per sec",
        each(&|r| format!("{:.0}", r.exported as f64 / r.seconds)),
    );
    for (label, q) in [
        ("record ns p50", 0.5),
        ("record ns p99", 0.99),
        ("record ns p99.9", 0.999),
    ] {
        row(
            label,
            each(&|r| r.histogram.value_at_quantile(q).to_string()),
        );
    }
    row("record ns max", each(&|r| r.histogram.max().to_string()));
    row(
        "allocs per span",
        each(&|r| format!("{:.4}", r.allocs_per_span)),
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
    );
    row(
        "RSS MB after warm-up",
        each(&|r| {
            let mb = |v: Option<&u64>| v.map_or(0.0, |&b| b as f64 / 1e6);
            format!(
                "{:.1} .. {:.1}",
                mb(r.rss_steady.iter().min()),
                mb(r.rss_steady.iter().max())
            )
        }),
    );
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
