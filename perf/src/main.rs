//! `ringspan-perf`: runs the whole pipeline on dedicated cores, producers -> rings -> drain ->
//! OTLP encoder -> HTTP exporter -> an OTLP/HTTP endpoint (the embedded receiver by default),
//! and reports throughput delivered, record latency percentiles, drops by reason, allocations
//! per span, memory and CPU time per thread role. With `--compare otel` it runs the same
//! workload through opentelemetry_sdk and prints both side by side; with `--compare null` it
//! interleaves timed empty calls with ringspan's spans, to read ringspan's tail against the
//! machine's. See `perf/README.md`.
//!
//! Exit status: 0 when every span is accounted for, 1 when ringspan's counts disagree
//! (a span unaccounted for is a bug), 2 for bad options or a failed start.

mod args;
mod child;
mod faults;
mod metrics_signal;
mod otel_run;
mod plot;
mod procfs;
mod report;
mod ringspan_run;
mod target;
mod tracing_api;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use mimalloc::MiMalloc;
use ringspan::{Calibration, Clock};
use ringspan_alloc_counter::CountingAlloc;

#[global_allocator]
pub(crate) static ALLOC: CountingAlloc<MiMalloc> = CountingAlloc::new(MiMalloc);

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(child::SERVE_FLAG) {
        return match child::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("ringspan-perf: {msg}");
                ExitCode::from(2)
            }
        };
    }
    let args = match args::Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(msg) => {
            eprintln!("ringspan-perf: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(mut args: args::Args) -> Result<bool, String> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    // One core for the drain, the exporter and the receiver; the rest for producers.
    let service_core = args
        .drain_core
        .or_else(|| (available.len() >= 2).then(|| available[0]));
    if args.cores.is_empty() && available.len() >= 2 {
        args.cores = available
            .iter()
            .copied()
            .filter(|&c| Some(c) != service_core)
            .collect();
    }
    if args.producers == 0 {
        args.producers = args.cores.len().max(1);
    }
    let cores: Vec<Option<usize>> = (0..args.producers)
        .map(|i| args.cores.get(i).copied())
        .collect();
    // Threads inherit their creator's affinity: pinning this thread first puts the drain, the
    // exporter, the receiver (and the peer's background threads) on the service core.
    if let Some(c) = service_core {
        core_affinity::set_for_current(core_affinity::CoreId { id: c });
    }
    let target = match &args.endpoint {
        Some(url) => target::Target::external(url),
        // The soak runs the receiver in a process of its own, so that this process's memory
        // is ringspan's alone.
        None if args.faults => target::Target::child()?,
        None => target::Target::embedded()?,
    };
    let cal = Calibration::new(Clock::detect(), Duration::from_millis(20));
    let header = format!(
        "ringspan-perf: {} producer(s) on cores {:?}, drain/exporter/receiver on {:?}, {:.1} s, rate {} per producer, {} attrs, endpoint {}{}",
        args.producers,
        cores,
        service_core,
        args.duration.as_secs_f64(),
        args.rate.map_or("max".to_owned(), |r| r.to_string()),
        args.attrs,
        target.url,
        target.describe(),
    );

    let mut reports = vec![ringspan_run::run(
        &args,
        &cal,
        &cores,
        service_core,
        &target,
    )?];
    let ok = reports[0].identity.is_ok();
    if args.compare.contains(&args::Compare::Otel) {
        reports.push(otel_run::run(&args, &cal, &cores, &target)?);
    }
    let null = reports[0].null.as_ref();
    report::print_table(&header, &reports, null);
    if let Some(path) = &args.json {
        let mut json = reports[0].json();
        let obj = json.as_object_mut().expect("an object");
        obj.insert("producers".into(), args.producers.into());
        obj.insert("duration_secs".into(), args.duration.as_secs_f64().into());
        obj.insert(
            "rate_per_producer".into(),
            args.rate.map_or(serde_json::Value::Null, Into::into),
        );
        obj.insert("attrs".into(), args.attrs.into());
        obj.insert("endpoint".into(), target.url.clone().into());
        if let Some(peer) = reports.get(1) {
            obj.insert("compare".into(), peer.json());
        }
        if let Some(null) = null {
            if let serde_json::Value::Object(fields) = report::null_json(null, &reports[0]) {
                obj.extend(fields);
            }
        }
        let text = serde_json::to_string_pretty(&json).expect("a JSON value serialises");
        std::fs::write(path, text + "\n").map_err(|e| format!("writing {path}: {e}"))?;
    }
    if let Some(path) = &args.plot {
        let mut series: Vec<(&str, &hdrhistogram::Histogram<u64>)> =
            reports.iter().map(|r| (r.library, &r.histogram)).collect();
        if let Some(null) = null {
            series.push(("null (empty call)", &null.histogram));
        }
        plot::write(path, &header_title(&args), &series)?;
        println!("  plot written to {path}");
    }
    if !ok {
        eprintln!("ACCOUNTING MISMATCH in ringspan (see identity above)");
    }
    Ok(ok)
}

fn header_title(args: &args::Args) -> String {
    format!(
        "record latency, {} producer(s), {} spans/s each, {} attrs",
        args.producers,
        args.rate.map_or("max".to_owned(), |r| r.to_string()),
        args.attrs
    )
}
