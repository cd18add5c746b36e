//! What the `tracing` front end allocates per span: nothing beyond what tracing-subscriber's
//! Registry allocates itself. Each span has four fields (one a copied string, one a `Debug`
//! value), is entered, gets an event, and closes; counted by a global allocator over the
//! whole process, in steady state, for the Registry alone and for the Registry with the layer.
//!
//! This binary holds a single test so that no other test allocates while it counts.
#![cfg(feature = "tracing")]

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

#[test]
fn the_layer_adds_no_allocation_to_the_registrys_own() {
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
    let report = engine.shutdown(Duration::from_secs(10)).unwrap();
    eprintln!(
        "allocations per span: Registry alone {registry_only:.3}, Registry + TracingLayer {with_layer:.3}"
    );
    // The layer really recorded every span it was timed on.
    assert_eq!(report.recorded, 2 * SPANS, "{report:?}");
    assert_eq!(report.delivered, 2 * SPANS, "{report:?}");
    assert!(
        with_layer <= registry_only,
        "the layer allocates: {with_layer} per span against the Registry's {registry_only}"
    );
}
