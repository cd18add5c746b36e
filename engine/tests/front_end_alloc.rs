//! What the front ends allocate per span, counted by a global allocator over the whole
//! process in steady state:
//!
//! - the `tracing` layer: nothing beyond what tracing-subscriber's Registry allocates itself
//!   (each span has four fields, one a copied string, one a `Debug` value, is entered, gets
//!   an event, and closes), measured for the Registry alone and with the layer;
//! - the `opentelemetry` API through ringspan's tracer: nothing, for a span started by name,
//!   given four attributes and an event, ended (the API's `SpanBuilder::with_attributes`
//!   collects a `Vec`: that one is the API's, for any SDK);
//! - the logs bridges: nothing per log record, for a `tracing` event outside any span (a
//!   formatted message, typed fields, a `Debug` one) and a `log!` record with an argument.
//!
//! This binary holds a single test so that no other test allocates while it counts.
#![cfg(all(feature = "tracing", feature = "opentelemetry", feature = "log"))]

use std::alloc::System;
use std::time::Duration;

use ringspan::{Discard, Engine, EngineConfig, IdleStrategy};
use ringspan_alloc_counter::CountingAlloc;
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

const SPANS: u64 = 20_000;

fn record(n: u64, venue: &str) {
    for i in 0..n {
        let span = tracing::info_span!(
            "order.match",
            order.id = i,
            order.qty = 100.0,
            order.venue = venue,
            order.flags = ?[1u8, 2, 3],
        );
        let _entered = span.enter();
        tracing::info!(filled = true, "matched");
    }
}

/// Allocations per span, in steady state, under `dispatch`.
fn allocations(dispatch: &tracing::Dispatch) -> f64 {
    let venue = String::from("XNAS");
    tracing::dispatcher::with_default(dispatch, || {
        // Warm up: the Registry's slab pages, the thread's span stack, the local producer.
        record(SPANS, &venue);
        let before = ALLOC.allocations();
        record(SPANS, &venue);
        (ALLOC.allocations() - before) as f64 / SPANS as f64
    })
}

/// Allocations per span, in steady state, through the opentelemetry API.
fn otel_allocations(engine: &Engine) -> f64 {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry::KeyValue;
    let tracer = engine.otel_tracer_provider().tracer("alloc-test");
    let record = |n: u64| {
        for i in 0..n {
            let mut span = tracer.start("order.match");
            span.set_attribute(KeyValue::new("order.id", i as i64));
            span.set_attribute(KeyValue::new("order.qty", 100.0));
            span.set_attribute(KeyValue::new("order.side", "buy"));
            span.set_attribute(KeyValue::new("order.aggressive", true));
            span.add_event("matched", vec![]);
            span.end();
        }
    };
    record(SPANS);
    let before = ALLOC.allocations();
    record(SPANS);
    (ALLOC.allocations() - before) as f64 / SPANS as f64
}

/// Allocations per log record, in steady state, through the `tracing` layer (an event
/// outside any span) and the `log` bridge.
fn log_allocations(engine: &Engine) -> f64 {
    let layered =
        tracing::Dispatch::new(tracing_subscriber::registry().with(engine.tracing_layer()));
    let bridge = engine.log_bridge(log::LevelFilter::Info);
    let record = |n: u64| {
        for i in 0..n {
            tracing::info!(order.id = i, filled = true, venue = ?"XNAS", "order {} filled", i);
            log::Log::log(
                &bridge,
                &log::Record::builder()
                    .level(log::Level::Warn)
                    .module_path_static(Some(module_path!()))
                    .args(format_args!("disk {}% full", i % 100))
                    .build(),
            );
        }
    };
    tracing::dispatcher::with_default(&layered, || {
        record(SPANS);
        let before = ALLOC.allocations();
        record(SPANS);
        (ALLOC.allocations() - before) as f64 / (2 * SPANS) as f64
    })
}

#[test]
fn the_front_ends_add_no_allocation() {
    let registry = tracing::Dispatch::new(tracing_subscriber::registry());
    let registry_only = allocations(&registry);

    let sink = Discard::default();
    let engine = Engine::start(
        EngineConfig::default()
            .rings(2)
            .ring_capacity(1 << 16)
            .idle(IdleStrategy::Park(Duration::from_micros(100))),
        sink.clone(),
    )
    .unwrap();
    let layered =
        tracing::Dispatch::new(tracing_subscriber::registry().with(engine.tracing_layer()));
    let with_layer = allocations(&layered);
    drop(layered);
    let otel = otel_allocations(&engine);
    let logs = log_allocations(&engine);
    let report = engine.shutdown(Duration::from_secs(10)).unwrap();
    eprintln!(
        "allocations per span: Registry alone {registry_only:.3}, Registry + TracingLayer \
         {with_layer:.3}, opentelemetry API through ringspan {otel:.3}; per log record \
         through the bridges {logs:.3}"
    );
    assert_eq!(report.logs.recorded, 4 * SPANS, "{:?}", report.logs);
    assert_eq!(report.logs.delivered, 4 * SPANS, "{:?}", report.logs);
    assert_eq!(logs, 0.0, "the logs bridges allocate");
    // The front ends really recorded every span they were timed on.
    assert_eq!(report.recorded, 4 * SPANS, "{report:?}");
    assert_eq!(report.delivered, 4 * SPANS, "{report:?}");
    assert_eq!(otel, 0.0, "the opentelemetry front end allocates");
    assert!(
        with_layer <= registry_only,
        "the layer allocates: {with_layer} per span against the Registry's {registry_only}"
    );
}
