//! Command-line options of the harness. Unknown flags and bad values are errors that name
//! the flag and the value.

use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct Args {
    /// Producer threads.
    pub producers: usize,
    /// Cores for the producers (one each); empty: as many as fit, leaving one for the drain.
    pub cores: Vec<usize>,
    /// Core for the drain thread.
    pub drain_core: Option<usize>,
    /// How long to record.
    pub duration: Duration,
    /// Spans per second per producer; `None` is flat out.
    pub rate: Option<u64>,
    /// Attributes per span (0..=8).
    pub attrs: usize,
    /// Slots per ring of full records (spans that outgrow their callsite).
    pub ring_capacity: usize,
    /// Slots per ring of compact records (callsite spans).
    pub compact_capacity: usize,
    /// Spans per OTLP request (and the drain's flush threshold).
    pub batch: usize,
    /// Where to write the JSON report.
    pub json: Option<String>,
    /// An external OTLP/HTTP endpoint (base URL) instead of the embedded receiver.
    pub endpoint: Option<String>,
    /// Also run the same workload through these (in this order, after ringspan).
    pub compare: Vec<Compare>,
    /// Where to write the latency plot (SVG).
    pub plot: Option<String>,
    /// Run the fault soak: the embedded receiver misbehaves on a schedule (see `faults.rs`).
    pub faults: bool,
    /// The API the producers record through.
    pub api: Api,
    /// What each scheduled event records (`--signal`).
    pub signals: Signals,
}

/// The signals each scheduled event records: a span (`traces`), and/or
/// [`METRIC_UPDATES`] metric updates (`metrics`), and/or a log record (`logs`, inside the
/// span when there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    pub traces: bool,
    pub metrics: bool,
    pub logs: bool,
}

/// Metric updates one scheduled event records with `--signal metrics`.
pub const METRIC_UPDATES: u64 = 10;

/// How ringspan's producers record the harness's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// ringspan's own: a callsite span on a pinned producer (`Producer::span_at`).
    Native,
    /// `tracing`'s `info_span!` (entered, then closed) through the Registry and ringspan's
    /// `TracingLayer`, on the same pinned cores.
    Tracing,
}

/// Something to run the same schedule through, next to ringspan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// opentelemetry_sdk's BatchSpanProcessor with opentelemetry-otlp's HTTP exporter.
    Otel,
    /// An empty recording call on the same schedule and cores: the machine's own latency
    /// (clock reads, the schedule's spin, the hypervisor's pauses), to read ringspan's tail
    /// against.
    Null,
}

pub const USAGE: &str = "\
usage: ringspan-perf [--producers N] [--cores LIST] [--drain-core C] [--duration SECS]
                     [--rate SPANS_PER_SEC_PER_PRODUCER|max] [--attrs K] [--ring-capacity N]
                     [--compact-capacity N] [--batch N]
                     [--json PATH] [--endpoint URL] [--compare null,otel] [--plot PATH]
                     [--faults] [--api native|tracing] [--signal traces,metrics,logs|all]";

fn bad(flag: &str, value: &str, why: &str) -> String {
    format!("invalid {flag} {value:?}: {why}\n{USAGE}")
}

impl Args {
    /// Parses `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            producers: 0,
            cores: Vec::new(),
            drain_core: None,
            duration: Duration::from_secs(10),
            rate: Some(1_000_000),
            attrs: 4,
            ring_capacity: 1 << 14,
            compact_capacity: 1 << 16,
            batch: 512,
            json: None,
            endpoint: None,
            compare: Vec::new(),
            plot: None,
            faults: false,
            api: Api::Native,
            signals: Signals {
                traces: true,
                metrics: false,
                logs: false,
            },
        };
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.to_owned());
            }
            if flag == "--faults" {
                a.faults = true;
                continue;
            }
            let value = it.next().ok_or_else(|| bad(&flag, "", "needs a value"))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad(&flag, v, "not a whole number"))
            };
            match flag.as_str() {
                "--producers" => a.producers = num(&value)? as usize,
                "--cores" => {
                    a.cores = value
                        .split(',')
                        .map(|c| {
                            c.trim()
                                .parse::<usize>()
                                .map_err(|_| bad(&flag, &value, "not a list of core ids"))
                        })
                        .collect::<Result<_, _>>()?
                }
                "--drain-core" => a.drain_core = Some(num(&value)? as usize),
                "--duration" => {
                    let secs: f64 = value
                        .parse()
                        .map_err(|_| bad(&flag, &value, "not a number of seconds"))?;
                    if !(secs > 0.0 && secs <= 86_400.0) {
                        return Err(bad(&flag, &value, "must be between 0 and 86400 seconds"));
                    }
                    a.duration = Duration::from_secs_f64(secs);
                }
                "--rate" if value == "max" => a.rate = None,
                "--rate" => {
                    let r = num(&value)?;
                    if r == 0 {
                        return Err(bad(&flag, &value, "must be at least 1 (or max)"));
                    }
                    a.rate = Some(r);
                }
                "--attrs" => {
                    a.attrs = num(&value)? as usize;
                    if a.attrs > ringspan::MAX_ATTRS {
                        return Err(bad(&flag, &value, "a span holds at most 8 attributes"));
                    }
                }
                "--ring-capacity" => a.ring_capacity = num(&value)? as usize,
                "--compact-capacity" => a.compact_capacity = num(&value)? as usize,
                "--batch" => {
                    a.batch = num(&value)? as usize;
                    if !(1..=65_536).contains(&a.batch) {
                        return Err(bad(&flag, &value, "must be between 1 and 65536"));
                    }
                }
                "--json" => a.json = Some(value),
                "--api" => {
                    a.api = match value.as_str() {
                        "native" => Api::Native,
                        "tracing" => Api::Tracing,
                        _ => return Err(bad(&flag, &value, "expected native or tracing")),
                    }
                }
                "--signal" => {
                    a.signals = Signals {
                        traces: false,
                        metrics: false,
                        logs: false,
                    };
                    for name in value.split(',') {
                        match name.trim() {
                            "traces" => a.signals.traces = true,
                            "metrics" => a.signals.metrics = true,
                            "logs" => a.signals.logs = true,
                            "all" => {
                                a.signals = Signals {
                                    traces: true,
                                    metrics: true,
                                    logs: true,
                                }
                            }
                            _ => {
                                return Err(bad(
                                    &flag,
                                    &value,
                                    "expected traces, metrics, logs (any of them, comma-separated) or all",
                                ))
                            }
                        }
                    }
                }
                "--plot" => a.plot = Some(value),
                "--endpoint" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(bad(
                            &flag,
                            &value,
                            "expected an http:// or https:// base URL",
                        ));
                    }
                    a.endpoint = Some(value);
                }
                "--compare" => {
                    for name in value.split(',') {
                        let c = match name.trim() {
                            "otel" => Compare::Otel,
                            "null" => Compare::Null,
                            _ => return Err(bad(&flag, &value, "expected otel, null or both")),
                        };
                        if !a.compare.contains(&c) {
                            a.compare.push(c);
                        }
                    }
                }
                _ => return Err(bad(&flag, &value, "unknown option")),
            }
        }
        if a.signals.metrics
            && (a.faults
                || a.endpoint.is_some()
                || a.api != Api::Native
                || a.compare.contains(&Compare::Otel))
        {
            return Err(bad(
                "--signal",
                "metrics",
                "checks its values at the embedded receiver with the native API: not with --faults, --endpoint, --api tracing or --compare otel (whose run records spans alone)",
            ));
        }
        if a.signals.logs && (a.api != Api::Native || a.compare.contains(&Compare::Otel)) {
            return Err(bad(
                "--signal",
                "logs",
                "records through the native API: not with --api tracing or --compare otel (whose run records spans alone)",
            ));
        }
        if a.faults && a.endpoint.is_some() {
            return Err(bad(
                "--faults",
                "",
                "needs the embedded receiver (no --endpoint): it is the one that misbehaves",
            ));
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("").unwrap();
        assert_eq!(
            (a.rate, a.attrs, a.duration),
            (Some(1_000_000), 4, Duration::from_secs(10))
        );
        let a = parse("--producers 2 --cores 1,3 --rate max --duration 0.5 --attrs 0").unwrap();
        assert_eq!(
            (a.producers, a.cores, a.rate, a.attrs),
            (2, vec![1, 3], None, 0)
        );
        assert_eq!(a.duration, Duration::from_millis(500));
        let a = parse("--compare otel --endpoint http://c:4318 --plot /tmp/p.svg").unwrap();
        assert_eq!(a.compare, vec![Compare::Otel]);
        assert_eq!(a.endpoint.as_deref(), Some("http://c:4318"));
        assert_eq!(a.plot.as_deref(), Some("/tmp/p.svg"));
        let a = parse("--compare null,otel --compare null").unwrap();
        assert_eq!(a.compare, vec![Compare::Null, Compare::Otel]);
        assert!(!a.faults);
        assert!(parse("--faults --duration 60").unwrap().faults);
        assert_eq!(a.api, Api::Native);
        assert_eq!(parse("--api tracing").unwrap().api, Api::Tracing);
        assert_eq!(
            a.signals,
            Signals {
                traces: true,
                metrics: false,
                logs: false
            }
        );
        assert_eq!(
            parse("--signal metrics").unwrap().signals,
            Signals {
                traces: false,
                metrics: true,
                logs: false
            }
        );
        assert_eq!(
            parse("--signal traces,metrics").unwrap().signals,
            Signals {
                traces: true,
                metrics: true,
                logs: false
            }
        );
        assert_eq!(
            parse("--signal logs").unwrap().signals,
            Signals {
                traces: false,
                metrics: false,
                logs: true
            }
        );
        let all = Signals {
            traces: true,
            metrics: true,
            logs: true,
        };
        assert_eq!(parse("--signal all").unwrap().signals, all);
        assert_eq!(parse("--signal traces,logs,metrics").unwrap().signals, all);
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (input, flag) in [
            ("--rate fast", "--rate"),
            ("--attrs 9", "--attrs"),
            ("--cores 1,x", "--cores"),
            ("--bogus 1", "--bogus"),
            ("--duration -1", "--duration"),
            ("--json", "--json"),
            ("--compare tracing", "--compare"),
            ("--endpoint localhost:4318", "--endpoint"),
            ("--api log", "--api"),
            ("--signal logs --api tracing", "--signal"),
            ("--signal all --compare otel", "--signal"),
            ("--signal spans", "--signal"),
            ("--signal metrics --faults", "--signal"),
            ("--signal metrics --compare otel", "--signal"),
        ] {
            let e = parse(input).unwrap_err();
            assert!(e.contains(flag), "{input}: {e}");
        }
    }
}
