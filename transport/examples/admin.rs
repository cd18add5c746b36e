//! A pipeline with its admin endpoint, recording spans until stopped: what the README's
//! screenshot of `/debug/` shows.
//!
//! ```text
//! cargo run --release -p ringspan-transport --features profile --example admin
//! ```
//!
//! It sends to an embedded receiver (or to `OTEL_EXPORTER_OTLP_ENDPOINT` if set), spans and,
//! every 5 s, the pipeline's own metrics; serves the admin endpoint on `RINGSPAN_ADMIN_PORT`
//! (default 9464) of 127.0.0.1, and records 10 000 spans a second on one thread for
//! `--seconds N` (default: until killed). A second thread (`stuck-worker`) opens a span and
//! never ends it: past `RINGSPAN_OPEN_SPAN_THRESHOLD` (default 10 s) it shows in the leak
//! report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringspan::Value;
use ringspan_alloc_counter::CountingAlloc;
use ringspan_receiver::{Receiver, ReceiverConfig};
use ringspan_transport::{
    Admin, AdminConfig, ExporterConfig, MetricsExport, Pipeline, PipelineConfig, Signal,
};

#[global_allocator]
static ALLOC: CountingAlloc<std::alloc::System> = CountingAlloc::new(std::alloc::System);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: Option<u64> = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse())
        .transpose()?;
    let mut config = PipelineConfig::from_env()?;
    let _receiver = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => None,
        None => {
            let r = Receiver::start(ReceiverConfig::default())?;
            config.exporter = config.exporter.base_endpoint(&r.endpoint())?;
            if config.observe.metrics_setting().is_none() {
                let metrics =
                    ExporterConfig::for_signal(Signal::Metrics).base_endpoint(&r.endpoint())?;
                let export = MetricsExport::new(metrics)?.interval(Duration::from_secs(5));
                config.observe = config.observe.export_metrics(export);
            }
            Some(r)
        }
    };
    let pipeline = Arc::new(Pipeline::start(config)?);
    let admin_config = match AdminConfig::from_env()? {
        Some(c) => c,
        None => AdminConfig::default().addr("127.0.0.1:9464".parse()?),
    };
    let admin = Admin::start(Arc::clone(&pipeline), admin_config.heap(&ALLOC))?;
    println!("admin endpoint: {}/debug/", admin.url());
    // A request stuck in its handler for good: the leak report shows it.
    let stuck = Arc::clone(&pipeline);
    std::thread::Builder::new()
        .name("stuck-worker".into())
        .spawn(move || {
            let producer = stuck.engine().producer().expect("a free ring");
            let _span = producer.span("example.stuck_request");
            std::thread::park();
        })?;
    let producer = pipeline.engine().producer()?;
    let started = Instant::now();
    let mut n = 0u64;
    while seconds.is_none_or(|s| started.elapsed() < Duration::from_secs(s)) {
        for _ in 0..100 {
            let mut span = producer.span_at(ringspan::callsite!("example.request", "n", "route"));
            span.set_values(&[Value::i64(n as i64), Value::str("/orders")]);
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(producer);
    drop(admin);
    let report = pipeline.shutdown(Duration::from_secs(5))?;
    println!(
        "{} recorded, {} exported, {} dropped",
        report.recorded,
        report.exported,
        report.dropped_total()
    );
    if let Some(m) = pipeline.metrics_counts() {
        println!(
            "own metrics: {} data points sent, {} exported",
            m.handed, m.exported
        );
    }
    Ok(())
}
