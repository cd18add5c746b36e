//! Travelling spans started from a [`crate::Callsite`] ([`crate::Engine::travel_at`]): the
//! travelling counterpart of [`crate::Producer::span_at`].
//!
//! Such a span holds a compact record (128 bytes, `model/compact.rs`) from the engine's
//! compact travel pool, and ends into the compact ring of the thread that ends it, as a
//! native callsite span does on its own thread: values are set for the callsite's keys in
//! order ([`TravelSpan::set_values`]), kind and an ok status fit too. The first write that
//! does not fit (a keyed attribute, an event, a link, a `tracestate`, an error, a string that
//! is not `'static`, more values than the compact record holds) promotes the span: its
//! compact record is copied into a full record (from the promoting thread's producer's
//! cache, else the full pool), and the compact one goes back (to that cache, else the pool). Nothing written before is lost. A promotion that finds no full record free
//! drops the span there and counts it as `dropped.travel_pool_full`, as a start would. A
//! start that finds no compact record free takes a full one (the span starts promoted).

use super::{local, TravelSpan, NO_SLOT};
use crate::clock::Clock;
use crate::model::compact::CompactRecord;
use crate::model::record::{Loss, SpanRecord};
use crate::model::value::Value;

impl TravelSpan {
    /// Sets values for the keys of the span's [`crate::Callsite`], in order, continuing after the
    /// values already set, as [`crate::Span::set_values`]. Values past the callsite's last
    /// key are dropped and counted in `dropped_attributes_count`; on a span started without
    /// a callsite every value is.
    ///
    /// # Examples
    /// ```
    /// use ringspan::{Callsite, Discard, Engine, EngineConfig, Value};
    /// static FETCH: Callsite = Callsite::new("orders.fetch", &["order.id", "db.rows"]);
    /// let engine = Engine::start(EngineConfig::default().rings(2).ring_capacity(64), Discard::default()).unwrap();
    /// let mut span = engine.travel_at(&FETCH);
    /// span.set_values(&[Value::i64(42), Value::i64(3)]);
    /// std::thread::scope(|s| {
    ///     s.spawn(move || drop(span)); // ends on another thread, into that thread's ring
    /// });
    /// assert_eq!(engine.shutdown(std::time::Duration::from_secs(1)).unwrap().delivered, 1);
    /// ```
    #[inline]
    pub fn set_values(&mut self, values: &[Value<'_>]) -> &mut Self {
        if self.compact != NO_SLOT {
            // SAFETY: this span holds `compact` (taken at start, given back only when it ends,
            // is promoted or is dropped as full, each of which clears `compact`), and
            // `&mut self` makes this the only reference into it.
            let rec = unsafe { self.pool.travel_compact.slot(self.compact) };
            if rec.push_values(values) {
                return self;
            }
            self.promote();
        }
        let keys = self.callsite.map_or(&[][..], |c| c.keys());
        let from = usize::from(self.values).min(keys.len());
        self.values = self.values.saturating_add(values.len().min(255) as u8);
        self.edit(|rec, loss, _| {
            for (&k, &v) in keys[from..].iter().zip(values) {
                rec.push_attr(k, v, loss);
            }
            let extra = values.len().saturating_sub(keys.len() - from);
            rec.count_dropped_attrs(extra as u32);
        });
        self
    }

    /// Runs `compact` on its compact record if it has one and `compact` returns `true`;
    /// otherwise (promoting the span first) `full` on its full record, if it has one.
    #[inline]
    pub(super) fn edit_either(
        &mut self,
        compact: impl FnOnce(&mut CompactRecord) -> bool,
        full: impl FnOnce(&mut SpanRecord, &mut Loss, &Clock),
    ) {
        if self.compact != NO_SLOT {
            // SAFETY: as in `set_values`.
            let rec = unsafe { self.pool.travel_compact.slot(self.compact) };
            if compact(rec) {
                return;
            }
        }
        self.edit(full);
    }

    /// Moves the span from its compact record to a full one (see the module docs).
    #[cold]
    #[inline(never)]
    pub(crate) fn promote(&mut self) {
        let compact = std::mem::replace(&mut self.compact, NO_SLOT);
        debug_assert!(compact != NO_SLOT && self.slot == NO_SLOT);
        // SAFETY: as in `set_values`; the copy is made before the slot goes back below.
        let rec = *unsafe { self.pool.travel_compact.slot(compact) };
        // Traded through this thread's producer if it has one (its caches first, as a start
        // takes its record), else straight with the pools.
        let traded = self.pool.with_arc(|pool| {
            // SAFETY: this span held `compact` until now, and holds no reference into it.
            local::with_cached(pool, |p| unsafe { p.trade_compact_for_full(compact) })
        });
        let slot = traded.unwrap_or_else(|| {
            // SAFETY: as above; not handed to a producer (`with_cached` did not run its
            // closure: no producer cached on this thread, or its list is busy or gone).
            unsafe { self.pool.travel_compact.give_back(compact) };
            self.pool.travel.take()
        });
        let Some(slot) = slot else {
            self.pool.count_travel_full();
            return;
        };
        // SAFETY: just taken, so this span holds it; no other reference into it exists.
        *unsafe { self.pool.travel.slot(slot) } = rec.to_full(self.pool.scope);
        // From here the span counts the values set (the compact record did so far).
        self.values = rec.values_set();
        self.slot = slot;
    }
}
