//! Log records: written in one call, in place, into the next slot of the lane's log ring.
//!
//! A record takes the trace and span id (and flags) of the producer's innermost open span or
//! entered context, the producer's scope, one clock read, and its body and attributes as
//! given (`'static` strings by reference, others copied into the record's arena). No
//! allocation, no lock, no shared read-modify-write: the log ring has one producer, like the
//! span rings. A full ring drops the record and counts it (`logs.dropped.ring_full`, or
//! `shutdown` once shutdown began), and a producer without a ring or without a log ring counts
//! it too (`no_ring`, `off`).

use super::{Inner, Producer};
use crate::model::ids::TraceFlags;
use crate::model::log::{LogRecord, Severity};
use crate::model::record::Loss;
use crate::model::value::Value;
use crate::stats::bump;

impl Producer {
    /// Records a log record with `severity`, `body` and `attrs`, under the current span if
    /// one is open (its trace and span id go with the record).
    ///
    /// Attributes past [`crate::MAX_LOG_ATTRS`] are dropped and counted in the record's
    /// `dropped_attributes_count`; strings that are not `'static` are copied and, past the
    /// record's [`crate::ARENA_BYTES`], cut and counted (`truncated_strings`).
    ///
    /// # Examples
    /// ```
    /// use ringspan::{Discard, Engine, EngineConfig, Severity, Value};
    /// let engine = Engine::start(EngineConfig::default().rings(1), Discard::default()).unwrap();
    /// let p = engine.producer().unwrap();
    /// let _span = p.span("fill");
    /// p.log(Severity::INFO, "order filled", &[("order.id", Value::from(42)), ("venue", Value::str("XNAS"))]);
    /// # drop(_span);
    /// drop(p);
    /// let s = engine.shutdown(std::time::Duration::from_secs(1)).unwrap();
    /// assert_eq!((s.logs.recorded, s.logs.delivered), (1, 1));
    /// ```
    #[inline]
    pub fn log<'v>(
        &self,
        severity: Severity,
        body: impl Into<Value<'v>>,
        attrs: &[(&'static str, Value<'_>)],
    ) {
        self.emit("", severity, body.into(), attrs);
    }

    /// [`Producer::log`] for an event: a log record with an event name (OTLP's
    /// `event_name`), whose body may be left empty (`Value::str("")`).
    #[inline]
    pub fn log_event<'v>(
        &self,
        event_name: &'static str,
        severity: Severity,
        body: impl Into<Value<'v>>,
        attrs: &[(&'static str, Value<'_>)],
    ) {
        self.emit(event_name, severity, body.into(), attrs);
    }

    /// Publishes a record a bridge built with [`LogRecord::begin`] (outside any borrow of
    /// this producer's state), stamped now with the current span's ids; `loss` is what
    /// building it lost.
    #[cfg_attr(not(any(feature = "tracing", feature = "log")), allow(dead_code))]
    pub(crate) fn emit_built(&self, built: &LogRecord, loss: Loss) {
        self.publish_log(|slot, time, cx, scope| {
            built.copy_stamped_into(slot, time, cx, scope);
            loss
        });
    }

    #[inline(always)]
    pub(crate) fn emit(
        &self,
        event_name: &'static str,
        severity: Severity,
        body: Value<'_>,
        attrs: &[(&'static str, Value<'_>)],
    ) {
        self.publish_log(|slot, time, cx, scope| {
            let mut loss = Loss::default();
            slot.write(
                time, severity, event_name, body, attrs, cx, scope, &mut loss,
            );
            loss
        });
    }

    /// Counts a log record and has `write` fill the log ring's next slot with it (given the
    /// time, the current span's ids and flags, and the scope; returning what it lost), or
    /// counts why it could not: no ring, logs off, a full ring.
    #[inline(always)]
    fn publish_log(
        &self,
        write: impl FnOnce(&mut LogRecord, u64, ([u64; 2], u64, TraceFlags), &'static str) -> Loss,
    ) {
        self.with(|inner, pool| {
            let cx = inner.log_context();
            let Some(claim) = &mut inner.claim else {
                return pool.count_log_no_ring();
            };
            let counters = &claim.lane.counters;
            bump(&counters.logs_recorded, 1);
            let Some(ring) = &mut claim.logs else {
                return bump(&counters.logs_dropped_off, 1);
            };
            let (time, scope) = (inner.clock.now(), inner.scope);
            let mut loss = Loss::default();
            if ring
                .push_with(|slot| loss = write(slot, time, cx, scope))
                .is_err()
            {
                count_log_full(pool.is_shutting_down(), counters);
            } else if loss.truncated > 0 {
                bump(&counters.truncated_strings, u64::from(loss.truncated));
            }
        });
    }
}

impl Inner {
    /// The ids and flags a log record takes: the innermost open span's (or entered
    /// context's), drawing its ids if it had none yet (an unsampled span), or zeros.
    #[inline(always)]
    fn log_context(&mut self) -> ([u64; 2], u64, TraceFlags) {
        match self.stack.current() {
            Some(d) => (
                self.stack.trace_of(d),
                self.stack.span_of(d),
                TraceFlags(self.stack[d].flags),
            ),
            None => ([0; 2], 0, TraceFlags(0)),
        }
    }
}

/// Counts a log record that found its ring full: `ring_full`, or `shutdown` once shutdown
/// began (as for spans).
#[cold]
fn count_log_full(shutting_down: bool, counters: &crate::stats::LaneCounters) {
    if shutting_down {
        bump(&counters.logs_dropped_shutdown, 1);
    } else {
        bump(&counters.logs_dropped_ring_full, 1);
    }
}
