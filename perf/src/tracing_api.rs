//! `--api tracing`: the harness's span written as a `tracing` user writes it (`info_span!`
//! with the first `--attrs` fields of `workload::KEYS`, the same values as the native span,
//! entered and closed), recorded through the Registry and ringspan's `TracingLayer`.

/// One span with the first `attrs` fields (each field count is its own callsite, as each
/// `info_span!` in a service is).
#[inline(always)]
pub fn record_span(n: u64, attrs: usize) {
    let id = n as i64;
    let even = n % 2 == 0;
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
        5 => tracing::info_span!(
            "perf.request",
            order.id = id,
            order.qty = 100.0,
            order.side = "buy",
            order.aggressive = even,
            venue = "XNAS"
        ),
        6 => tracing::info_span!(
            "perf.request",
            order.id = id,
            order.qty = 100.0,
            order.side = "buy",
            order.aggressive = even,
            venue = "XNAS",
            account = 42_i64
        ),
        7 => tracing::info_span!(
            "perf.request",
            order.id = id,
            order.qty = 100.0,
            order.side = "buy",
            order.aggressive = even,
            venue = "XNAS",
            account = 42_i64,
            price = 101.25
        ),
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
