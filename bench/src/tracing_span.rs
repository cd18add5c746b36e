//! The bench span as `tracing` users write it (`order.match` with 4 fields: i64, f64, string,
//! bool; entered, then closed), the same under every `tracing` subscriber measured:
//! tracing-opentelemetry's layer (`peers::tracing_otel`) and ringspan's (`ours::tracing`).

/// One span: start with 4 fields, enter, exit, close.
#[inline(always)]
pub fn record_one(i: i64) {
    let span = tracing::info_span!(
        "order.match",
        order.id = i,
        order.qty = 100.0,
        order.side = "buy",
        order.aggressive = true
    );
    let _entered = span.enter();
}
