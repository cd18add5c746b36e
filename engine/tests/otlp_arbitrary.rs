//! Arbitrary spans (names, kinds, typed attributes under repeated keys, events, statuses,
//! scopes) round-trip through the encoder: the request decodes with `opentelemetry-proto` to
//! what the rig built independently, byte for byte as prost encodes it.

use opentelemetry_proto::tonic::trace::v1::Span as PbSpan;
use proptest::prelude::*;
use ringspan::otlp::OtlpConfig;
use ringspan::{Parent, SpanContext, SpanId, SpanKind, TraceFlags, TraceId, Value};

mod common;
use common::otlp::{one_request, setup, T};

#[derive(Debug, Clone)]
enum V {
    I(i64),
    F(f64),
    B(bool),
    S(&'static str),
    D(String),
}

impl V {
    fn value(&self) -> Value<'_> {
        match self {
            V::I(i) => Value::i64(*i),
            V::F(f) => Value::f64(*f),
            V::B(b) => Value::bool(*b),
            V::S(s) => Value::str(s),
            V::D(s) => Value::copied(s),
        }
    }
}

const KEYS: [&str; 5] = ["k0", "k1", "key.two", "ключ", ""];
const STATICS: [&str; 3] = ["", "static", "ünïcødé ✓"];
const SCOPES: [&str; 3] = ["ringspan", "lib.a", "lib.b"];

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<i64>().prop_map(V::I),
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(V::F),
        any::<bool>().prop_map(V::B),
        (0..STATICS.len()).prop_map(|i| V::S(STATICS[i])),
        "\\PC{0,40}".prop_map(V::D),
        "[a-z]{200,300}".prop_map(V::D), // forces truncation
    ]
}

#[derive(Debug, Clone)]
struct Desc {
    name: String,
    scope: usize,
    kind: u8,
    parent: u8, // 0 current, 1 root, 2 remote
    attrs: Vec<(usize, V)>,
    events: Vec<Vec<(usize, V)>>,
    status: u8,
    nested: bool,
}

fn desc() -> impl Strategy<Value = Desc> {
    let attrs = || proptest::collection::vec((0..KEYS.len(), value()), 0..12);
    (
        "\\PC{0,30}",
        0..SCOPES.len(),
        0u8..6,
        0u8..3,
        attrs(),
        proptest::collection::vec(
            proptest::collection::vec((0..KEYS.len(), value()), 0..5),
            0..4,
        ),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(
            |(name, scope, kind, parent, attrs, events, status, nested)| Desc {
                name,
                scope,
                kind,
                parent,
                attrs,
                events,
                status,
                nested,
            },
        )
}

fn record(p: &ringspan::Producer, d: &Desc) {
    p.set_scope(SCOPES[d.scope]);
    let parent = match d.parent {
        0 => Parent::Current,
        1 => Parent::Root,
        _ => Parent::Context(SpanContext {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([9; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        }),
    };
    let mut span = p.start(Value::copied(&d.name), parent);
    let kinds = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    span.set_kind(kinds[usize::from(d.kind)]);
    let attrs: Vec<_> = d.attrs.iter().map(|(k, v)| (KEYS[*k], v.value())).collect();
    span.set_attrs(&attrs);
    for e in &d.events {
        let attrs: Vec<_> = e.iter().map(|(k, v)| (KEYS[*k], v.value())).collect();
        span.add_event("event", &attrs);
    }
    match d.status {
        1 => {
            span.set_ok();
        }
        2 => {
            span.set_error(Value::copied("failed: ✗"));
        }
        _ => {}
    }
    if d.nested {
        drop(p.span("nested-child"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_spans_round_trip(descs in proptest::collection::vec(desc(), 1..20)) {
        let s = setup(OtlpConfig::default());
        let p = s.engine.producer().unwrap();
        for d in &descs {
            record(&p, d);
        }
        let decoded = one_request(&s);
        // Against the descriptions themselves, not the records: spans of one scope keep their
        // order, names are the originals or prefixes of them where the record's string budget
        // ran out, and attribute counts add up.
        for ss in &decoded.resource_spans[0].scope_spans {
            let scope = ss.scope.as_ref().unwrap().name.as_str();
            let spans: Vec<&PbSpan> = ss.spans.iter().filter(|sp| sp.name != "nested-child").collect();
            let wanted: Vec<&Desc> = descs.iter().filter(|d| SCOPES[d.scope] == scope).collect();
            prop_assert_eq!(spans.len(), wanted.len(), "scope {:?}", scope);
            for (sp, d) in spans.iter().zip(wanted) {
                prop_assert!(d.name.starts_with(sp.name.as_str()), "{:?} vs {:?}", sp.name, d.name);
                // Past the limit, a key already stored takes the new value; others are dropped.
                let kept = d.attrs.len().min(ringspan::MAX_ATTRS);
                let distinct: std::collections::HashSet<_> = d.attrs[..kept].iter().map(|(k, _)| k).collect();
                let dropped = d.attrs[kept..].iter().filter(|(k, _)| !distinct.contains(k)).count();
                prop_assert_eq!(sp.dropped_attributes_count as usize, dropped);
                prop_assert_eq!(sp.attributes.len(), distinct.len());
                prop_assert_eq!(sp.events.len(), d.events.len().min(ringspan::MAX_EVENTS));
                prop_assert_eq!(sp.kind, i32::from(d.kind));
                if d.parent == 2 {
                    prop_assert_eq!(&sp.parent_span_id, &vec![9u8; 8]);
                    prop_assert_eq!(sp.flags & 0x300, 0x300);
                } else {
                    prop_assert_eq!(sp.flags & 0x300, 0x100);
                }
            }
        }
        drop(p);
        let snap = s.engine.shutdown(T).unwrap();
        prop_assert!(snap.is_balanced());
    }
}
