//! Writing a record's entries (events and links) and `tracestate`s: the producer side of
//! `entry.rs`'s layout, within the limits `record.rs` documents.

#[cfg(doc)]
use crate::model::entry::MAX_LINK_ATTRS;
use crate::model::entry::{Attr, Entry, Event, Link, MAX_EVENT_ATTRS};
use crate::model::ids::SpanContext;
use crate::model::value::{Packed, Value};

use super::{Loss, SpanRecord, ARENA_BYTES, MAX_EVENTS};

impl SpanRecord {
    /// Appends an event with its attributes, or counts it as dropped when the record is full.
    #[inline]
    pub(crate) fn push_event(
        &mut self,
        name: &'static str,
        time: u64,
        attrs: &[(&'static str, Value<'_>)],
        loss: &mut Loss,
    ) {
        let e = usize::from(self.header.n_entries);
        if e == MAX_EVENTS {
            self.header.dropped_events = self.header.dropped_events.saturating_add(1);
            return;
        }
        let kept = attrs.len().min(MAX_EVENT_ATTRS);
        let mut event = Event::new(Packed::from_static(name), time);
        event.n_attrs = kept as u8;
        event.dropped_attrs = (attrs.len() - kept) as u32;
        for (slot, &(k, v)) in event.attrs.iter_mut().zip(attrs) {
            let value = Self::pack(&mut self.arena, &mut self.header.arena_len, v, loss);
            *slot = Attr {
                key: Packed::from_static(k),
                value,
            };
        }
        self.entries[e] = Entry::event(event);
        self.header.n_entries += 1;
    }

    /// Opens an event stamped `time`, with no attributes yet, for a writer that learns its
    /// name and attributes one at a time ([`SpanRecord::set_event_name`],
    /// [`SpanRecord::push_event_attr`]); `None` (counted as a dropped event) when the record
    /// holds [`MAX_EVENTS`] already.
    #[cfg_attr(
        not(any(feature = "tracing", feature = "opentelemetry")),
        allow(dead_code)
    )]
    pub(crate) fn open_event(&mut self, name: &'static str, time: u64) -> Option<usize> {
        let e = usize::from(self.header.n_entries);
        if e == MAX_EVENTS {
            self.header.dropped_events = self.header.dropped_events.saturating_add(1);
            return None;
        }
        self.entries[e] = Entry::event(Event::new(Packed::from_static(name), time));
        self.header.n_entries += 1;
        Some(e)
    }

    /// Renames event `e` (from [`SpanRecord::open_event`]); a string that is not `'static`
    /// is copied into the arena.
    #[cfg_attr(
        not(any(feature = "tracing", feature = "opentelemetry")),
        allow(dead_code)
    )]
    pub(crate) fn set_event_name(&mut self, e: usize, name: Value<'_>, loss: &mut Loss) {
        let name = Self::pack(&mut self.arena, &mut self.header.arena_len, name, loss);
        if let Some(event) = self.entries[e].as_event_mut() {
            event.name = name;
        }
    }

    /// Appends an attribute with a `'static` key to entry `e` (see
    /// [`SpanRecord::push_entry_attr`]).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    #[inline]
    pub(crate) fn push_event_attr(
        &mut self,
        e: usize,
        key: &'static str,
        value: Value<'_>,
        loss: &mut Loss,
    ) {
        self.push_entry_attr(e, Value::str(key), value, loss);
    }

    /// Appends an attribute to entry `e` (an event from [`SpanRecord::open_event`] or a link
    /// from [`SpanRecord::open_link`]), or counts it as dropped once the entry holds
    /// [`MAX_EVENT_ATTRS`] (an event) or [`MAX_LINK_ATTRS`] (a link). A key or value that is
    /// not `'static` is copied into the arena.
    #[cfg_attr(
        not(any(feature = "tracing", feature = "opentelemetry")),
        allow(dead_code)
    )]
    pub(crate) fn push_entry_attr(
        &mut self,
        e: usize,
        key: Value<'_>,
        value: Value<'_>,
        loss: &mut Loss,
    ) {
        let a = self.entries[e].attrs_mut();
        let n = usize::from(*a.n);
        if n == a.cells.len() {
            *a.dropped = a.dropped.saturating_add(1);
            return;
        }
        let key = Self::pack(&mut self.arena, &mut self.header.arena_len, key, loss);
        let value = Self::pack(&mut self.arena, &mut self.header.arena_len, value, loss);
        a.cells[n] = Attr { key, value };
        *a.n += 1;
    }

    /// Counts `n` attributes of entry `e` dropped before they reached it.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn count_dropped_entry_attrs(&mut self, e: usize, n: u32) {
        let a = self.entries[e].attrs_mut();
        *a.dropped = a.dropped.saturating_add(n);
    }

    /// Opens a link to `cx`, with no attributes or `tracestate` yet ([`SpanRecord::push_entry_attr`],
    /// [`SpanRecord::set_link_trace_state`] add them); `None` (counted as a dropped link)
    /// when the record's [`MAX_EVENTS`] entries are taken.
    pub(crate) fn open_link(&mut self, cx: &SpanContext) -> Option<usize> {
        let e = usize::from(self.header.n_entries);
        if e == MAX_EVENTS {
            self.header.dropped_links = self.header.dropped_links.saturating_add(1);
            return None;
        }
        self.entries[e] = Entry::link(Link::new(cx));
        self.header.n_entries += 1;
        self.header.n_links += 1;
        Some(e)
    }

    /// Adds a link to `cx` with its `tracestate` `members` and `attrs` (see
    /// [`SpanRecord::open_link`]).
    pub(crate) fn push_link<'m>(
        &mut self,
        cx: &SpanContext,
        members: impl Iterator<Item = (&'m str, &'m str)>,
        attrs: &[(&'static str, Value<'_>)],
        loss: &mut Loss,
    ) {
        if let Some(e) = self.open_link(cx) {
            self.set_link_trace_state(e, members, loss);
            for &(key, value) in attrs {
                self.push_entry_attr(e, Value::str(key), value, loss);
            }
        }
    }

    /// Copies the `tracestate` `members` (key, value pairs, in order) into the arena as one
    /// header value; members that do not fit are left out whole and counted as one
    /// truncated string. Returns the stored cell.
    fn copy_trace_state<'m>(
        arena: &mut [u8; ARENA_BYTES],
        used: &mut u16,
        members: impl Iterator<Item = (&'m str, &'m str)>,
        loss: &mut Loss,
    ) -> Packed {
        let start = usize::from(*used);
        let mut at = start;
        let mut cut = false;
        for (key, value) in members {
            let sep = usize::from(at > start);
            let need = sep + key.len() + 1 + value.len();
            if need > ARENA_BYTES - at {
                cut = true;
                continue;
            }
            let mut put = |b: &[u8]| {
                arena[at..at + b.len()].copy_from_slice(b);
                at += b.len();
            };
            if sep == 1 {
                put(b",");
            }
            put(key.as_bytes());
            put(b"=");
            put(value.as_bytes());
        }
        if cut {
            loss.truncated += 1;
        }
        *used = at as u16;
        Packed::inline(start, at - start)
    }

    /// Sets the span's `tracestate` from its `members` (see
    /// [`SpanRecord::copy_trace_state`] for what happens when the arena is short).
    pub(crate) fn set_trace_state<'m>(
        &mut self,
        members: impl Iterator<Item = (&'m str, &'m str)>,
        loss: &mut Loss,
    ) {
        let start = self.header.arena_len;
        let cell =
            Self::copy_trace_state(&mut self.arena, &mut self.header.arena_len, members, loss);
        self.header.trace_state_at = start;
        self.header.trace_state_len = cell.str_len() as u16;
    }

    /// Sets link `e`'s `tracestate` from its `members`, as [`SpanRecord::set_trace_state`].
    pub(crate) fn set_link_trace_state<'m>(
        &mut self,
        e: usize,
        members: impl Iterator<Item = (&'m str, &'m str)>,
        loss: &mut Loss,
    ) {
        if self.entries[e].as_link().is_none() {
            return;
        }
        let cell =
            Self::copy_trace_state(&mut self.arena, &mut self.header.arena_len, members, loss);
        if let Some(link) = self.entries[e].as_link_mut() {
            link.trace_state = cell;
        }
    }
}
