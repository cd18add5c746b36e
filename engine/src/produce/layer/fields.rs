//! How `tracing` fields land in a record, as tracing-opentelemetry maps them:
//!
//! - Span fields become attributes under their `&'static str` field names. Typed values stay
//!   typed: `i64`, `f64`, `bool`; a `u64` that fits in `i64` (OTLP has no unsigned integer)
//!   as `i64`, else as its decimal text; strings are copied into the record's arena. Other
//!   values (`?x`, `%x`, `i128`) are formatted into a stack buffer and copied; what does not
//!   fit the arena is cut at a character boundary and counted (`truncated`).
//! - `otel.name` renames the span, `otel.kind` sets its kind (`server`, `client`,
//!   `producer`, `consumer`, `internal`, any case), `otel.status_code` its status (`ok`,
//!   `error`), `otel.status_description` an error status with that description.
//! - An error value (`tracing`'s `record_error`) adds `exception.message` (its `Display`)
//!   beside the field itself. Its source chain is not kept (OTLP would need an array value,
//!   which records do not hold).
//! - An event is named by its `message` field (else by its callsite's name), carries the
//!   `level` and then its fields (past [`crate::MAX_EVENT_ATTRS`] they are counted as
//!   dropped); an event's `error` field names it `exception`, becomes its
//!   `exception.message`, and sets the span's error status with that text; an `ERROR`-level
//!   event sets an error status if none was set.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use crate::model::record::{Loss, SpanKind, SpanRecord};
use crate::model::value::Value;
use crate::produce::guard::StackText;

/// Formats `args` into a stack buffer, counting a cut in `loss`, and hands `f` the text.
fn with_text<R>(
    args: fmt::Arguments<'_>,
    loss: &mut Loss,
    f: impl FnOnce(&str, &mut Loss) -> R,
) -> R {
    let mut text = StackText::new();
    let _ = text.write_fmt(args);
    if text.was_cut() {
        loss.truncated = loss.truncated.saturating_add(1);
    }
    f(text.as_str(), loss)
}

fn span_kind(s: &str) -> Option<SpanKind> {
    let s = s.trim_matches('"');
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find(|(name, _)| s.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

/// Writes a span's fields (at its start, or from `Span::record`) into its record.
pub(super) struct SpanFields<'r> {
    pub(super) rec: &'r mut SpanRecord,
    pub(super) loss: &'r mut Loss,
}

impl SpanFields<'_> {
    /// A string-valued field: one of the `otel.*` fields, or an attribute.
    fn text(&mut self, field: &Field, v: &str) {
        let name = field.name();
        if !name.starts_with("otel.") {
            self.rec.push_attr(name, Value::copied(v), self.loss);
            return;
        }
        match name {
            "otel.name" => self.rec.set_name(Value::copied(v), self.loss),
            "otel.kind" => {
                if let Some(kind) = span_kind(v) {
                    self.rec.set_kind(kind);
                }
            }
            "otel.status_code" => {
                let v = v.trim_matches('"');
                if v.eq_ignore_ascii_case("ok") {
                    self.rec.set_status(true, Value::str(""), self.loss);
                } else if v.eq_ignore_ascii_case("error") {
                    self.rec.set_status(false, Value::str(""), self.loss);
                }
            }
            "otel.status_description" => self.rec.set_status(false, Value::copied(v), self.loss),
            name => self.rec.push_attr(name, Value::copied(v), self.loss),
        }
    }
}

impl Visit for SpanFields<'_> {
    fn record_i64(&mut self, field: &Field, v: i64) {
        self.rec.push_attr(field.name(), Value::i64(v), self.loss);
    }

    fn record_u64(&mut self, field: &Field, v: u64) {
        match i64::try_from(v) {
            Ok(v) => self.record_i64(field, v),
            Err(_) => with_text(format_args!("{v}"), self.loss, |t, loss| {
                self.rec.push_attr(field.name(), Value::copied(t), loss)
            }),
        }
    }

    fn record_f64(&mut self, field: &Field, v: f64) {
        self.rec.push_attr(field.name(), Value::f64(v), self.loss);
    }

    fn record_bool(&mut self, field: &Field, v: bool) {
        self.rec.push_attr(field.name(), Value::bool(v), self.loss);
    }

    fn record_str(&mut self, field: &Field, v: &str) {
        self.text(field, v);
    }

    fn record_error(&mut self, field: &Field, e: &(dyn std::error::Error + 'static)) {
        let mut loss = *self.loss;
        with_text(format_args!("{e}"), &mut loss, |t, loss| {
            self.rec.push_attrs(
                &[
                    ("exception.message", Value::copied(t)),
                    (field.name(), Value::copied(t)),
                ],
                loss,
            );
        });
        *self.loss = loss;
    }

    fn record_debug(&mut self, field: &Field, v: &dyn fmt::Debug) {
        let mut loss = *self.loss;
        with_text(format_args!("{v:?}"), &mut loss, |t, loss| {
            let mut inner = SpanFields {
                rec: self.rec,
                loss,
            };
            inner.text(field, t);
        });
        *self.loss = loss;
    }
}

/// Writes an event's fields into the event it opened in its span's record.
pub(super) struct EventFields<'r> {
    pub(super) rec: &'r mut SpanRecord,
    pub(super) loss: &'r mut Loss,
    /// The event's index in the record.
    pub(super) event: usize,
    /// Whether `message` or `error` named it already.
    pub(super) named: bool,
}

impl EventFields<'_> {
    fn text(&mut self, field: &Field, v: &str) {
        match field.name() {
            "message" => {
                self.rec
                    .set_event_name(self.event, Value::copied(v), self.loss);
                self.named = true;
            }
            "error" if !self.named => {
                self.rec
                    .set_event_name(self.event, Value::str("exception"), self.loss);
                self.named = true;
                self.rec.push_event_attr(
                    self.event,
                    "exception.message",
                    Value::copied(v),
                    self.loss,
                );
                self.rec.set_status(false, Value::copied(v), self.loss);
            }
            name => self.attr(name, Value::copied(v)),
        }
    }

    fn attr(&mut self, key: &'static str, v: Value<'_>) {
        self.rec.push_event_attr(self.event, key, v, self.loss);
    }
}

impl Visit for EventFields<'_> {
    fn record_i64(&mut self, field: &Field, v: i64) {
        self.attr(field.name(), Value::i64(v));
    }

    fn record_u64(&mut self, field: &Field, v: u64) {
        match i64::try_from(v) {
            Ok(v) => self.record_i64(field, v),
            Err(_) => {
                let mut loss = *self.loss;
                with_text(format_args!("{v}"), &mut loss, |t, loss| {
                    self.rec
                        .push_event_attr(self.event, field.name(), Value::copied(t), loss)
                });
                *self.loss = loss;
            }
        }
    }

    fn record_f64(&mut self, field: &Field, v: f64) {
        self.attr(field.name(), Value::f64(v));
    }

    fn record_bool(&mut self, field: &Field, v: bool) {
        self.attr(field.name(), Value::bool(v));
    }

    fn record_str(&mut self, field: &Field, v: &str) {
        self.text(field, v);
    }

    fn record_error(&mut self, field: &Field, e: &(dyn std::error::Error + 'static)) {
        let mut loss = *self.loss;
        with_text(format_args!("{e}"), &mut loss, |t, loss| {
            self.rec
                .push_event_attr(self.event, "exception.message", Value::copied(t), loss);
            self.rec
                .push_event_attr(self.event, field.name(), Value::copied(t), loss);
        });
        *self.loss = loss;
    }

    fn record_debug(&mut self, field: &Field, v: &dyn fmt::Debug) {
        let mut loss = *self.loss;
        with_text(format_args!("{v:?}"), &mut loss, |t, loss| {
            let mut inner = EventFields {
                rec: self.rec,
                loss,
                event: self.event,
                named: self.named,
            };
            inner.text(field, t);
            self.named = inner.named;
        });
        *self.loss = loss;
    }
}
