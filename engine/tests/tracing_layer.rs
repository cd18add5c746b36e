//! The `tracing` front end (`TracingLayer`): fields land typed, `otel.*` fields and errors are
//! honoured, events become span events, parents come from `tracing` and from ringspan's own
//! spans alike, filtered spans record nothing, a full table is counted, and ten thousand
//! instrumented tasks on a multi-thread runtime each arrive once with the right parent.
#![cfg(feature = "tracing")]

mod common;

use std::time::Duration;

use common::{by_id, Collect, Owned, Val};
use ringspan::{
    Engine, EngineConfig, IdleStrategy, Sampler, SpanKind, TracingLayer, TracingSpanExt,
};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

fn engine(config: EngineConfig) -> (Engine, Collect) {
    let sink = Collect::default();
    let config = config.idle(IdleStrategy::Park(Duration::from_micros(200)));
    (Engine::start(config, sink.clone()).unwrap(), sink)
}

fn small() -> (Engine, Collect) {
    engine(EngineConfig::default().rings(4).ring_capacity(1024))
}

/// An engine whose roots are unsampled (and whose children follow their parent).
fn unsampled_roots() -> (Engine, Collect) {
    engine(
        EngineConfig::default()
            .rings(2)
            .ring_capacity(1024)
            .sampler(Sampler::parent_based(Sampler::always_off())),
    )
}

/// The Registry with the engine's layer.
fn layered(engine: &Engine) -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(engine.tracing_layer()))
}

/// A sampled caller's context, as a `traceparent` header brings it.
fn sampled_remote() -> ringspan::SpanContext {
    ringspan::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap()
}

fn finish(engine: Engine, sink: &Collect) -> Vec<Owned> {
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    sink.take()
}

fn named<'a>(spans: &'a [Owned], name: &str) -> &'a Owned {
    let mut found = spans.iter().filter(|s| s.name == name);
    let span = found
        .next()
        .unwrap_or_else(|| panic!("no span {name}: {spans:?}"));
    assert!(found.next().is_none(), "two spans named {name}");
    span
}

fn attr<'a>(span: &'a Owned, key: &str) -> &'a Val {
    &span
        .attrs
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no attribute {key}: {span:?}"))
        .1
}

#[derive(Debug)]
struct Order {
    #[allow(dead_code)]
    id: u32,
}

#[derive(Debug)]
struct Rejected;

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("venue rejected the order")
    }
}

impl std::error::Error for Rejected {}

#[test]
fn fields_stay_typed_and_otel_fields_set_name_kind_and_status() {
    let (engine, sink) = small();
    let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
    let venue = String::from("XNAS");
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "order.route",
            order.id = 7_i64,
            big = u64::MAX,
            venue = venue.as_str(),
            order = ?Order { id: 3 },
            otel.name = %format_args!("route {venue}"),
            otel.kind = "server",
            late = tracing::field::Empty,
            failure = tracing::field::Empty,
        );
        span.record("late", 11_i64);
        span.record("failure", &Rejected as &(dyn std::error::Error + 'static));
        let _failed = tracing::info_span!(
            "order.check",
            qty = 1.5,
            aggressive = true,
            otel.status_code = "ERROR"
        )
        .entered();
    });
    let spans = finish(engine, &sink);
    let route = named(&spans, "route XNAS");
    assert_eq!(route.kind, SpanKind::Server);
    assert_eq!(attr(route, "order.id"), &Val::I(7));
    assert_eq!(attr(route, "big"), &Val::S(u64::MAX.to_string()));
    assert_eq!(attr(route, "venue"), &Val::S("XNAS".into()));
    assert_eq!(attr(route, "order"), &Val::S("Order { id: 3 }".into()));
    assert_eq!(attr(route, "late"), &Val::I(11));
    assert_eq!(
        attr(route, "failure"),
        &Val::S("venue rejected the order".into())
    );
    assert_eq!(
        attr(route, "exception.message"),
        &Val::S("venue rejected the order".into())
    );
    assert!(
        route.attrs.iter().all(|(k, _)| !k.starts_with("otel.")),
        "{route:?}"
    );
    let check = named(&spans, "order.check");
    assert!(check.status.starts_with("Error"), "{check:?}");
    assert_eq!(attr(check, "qty"), &Val::F(1.5));
    assert_eq!(attr(check, "aggressive"), &Val::B(true));
    assert_eq!(route.dropped_attrs, 0);
    assert_eq!(check.parent, None);
}

#[test]
fn a_debug_value_longer_than_the_arena_is_cut_and_counted() {
    let (engine, sink) = small();
    let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
    let long = "x".repeat(ringspan::ARENA_BYTES * 2);
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("long", text = ?long).entered();
    });
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.truncated_strings >= 1, "{report:?}");
    let spans = sink.take();
    let Val::S(text) = attr(named(&spans, "long"), "text") else {
        panic!("not a string")
    };
    assert!(
        text.len() < long.len() && text.starts_with("\"xxx"),
        "{text}"
    );
}

#[test]
fn events_in_a_span_become_its_events_and_errors_set_its_status() {
    let (engine, sink) = small();
    let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span: not recorded");
        let routed = tracing::info_span!("routed");
        routed.in_scope(|| tracing::info!(qty = 100_i64, venue = "XNAS", "order {} routed", 7));
        let failed = tracing::info_span!("failed");
        failed.in_scope(|| tracing::warn!(error = %Rejected));
        let logged = tracing::info_span!("logged");
        logged.in_scope(|| tracing::error!("gave up"));
        // An explicit parent, from outside the span.
        tracing::info!(parent: &routed, extra = true);
    });
    let spans = finish(engine, &sink);
    assert_eq!(spans.len(), 3, "{spans:?}");
    let routed = named(&spans, "routed");
    assert!(routed.status.starts_with("Unset"), "{routed:?}");
    let (name, attrs) = &routed.events[0];
    assert_eq!(name, "order 7 routed");
    assert_eq!(
        attrs,
        &[
            ("level".to_string(), Val::S("INFO".into())),
            ("qty".to_string(), Val::I(100)),
            ("venue".to_string(), Val::S("XNAS".into())),
        ]
    );
    assert_eq!(routed.events[1].1[1], ("extra".to_string(), Val::B(true)));
    let failed = named(&spans, "failed");
    assert_eq!(failed.events[0].0, "exception");
    assert!(failed.events[0].1.contains(&(
        "exception.message".into(),
        Val::S("venue rejected the order".into())
    )));
    assert_eq!(failed.status, "Error(\"venue rejected the order\")");
    let logged = named(&spans, "logged");
    assert_eq!(logged.events[0].0, "gave up");
    assert!(logged.status.starts_with("Error"), "{logged:?}");
}

#[test]
fn follows_from_becomes_a_link_and_links_past_the_record_are_counted() {
    let (engine, sink) = small();
    tracing::dispatcher::with_default(&layered(&engine), || {
        let first = tracing::info_span!("enqueue.first");
        let second = tracing::info_span!("enqueue.second");
        let third = tracing::info_span!("enqueue.third");
        let batch = tracing::info_span!(parent: None, "dequeue.batch");
        batch.follows_from(&first);
        batch.follows_from(&second);
        batch.follows_from(&third); // the record's entries are taken
    });
    let spans = finish(engine, &sink);
    let batch = named(&spans, "dequeue.batch");
    let link = |name: &str| {
        let s = named(&spans, name);
        (s.trace_id, s.span_id)
    };
    assert_eq!(batch.links, [link("enqueue.first"), link("enqueue.second")]);
    assert_eq!(batch.dropped_links, 1);
    assert_ne!(batch.trace_id, named(&spans, "enqueue.first").trace_id);
}

#[test]
fn parents_come_from_tracing_and_from_ringspan_spans_alike() {
    let (engine, sink) = small();
    let subscriber = tracing_subscriber::registry().with(engine.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        let _in_outer = outer.enter();
        // A native span inside a tracing span, and a tracing span inside that one.
        engine.with_local(|p| {
            let _native = p.span("native");
            let _inner = tracing::info_span!("inside.native").entered();
        });
        // A travelling span's context entered: the tracing span is its child.
        let travel = engine.travel("travel");
        travel.enter(|| drop(tracing::info_span!("inside.travel")));
        drop(travel);
        // An explicit parent wins over the current span, and `parent: None` is a root.
        let other = tracing::info_span!(parent: None, "other.root");
        let _explicit = tracing::info_span!(parent: &other, "explicit");
        let _root = tracing::info_span!(parent: None, "explicit.root");
    });
    let spans = finish(engine, &sink);
    assert_eq!(spans.len(), 8, "{spans:?}");
    let id = |name: &str| Some(named(&spans, name).span_id);
    let outer = named(&spans, "outer");
    assert_eq!(named(&spans, "native").parent, id("outer"));
    assert_eq!(named(&spans, "inside.native").parent, id("native"));
    assert_eq!(named(&spans, "travel").parent, id("outer"));
    assert_eq!(named(&spans, "inside.travel").parent, id("travel"));
    for name in ["native", "inside.native", "travel", "inside.travel"] {
        assert_eq!(named(&spans, name).trace_id, outer.trace_id, "{name}");
    }
    assert_eq!(named(&spans, "explicit").parent, id("other.root"));
    assert_eq!(named(&spans, "other.root").parent, None);
    assert_eq!(named(&spans, "explicit.root").parent, None);
    assert_ne!(named(&spans, "explicit.root").trace_id, outer.trace_id);
}

#[test]
fn spans_filtered_out_by_env_filter_record_nothing() {
    for per_layer in [false, true] {
        let (engine, sink) = small();
        let layer = engine.tracing_layer();
        let filter = EnvFilter::new("warn,kept=info");
        let dispatch = if per_layer {
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer.with_filter(filter)))
        } else {
            tracing::Dispatch::new(tracing_subscriber::registry().with(filter).with(layer))
        };
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..100_i64 {
                let _filtered = tracing::info_span!("filtered", i).entered();
                tracing::info!("filtered event");
                let _kept = tracing::info_span!(target: "kept", "kept", i).entered();
                let _debug = tracing::debug_span!(target: "kept", "kept.debug").entered();
            }
            let layer = dispatch.downcast_ref::<TracingLayer>();
            if let Some(layer) = layer {
                assert_eq!(layer.open_spans(), 0);
            }
        });
        let report = engine.shutdown(Duration::from_secs(5)).unwrap();
        assert!(report.is_balanced(), "{report:?}");
        assert_eq!(report.recorded, 100, "per layer: {per_layer}");
        let spans = sink.take();
        assert!(spans.iter().all(|s| s.name == "kept" && s.parent.is_none()));
    }
}

#[test]
fn sampling_is_decided_at_the_root_and_children_keep_its_trace() {
    let (engine, sink) = unsampled_roots();
    let dispatch = layered(&engine);
    tracing::dispatcher::with_default(&dispatch, || {
        let layer = dispatch.downcast_ref::<TracingLayer>().expect("the layer");
        let root = tracing::info_span!("unsampled.root", n = 1_i64);
        let child = tracing::info_span!(parent: &root, "unsampled.child");
        let (root_cx, child_cx) = (
            layer.context(&root.id().unwrap()).unwrap(),
            layer.context(&child.id().unwrap()).unwrap(),
        );
        assert!(!root_cx.flags.is_sampled() && !child_cx.flags.is_sampled());
        assert_eq!(child_cx.trace_id, root_cx.trace_id);
        assert_ne!(child_cx.span_id, root_cx.span_id);
        assert_eq!(layer.open_spans(), 2);
    });
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(report.recorded, 0, "{report:?}");
    assert!(sink.take().is_empty());
}

#[test]
fn spans_past_the_table_are_counted_and_the_rest_arrive() {
    let (engine, sink) = small();
    let layer = engine.tracing_layer_with_capacity(1);
    let capacity = ringspan::MAX_PROBE;
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // More spans open at once than the table holds.
        let open: Vec<_> = (0..3 * capacity as i64)
            .map(|i| tracing::info_span!(parent: None, "open", i))
            .collect();
        drop(open);
    });
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.recorded, 3 * capacity as u64);
    assert!(
        report.dropped.travel_pool_full >= 2 * capacity as u64,
        "{report:?}"
    );
    assert_eq!(
        sink.take().len() as u64,
        report.recorded - report.dropped.travel_pool_full
    );
}

/// Ten thousand tasks on a four-worker runtime, each an instrumented `tracing` span around a
/// future that awaits (so may move between workers), with an instrumented child across
/// another await and a grandchild entered inside it.
#[test]
fn ten_thousand_instrumented_tasks_each_span_once_with_the_right_parent() {
    const TASKS: usize = 10_000;
    let (engine, sink) = engine(
        EngineConfig::default()
            .rings(6)
            .ring_capacity(1 << 14)
            .compact_capacity(1024)
            .travel_spans(4 * TASKS),
    );
    let dispatch = layered(&engine);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    for wave in 0..10 {
        // The roots start on this thread, under the layer; the tasks carry it to the workers.
        let _default = tracing::dispatcher::set_default(&dispatch);
        runtime.block_on(async {
            let tasks: Vec<_> = (0..TASKS / 10)
                .map(|t| {
                    let task = (wave * TASKS / 10 + t) as i64;
                    let work = async move {
                        tokio::task::yield_now().await;
                        async {
                            tokio::time::sleep(Duration::from_micros(50)).await;
                            let _leaf = tracing::info_span!("leaf", task).entered();
                        }
                        .instrument(tracing::info_span!("step", task))
                        .await;
                        tokio::task::yield_now().await;
                    };
                    tokio::spawn(
                        work.instrument(tracing::info_span!(parent: None, "task", task))
                            .with_subscriber(dispatch.clone()),
                    )
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        engine.flush(Duration::from_secs(10)).unwrap();
    }
    drop(runtime);
    let spans = finish(engine, &sink);
    assert_eq!(spans.len(), 3 * TASKS);
    let ids = by_id(&spans);
    let mut seen = vec![0u8; TASKS];
    for leaf in spans.iter().filter(|s| s.name == "leaf") {
        let task = match attr(leaf, "task") {
            Val::I(t) => *t as usize,
            v => panic!("{v:?}"),
        };
        let step = ids[&leaf.parent.expect("a leaf has a parent")];
        let root = ids[&step.parent.expect("a step has a parent")];
        assert_eq!((step.name.as_str(), root.name.as_str()), ("step", "task"));
        assert_eq!(attr(step, "task"), &Val::I(task as i64));
        assert_eq!(attr(root, "task"), &Val::I(task as i64));
        assert_eq!(root.parent, None);
        assert!(leaf.trace_id == step.trace_id && step.trace_id == root.trace_id);
        assert!(root.start_unix_ns <= step.start_unix_ns && step.end_unix_ns <= root.end_unix_ns);
        assert!(step.end_unix_ns - step.start_unix_ns >= 50_000, "{step:?}");
        seen[task] += 1;
    }
    assert!(seen.iter().all(|&n| n == 1));
}

#[test]
fn a_remote_parent_set_on_a_span_gives_it_and_its_children_that_trace() {
    let (engine, sink) = small();
    let dispatch = layered(&engine);
    let sampled = sampled_remote();
    let unsampled =
        ringspan::parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
            .unwrap();
    let outgoing = tracing::dispatcher::with_default(&dispatch, || {
        let request = tracing::info_span!("request", otel.kind = "server");
        assert!(request.set_parent(sampled));
        let cx = request.span_context().unwrap();
        let _child = tracing::info_span!(parent: &request, "child");
        let dropped = tracing::info_span!("not.sampled.upstream", n = 1_i64);
        assert!(dropped.set_parent(unsampled));
        assert!(!dropped.span_context().unwrap().flags.is_sampled());
        // Not recorded by the layer: nothing to set.
        let other = tracing::Span::none();
        assert!(!other.set_parent(sampled) && other.span_context().is_none());
        cx
    });
    assert_eq!(outgoing.trace_id, sampled.trace_id);
    assert!(outgoing.flags.is_sampled());
    let spans = finish(engine, &sink);
    assert_eq!(
        spans.len(),
        2,
        "the span under an unsampled parent is not recorded: {spans:?}"
    );
    let request = named(&spans, "request");
    assert_eq!(request.trace_id, sampled.trace_id);
    assert_eq!(request.parent, Some(sampled.span_id));
    assert!(request.parent_remote);
    assert_eq!(request.kind, SpanKind::Server);
    assert_eq!(request.span_id, outgoing.span_id);
    let child = named(&spans, "child");
    assert_eq!(
        (child.trace_id, child.parent),
        (sampled.trace_id, Some(request.span_id))
    );
}

#[test]
fn a_sampled_remote_parent_makes_an_unsampled_root_recorded() {
    let (engine, sink) = unsampled_roots();
    let dispatch = layered(&engine);
    let sampled = sampled_remote();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("late.sampled");
        assert!(!span.span_context().unwrap().flags.is_sampled());
        assert!(span.set_parent(sampled));
        span.record("n", 1_i64);
        span.in_scope(|| tracing::info!("inside"));
    });
    let spans = finish(engine, &sink);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id, sampled.trace_id);
    assert_eq!(spans[0].events.len(), 1);
}

#[test]
fn a_span_dropped_for_a_full_pool_is_counted_once_whatever_set_parent_does_after() {
    let (engine, sink) = engine(
        EngineConfig::default()
            .rings(2)
            .ring_capacity(64)
            .travel_spans(1),
    );
    let dispatch = layered(&engine);
    let sampled = sampled_remote();
    tracing::dispatcher::with_default(&dispatch, || {
        let holder = tracing::info_span!("holds.the.only.record");
        let starved = tracing::info_span!(parent: None, "starved");
        drop(holder);
        // A record is free again now: the starved span, counted already, must not take it.
        assert!(starved.set_parent(sampled));
        assert!(starved.set_parent(sampled));
    });
    let report = engine.shutdown(Duration::from_secs(5)).unwrap();
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.dropped.travel_pool_full, 1, "{report:?}");
    assert_eq!(report.recorded, 2, "{report:?}");
    assert_eq!(sink.take().len(), 1);
}

#[test]
fn set_parent_on_an_entered_span_moves_what_starts_inside_to_the_new_trace() {
    let (engine, sink) = small();
    let dispatch = layered(&engine);
    let remote = sampled_remote();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("handler");
        let _entered = span.enter();
        assert!(span.set_parent(remote));
        let _child = tracing::info_span!("inside").entered();
        engine.with_local(|p| drop(p.span("native.inside")));
    });
    let spans = finish(engine, &sink);
    for name in ["handler", "inside", "native.inside"] {
        assert_eq!(named(&spans, name).trace_id, remote.trace_id, "{name}");
    }
    assert_eq!(
        named(&spans, "inside").parent,
        Some(named(&spans, "handler").span_id)
    );
}
