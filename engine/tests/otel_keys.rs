//! Attribute keys of the `opentelemetry` front end past the process's table of interned keys
//! (`MAX_KEY_BYTES`, 64 KiB): keys made up at run time without end fill it, and every key
//! after that, new or seen before, still reaches the span with its text. (Its own binary:
//! the table is the process's, and a full one would change what other tests see.)
#![cfg(feature = "opentelemetry")]

mod common;

use std::time::Duration;

use common::{Collect, Val};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use ringspan::{Engine, EngineConfig, IdleStrategy};

#[test]
fn keys_past_the_interned_table_still_arrive_with_their_text() {
    const MADE_UP: usize = 1200; // 60-byte keys: 72 000 bytes, past the table's 65 536
    let sink = Collect::default();
    let config = EngineConfig::default()
        .rings(2)
        .ring_capacity(4096)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, sink.clone()).unwrap();
    let tracer = engine.otel_tracer_provider().tracer("keys");
    let key = |i: usize| format!("made.up.{i:052}");
    let one = |k: String, v: i64| {
        let mut span = tracer.start("s");
        span.set_attribute(KeyValue::new(k, v));
        span.end();
    };
    one("order.id".to_string(), -1);
    for i in 0..MADE_UP {
        one(key(i), i as i64);
    }
    // After the table is full: a key it holds, a new one, and one of the first made up.
    one("order.id".to_string(), -2);
    one("new.after.full".to_string(), -3);
    one(key(0), -4);
    let report = engine.shutdown(Duration::from_secs(10)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    let spans = sink.take();
    assert_eq!(spans.len(), MADE_UP + 4);
    let got: Vec<_> = spans.iter().map(|s| s.attrs[0].clone()).collect();
    assert_eq!(got[0], ("order.id".into(), Val::I(-1)));
    for i in 0..MADE_UP {
        assert_eq!(got[1 + i], (key(i), Val::I(i as i64)));
    }
    assert_eq!(
        got[MADE_UP + 1..],
        [
            ("order.id".into(), Val::I(-2)),
            ("new.after.full".into(), Val::I(-3)),
            (key(0), Val::I(-4)),
        ]
    );
}
