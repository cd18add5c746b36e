//! `tracing` events outside any span, as log records (the logs bridge of the layer).
//!
//! As the OpenTelemetry appender for `tracing` maps them: the level becomes the severity
//! (`TRACE` 1, `DEBUG` 5, `INFO` 9, `WARN` 13, `ERROR` 17, with their names as
//! `severity_text`), the `message` field the body, every other field an attribute under its
//! `&'static str` name, typed values typed (as for span fields, `fields.rs`); an `error` field
//! adds `exception.message` beside itself. The record takes the ids of the ringspan span (or
//! entered context) current on the thread's producer, if any.
//!
//! Fields are read into a record on the stack, away from the producer (a field's `Debug` may
//! run any code, logging included), then copied into the ring by
//! [`crate::Producer`]'s `emit_built`.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level};

use crate::model::log::{LogRecord, Severity};
use crate::model::record::Loss;
use crate::model::value::Value;
use crate::produce::guard::StackText;

/// The severity of a `tracing` level.
pub(super) fn severity(level: &Level) -> Severity {
    match *level {
        Level::TRACE => Severity::TRACE,
        Level::DEBUG => Severity::DEBUG,
        Level::INFO => Severity::INFO,
        Level::WARN => Severity::WARN,
        _ => Severity::ERROR,
    }
}

/// Reads `event` into `rec` (begun by the caller); returns what it lost.
pub(super) fn read(event: &Event<'_>, rec: &mut LogRecord) -> Loss {
    rec.begin(severity(event.metadata().level()), "");
    let mut fields = LogFields {
        rec,
        loss: Loss::default(),
    };
    event.record(&mut fields);
    fields.loss
}

struct LogFields<'r> {
    rec: &'r mut LogRecord,
    loss: Loss,
}

impl LogFields<'_> {
    fn text(&mut self, field: &Field, v: &str) {
        match field.name() {
            "message" => self.rec.set_body(Value::copied(v), &mut self.loss),
            "error" => {
                self.rec
                    .push_attr("exception.message", Value::copied(v), &mut self.loss);
                self.rec
                    .push_attr("error", Value::copied(v), &mut self.loss);
            }
            name => self.rec.push_attr(name, Value::copied(v), &mut self.loss),
        }
    }

    /// Formats `args` into a stack buffer (a cut counted) and records it as text.
    fn formatted(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        let mut text = StackText::new();
        let _ = text.write_fmt(args);
        if text.was_cut() {
            self.loss.truncated = self.loss.truncated.saturating_add(1);
        }
        self.text(field, text.as_str());
    }
}

impl Visit for LogFields<'_> {
    fn record_i64(&mut self, field: &Field, v: i64) {
        self.rec
            .push_attr(field.name(), Value::i64(v), &mut self.loss);
    }

    fn record_u64(&mut self, field: &Field, v: u64) {
        match i64::try_from(v) {
            Ok(v) => self.record_i64(field, v),
            Err(_) => self.formatted(field, format_args!("{v}")),
        }
    }

    fn record_f64(&mut self, field: &Field, v: f64) {
        self.rec
            .push_attr(field.name(), Value::f64(v), &mut self.loss);
    }

    fn record_bool(&mut self, field: &Field, v: bool) {
        self.rec
            .push_attr(field.name(), Value::bool(v), &mut self.loss);
    }

    fn record_str(&mut self, field: &Field, v: &str) {
        self.text(field, v);
    }

    fn record_error(&mut self, field: &Field, e: &(dyn std::error::Error + 'static)) {
        self.formatted(field, format_args!("{e}"));
    }

    fn record_debug(&mut self, field: &Field, v: &dyn fmt::Debug) {
        self.formatted(field, format_args!("{v:?}"));
    }
}
