//! A tokio + hyper service instrumented with `tracing`, exported through ringspan: two
//! instances, the first calling the second with the trace context in `traceparent`, so each
//! request is one trace across both.
//!
//! ```text
//! # Both instances, an embedded OTLP receiver, three requests; prints each trace it received.
//! cargo run -p ringspan-transport --features tracing --example service
//!
//! # Or run the instances yourself (each exports to OTEL_EXPORTER_OTLP_ENDPOINT; Enter stops):
//! cargo run -p ringspan-transport --features tracing --example service -- --listen 127.0.0.1:8081
//! cargo run -p ringspan-transport --features tracing --example service -- --listen 127.0.0.1:8080 --downstream http://127.0.0.1:8081
//! curl http://127.0.0.1:8080/quote
//! ```
//!
//! The setup a service needs is in `start`: a `Pipeline`, and its engine's `TracingLayer` on
//! the `tracing` Registry as the global subscriber. The handlers (`app.rs`) are plain
//! `tracing` code, with `TracingSpanExt` for the `traceparent` header in and out.

mod app;

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use ringspan_receiver::{Keep, Receiver, ReceiverConfig};
use ringspan_transport::{Pipeline, PipelineConfig};
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt;

type Error = Box<dyn std::error::Error>;

/// The pipeline, with its `tracing` layer installed as the process's subscriber.
fn start(config: PipelineConfig) -> Result<Pipeline, Error> {
    let pipeline = Pipeline::start(config)?;
    let subscriber = tracing_subscriber::registry().with(pipeline.engine().tracing_layer());
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(pipeline)
}

fn flag(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn main() -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match flag("--listen") {
        Some(addr) => runtime.block_on(listen(&addr, flag("--downstream"))),
        None => demo(&runtime),
    }
}

/// One instance, exporting where the environment says, until stdin closes or a line comes.
async fn listen(addr: &str, downstream: Option<String>) -> Result<(), Error> {
    let pipeline = start(PipelineConfig::from_env()?)?;
    let listener = TcpListener::bind(addr).await?;
    println!(
        "serving http://{}/quote; Enter stops",
        listener.local_addr()?
    );
    let server = tokio::spawn(app::serve(listener, app::Instance::new(downstream)));
    tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await??;
    server.abort();
    let report = pipeline.shutdown(Duration::from_secs(10))?;
    println!("{report:?}");
    Ok(())
}

/// Both instances and a receiver in this process; three requests; the traces received.
fn demo(runtime: &tokio::runtime::Runtime) -> Result<(), Error> {
    let receiver = Receiver::start(ReceiverConfig::default().keep(Keep::Decoded))?;
    let mut config = PipelineConfig::from_env()?;
    config.exporter = config.exporter.base_endpoint(&receiver.endpoint())?;
    let pipeline = start(config)?;
    runtime.block_on(async {
        let backend = TcpListener::bind("127.0.0.1:0").await?;
        let backend_url = format!("http://{}", backend.local_addr()?);
        let frontend = TcpListener::bind("127.0.0.1:0").await?;
        let frontend_url = format!("http://{}/quote", frontend.local_addr()?);
        tokio::spawn(app::serve(backend, app::Instance::new(None)));
        tokio::spawn(app::serve(frontend, app::Instance::new(Some(backend_url))));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        for _ in 0..3 {
            let response = client.get(frontend_url.parse()?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            println!(
                "GET {frontend_url}: {status} {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok::<_, Error>(())
    })?;
    let report = pipeline.shutdown(Duration::from_secs(10))?;
    println!(
        "recorded {} exported {} dropped {}",
        report.recorded,
        report.exported,
        report.dropped_total()
    );
    let mut traces: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for request in receiver.take_requests() {
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            traces
                .entry(span.trace_id.clone())
                .or_default()
                .push(span.name.clone());
        }
    }
    for (trace, spans) in traces {
        let hex: String = trace.iter().map(|b| format!("{b:02x}")).collect();
        println!("trace {hex}: {}", spans.join(", "));
    }
    Ok(())
}
