//! The `log` crate's facade as log records (cargo feature `log`): [`LogBridge`], a
//! [`log::Log`] that writes each `log!` record into the calling thread's producer of the
//! engine (its local one, [`crate::Engine::with_local`]), under the ringspan span current there.
//!
//! As the OpenTelemetry appender for `log` maps a record: its level becomes the severity
//! (`Trace` 1, `Debug` 5, `Info` 9, `Warn` 13, `Error` 17), its formatted message the body
//! (formatted into the record's arena, cut at its 256 bytes and counted), its module path,
//! when it is `'static` (the `log!` macros' is), the `code.namespace` attribute. Key-values
//! (`log`'s `kv` feature) are not read. The message is formatted into a record on the stack
//! before the producer is touched: a `Display` impl may log too.

use std::fmt::Write as _;

use log::{Level, LevelFilter, Log, Metadata, Record};

use super::local;
use super::pool::Pool;
use crate::model::log::{LogRecord, Severity};
use crate::model::record::Loss;
use crate::model::value::Value;
use crate::produce::guard::StackText;
use crate::sync::Arc;

/// A [`log::Log`] that records into an engine. Make it with [`crate::Engine::log_bridge`];
/// install it with [`LogBridge::install`] (or `log::set_boxed_logger` and
/// `log::set_max_level` yourself).
///
/// # Examples
/// ```
/// use ringspan::{Discard, Engine, EngineConfig};
/// let engine = Engine::start(EngineConfig::default().rings(1), Discard::default()).unwrap();
/// let bridge = engine.log_bridge(log::LevelFilter::Info);
/// log::Log::log(&bridge, &log::Record::builder().level(log::Level::Warn).args(format_args!("disk {}% full", 91)).build());
/// let s = engine.shutdown(std::time::Duration::from_secs(1)).unwrap();
/// assert_eq!(s.logs.delivered, 1);
/// ```
pub struct LogBridge {
    pool: Arc<Pool>,
    max: LevelFilter,
}

impl std::fmt::Debug for LogBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBridge").field("max", &self.max).finish()
    }
}

impl LogBridge {
    pub(crate) fn new(pool: Arc<Pool>, max: LevelFilter) -> LogBridge {
        LogBridge { pool, max }
    }

    /// Makes this the `log` crate's logger, and its level the facade's maximum.
    ///
    /// # Errors
    /// Another logger was installed first.
    pub fn install(self) -> Result<(), log::SetLoggerError> {
        let max = self.max;
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max);
        Ok(())
    }
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Trace => Severity::TRACE,
        Level::Debug => Severity::DEBUG,
        Level::Info => Severity::INFO,
        Level::Warn => Severity::WARN,
        Level::Error => Severity::ERROR,
    }
}

impl Log for LogBridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.max
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut rec = LogRecord::EMPTY;
        let mut loss = Loss::default();
        rec.begin(severity(record.level()), "");
        match record.args().as_str() {
            // A message without arguments is a `&'static str`: kept by reference.
            Some(s) => rec.set_body(Value::str(s), &mut loss),
            None => {
                let mut text = StackText::new();
                let _ = text.write_fmt(*record.args());
                if text.was_cut() {
                    loss.truncated = loss.truncated.saturating_add(1);
                }
                rec.set_body(Value::copied(text.as_str()), &mut loss);
            }
        }
        if let Some(module) = record.module_path_static() {
            rec.push_attr("code.namespace", Value::str(module), &mut loss);
        }
        local::with_local(&self.pool, |p| p.emit_built(&rec, loss));
    }

    fn flush(&self) {}
}
