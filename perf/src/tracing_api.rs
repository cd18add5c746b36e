//! `--api tracing`: the harness's span written as a `tracing` user writes it (`info_span!`
//! with the first `--attrs` fields of `workload::KEYS`, the same values as the native span,
//! entered and closed), recorded through the Registry and ringspan's `TracingLayer`.

/// One span with the first `attrs` fields.
#[inline(always)]
pub fn record_span(n: u64, attrs: usize) {
    let (id, even) = (n as i64, n % 2 == 0);
    let span = match attrs {
        0 => tracing::info_span!("perf.request"),
        1 => tracing::info_span!("perf.request", order.id = id),
        2 => tracing::info_span!("perf.request", order.id = id, order.qty = 100.0),
        3 => tracing::info_span!(
            "perf.request",
            order.id = id,
            order.qty = 100.0,
            order.side = "buy"
        ),
        4 => tracing::info_span!(
            "perf.request",
            order.id = id,
            order.qty = 100.0,
            order.side = "buy",
            order.aggressive = even
        ),
        5..=7 => {
            // The fields past the fourth, as `Span::record` would add them (one callsite).
            let span = tracing::info_span!(
                "perf.request",
                order.id = id,
                order.qty = 100.0,
                order.side = "buy",
                order.aggressive = even,
                venue = tracing::field::Empty,
                account = tracing::field::Empty,
                price = tracing::field::Empty,
            );
            span.record("venue", "XNAS");
            if attrs > 5 {
                span.record("account", 42_i64);
            }
            if attrs > 6 {
                span.record("price", 101.25);
            }
            span
        }
        _ => tracing::info_span!(
            "perf.request",
            order.id = id,
            order.qty = 100.0,
            order.side = "buy",
            order.aggressive = even,
            venue = "XNAS",
            account = 42_i64,
            price = 101.25,
            retry = 0_i64
        ),
    };
    let _entered = span.enter();
}
