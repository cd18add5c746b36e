//! A span's static facts, registered once where the span is written in the source: its name,
//! kind, instrumentation scope and attribute keys, as NanoLog, Tracy and `tracing` keep theirs.
//! A span started from a callsite ([`crate::Producer::span_at`]) stores a pointer to it and
//! only what changes per span (ids, times, values), in a 128-byte [`crate::CompactRecord`].

use super::record::SpanKind;

/// The static facts of one place in the code that starts spans. Make one with the
/// [`crate::callsite!`] macro (a `static` at the call site), or as a `static` of your own.
///
/// # Examples
/// ```
/// use ringspan::{callsite, Discard, Engine, EngineConfig, SpanKind, Value};
/// let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), Discard::default()).unwrap();
/// let p = engine.producer().unwrap();
/// let site = callsite!("match_order", "order.id", "side"; kind = SpanKind::Server);
/// p.span_at(site).set_values(&[Value::i64(7), Value::str("buy")]);
/// ```
#[derive(Debug)]
pub struct Callsite {
    name: &'static str,
    keys: &'static [&'static str],
    kind: SpanKind,
    scope: Option<&'static str>,
}

impl Callsite {
    /// A callsite for spans named `name` whose values go, in order, under `keys` (at most
    /// [`crate::MAX_CALLSITE_KEYS`] of them are stored compactly; see
    /// [`crate::Span::set_values`]). Kind `Internal`; the engine's scope.
    pub const fn new(name: &'static str, keys: &'static [&'static str]) -> Callsite {
        Callsite {
            name,
            keys,
            kind: SpanKind::Internal,
            scope: None,
        }
    }

    /// The same callsite with another span kind.
    pub const fn with_kind(mut self, kind: SpanKind) -> Callsite {
        self.kind = kind;
        self
    }

    /// The same callsite with its own instrumentation scope (otherwise the engine's,
    /// [`crate::EngineConfig::scope`]; a producer's `set_scope` does not apply to callsite
    /// spans, which carry no scope of their own).
    pub const fn with_scope(mut self, scope: &'static str) -> Callsite {
        self.scope = Some(scope);
        self
    }

    /// The span name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The attribute keys, in the order values are given.
    pub fn keys(&self) -> &'static [&'static str] {
        self.keys
    }

    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The callsite's own scope, if it has one.
    pub fn scope(&self) -> Option<&'static str> {
        self.scope
    }
}

/// A `&'static` [`Callsite`] for this place in the code: the name, then the attribute keys,
/// then optionally `; kind = ...` and `; scope = ...`.
///
/// # Examples
/// ```
/// use ringspan::{callsite, SpanKind};
/// let site = callsite!("GET /orders", "http.request.method", "http.response.status_code"; kind = SpanKind::Server);
/// assert_eq!(site.keys().len(), 2);
/// assert_eq!(callsite!("tick").name(), "tick");
/// let lib = callsite!("parse", "bytes"; scope = "my.parser");
/// assert_eq!(lib.scope(), Some("my.parser"));
/// ```
#[macro_export]
macro_rules! callsite {
    ($name:expr $(, $key:expr)* $(,)? $(; kind = $kind:expr)? $(; scope = $scope:expr)?) => {{
        static CALLSITE: $crate::Callsite = $crate::Callsite::new($name, &[$($key),*])
            $(.with_kind($kind))?
            $(.with_scope($scope))?;
        &CALLSITE
    }};
}
