//! A pipeline with its admin endpoint, recording spans until stopped: what the README's
//! screenshot of `/debug/` shows.
//!
//! ```text
//! cargo run --release -p ringspan-transport --features profile --example admin
//! ```
//!
//! It sends to an embedded receiver (or to `OTEL_EXPORTER_OTLP_ENDPOINT` if set), serves the
//! admin endpoint on `RINGSPAN_ADMIN_PORT` (default 9464) of 127.0.0.1, and records 10 000
//! spans a second on one thread for `--seconds N` (default: until killed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringspan::Value;
use ringspan_alloc_counter::CountingAlloc;
use ringspan_receiver::{Receiver, ReceiverConfig};
use ringspan_transport::{Admin, AdminConfig, Pipeline, PipelineConfig};

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
    Ok(())
}
