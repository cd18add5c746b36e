//! The example service (`examples/service/`): its two instances, instrumented with `tracing`
//! and exported through one `Pipeline`, make each request one trace at the embedded receiver:
//! the caller's `traceparent` is the front instance's parent, its client span the parent of
//! the back instance's server span, every span in the caller's trace.
//!
//! One test in this binary: it installs the global `tracing` subscriber.
#![cfg(feature = "tracing")]

#[path = "../examples/service/app.rs"]
mod app;

use std::collections::HashMap;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Pb;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use ringspan_receiver::{Keep, Receiver, ReceiverConfig};
use ringspan_transport::{Pipeline, PipelineConfig};
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt;

fn int_attr(span: &Span, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Pb::IntValue(i) => Some(*i),
            _ => None,
        })
}

#[test]
fn two_hops_make_one_trace_at_the_receiver() {
    let receiver = Receiver::start(ReceiverConfig::default().keep(Keep::Decoded)).unwrap();
    let mut config = PipelineConfig::default();
    config.exporter = config.exporter.base_endpoint(&receiver.endpoint()).unwrap();
    let pipeline = Pipeline::start(config).unwrap();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(pipeline.engine().tracing_layer()),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const REQUESTS: usize = 20;
    // The callers' contexts: one trace each, sampled.
    let callers: Vec<String> = (0..REQUESTS)
        .map(|i| format!("00-{:032x}-{:016x}-01", 0xabc0_0000 + i, 0x100 + i))
        .collect();
    runtime.block_on(async {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_url = format!("http://{}", backend.local_addr().unwrap());
        let frontend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/quote", frontend.local_addr().unwrap());
        tokio::spawn(app::serve(backend, app::Instance::new(None)));
        tokio::spawn(app::serve(frontend, app::Instance::new(Some(backend_url))));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        let requests = callers.iter().map(|traceparent| {
            let request = http::Request::get(&url)
                .header("traceparent", traceparent)
                .body(Empty::new())
                .unwrap();
            let client = client.clone();
            async move {
                let response = client.request(request).await.unwrap();
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"101.25\n");
            }
        });
        // All at once: the handlers interleave on the two workers.
        let handles: Vec<_> = requests.map(tokio::spawn).collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    drop(runtime);
    let report = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    assert!(report.is_settled(), "{report:?}");
    assert_eq!(report.recorded, 3 * REQUESTS as u64, "{report:?}");
    assert_eq!(report.exported, report.recorded, "{report:?}");

    let spans: Vec<Span> = receiver
        .take_requests()
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    assert_eq!(spans.len(), 3 * REQUESTS);
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (&s.span_id[..], s)).collect();
    assert_eq!(by_id.len(), spans.len(), "a span arrived twice");
    let mut traces_seen = 0;
    for caller in &callers {
        let cx = ringspan::parse_traceparent(caller).unwrap();
        let in_trace: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == cx.trace_id.0)
            .collect();
        assert_eq!(in_trace.len(), 3, "trace {caller}: {in_trace:?}");
        let front = in_trace
            .iter()
            .find(|s| s.parent_span_id == cx.span_id.0)
            .expect("the front server span, child of the caller");
        assert_eq!(front.kind, SpanKind::Server as i32);
        let client = in_trace
            .iter()
            .find(|s| s.parent_span_id == front.span_id)
            .expect("the client span, child of the front span");
        assert_eq!(client.kind, SpanKind::Client as i32);
        let back = in_trace
            .iter()
            .find(|s| s.parent_span_id == client.span_id)
            .expect("the back server span, child of the client span");
        assert_eq!(back.kind, SpanKind::Server as i32);
        for s in [front, client, back] {
            assert_eq!(int_attr(s, "http.response.status_code"), Some(200), "{s:?}");
        }
        // Each hop's times nest: the back answered inside the client call, inside the front.
        assert!(front.start_time_unix_nano <= client.start_time_unix_nano);
        assert!(client.end_time_unix_nano <= front.end_time_unix_nano);
        assert!(back.end_time_unix_nano <= client.end_time_unix_nano + 1_000_000);
        assert!(front.events.iter().any(|e| e.name == "quoted"));
        traces_seen += 1;
    }
    assert_eq!(traces_seen, REQUESTS);
}
