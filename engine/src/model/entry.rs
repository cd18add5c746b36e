//! What a span record holds beside its header: attributes, and the entries its events and
//! links share.
//!
//! # Layout of an entry
//! 128 bytes, one of two `repr(C)` variants of a union, told apart by the `entry` byte both
//! keep at offset 25 (asserted below):
//!
//! | bytes   | event | link |
//! |---------|-------|------|
//! | 0..24   | name (16), time (8) | trace id (16), span id (8) |
//! | 24..32  | attribute count, `entry`, pad, dropped attributes | attribute count, `entry`, W3C flags, remote, dropped attributes |
//! | 32..128 | [`MAX_EVENT_ATTRS`] attributes | [`MAX_LINK_ATTRS`] attributes, `tracestate` (16), pad (16) |
//!
//! Events and links share a record's [`MAX_EVENTS`](super::record::MAX_EVENTS) entries, first
//! come first kept: a span that needs none of one kind has all of them for the other (a
//! consumer span of a batch keeps two links; a span with an exception event and a link keeps
//! both). What does not fit is counted in `dropped_events_count` or `dropped_links_count`.

use std::fmt;

use super::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use super::value::{Packed, ValueRef};

/// Attributes each event holds (enough for the `exception.*` triple).
pub const MAX_EVENT_ATTRS: usize = 3;
/// Attributes each link holds.
pub const MAX_LINK_ATTRS: usize = 2;

/// One attribute as stored: a key cell and a value cell.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Attr {
    pub(super) key: Packed,
    pub(super) value: Packed,
}

impl Attr {
    pub(super) const EMPTY: Attr = Attr {
        key: Packed::EMPTY,
        value: Packed::EMPTY,
    };
}

const ENTRY_EVENT: u8 = 0;
const ENTRY_LINK: u8 = 1;

/// A span event as stored in a record.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Event {
    pub(super) name: Packed,
    pub(super) time: u64,
    pub(super) n_attrs: u8,
    /// Always [`ENTRY_EVENT`].
    entry: u8,
    _pad: [u8; 2],
    pub(super) dropped_attrs: u32,
    pub(super) attrs: [Attr; MAX_EVENT_ATTRS],
}

impl Event {
    pub(super) const EMPTY: Event = Event {
        name: Packed::EMPTY,
        time: 0,
        n_attrs: 0,
        entry: ENTRY_EVENT,
        _pad: [0; 2],
        dropped_attrs: 0,
        attrs: [Attr::EMPTY; MAX_EVENT_ATTRS],
    };

    /// An event named `name` at `time` with no attributes yet.
    pub(super) fn new(name: Packed, time: u64) -> Event {
        Event {
            name,
            time,
            ..Event::EMPTY
        }
    }
}

/// A span link as stored in a record.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Link {
    /// Ids as words (see `TraceId::words`).
    trace_id: [u64; 2],
    span_id: u64,
    pub(super) n_attrs: u8,
    /// Always [`ENTRY_LINK`].
    entry: u8,
    flags: u8,
    remote: u8,
    pub(super) dropped_attrs: u32,
    pub(super) attrs: [Attr; MAX_LINK_ATTRS],
    /// The linked span's `tracestate`, copied into the record's arena (or empty).
    pub(super) trace_state: Packed,
    _pad: [u8; 16],
}

impl Link {
    /// A link to `cx` with no attributes and no `tracestate` yet.
    pub(super) fn new(cx: &SpanContext) -> Link {
        Link {
            trace_id: cx.trace_id.words(),
            span_id: cx.span_id.word(),
            n_attrs: 0,
            entry: ENTRY_LINK,
            flags: cx.flags.0,
            remote: u8::from(cx.is_remote),
            dropped_attrs: 0,
            attrs: [Attr::EMPTY; MAX_LINK_ATTRS],
            trace_state: Packed::EMPTY,
            _pad: [0; 16],
        }
    }
}

/// An event or a link: see the module docs.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) union Entry {
    event: Event,
    link: Link,
}

const _: () = {
    assert!(std::mem::size_of::<Attr>() == 32);
    assert!(std::mem::size_of::<Event>() == 128);
    assert!(std::mem::size_of::<Link>() == 128);
    assert!(std::mem::size_of::<Entry>() == 128);
    // The byte that tells the variants apart sits at one offset in both.
    assert!(std::mem::offset_of!(Event, entry) == std::mem::offset_of!(Link, entry));
};

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.as_event(), self.as_link()) {
            (Some(e), _) => e.fmt(f),
            (_, Some(l)) => l.fmt(f),
            _ => f.write_str("Entry(?)"),
        }
    }
}

impl Entry {
    pub(super) const EMPTY: Entry = Entry {
        event: Event::EMPTY,
    };

    pub(super) fn event(event: Event) -> Entry {
        Entry { event }
    }

    pub(super) fn link(link: Link) -> Entry {
        Entry { link }
    }

    /// Which variant this entry holds.
    #[inline(always)]
    fn kind(&self) -> u8 {
        // SAFETY: both variants are `repr(C)` with a `u8` named `entry` at the same offset
        // (asserted above), and an entry is only ever built whole from one of them (`event`,
        // `link`, `EMPTY`), so this byte is initialised and is that variant's tag.
        unsafe { self.event.entry }
    }

    #[inline(always)]
    pub(super) fn as_event(&self) -> Option<&Event> {
        if self.kind() == ENTRY_EVENT {
            // SAFETY: the tag says the entry was built from an `Event` (see `kind`).
            Some(unsafe { &self.event })
        } else {
            None
        }
    }

    #[inline(always)]
    pub(super) fn as_event_mut(&mut self) -> Option<&mut Event> {
        if self.kind() == ENTRY_EVENT {
            // SAFETY: as in `as_event`; writing through the `&mut Event` keeps it an `Event`.
            Some(unsafe { &mut self.event })
        } else {
            None
        }
    }

    #[inline(always)]
    pub(super) fn as_link(&self) -> Option<&Link> {
        if self.kind() == ENTRY_LINK {
            // SAFETY: the tag says the entry was built from a `Link` (see `kind`).
            Some(unsafe { &self.link })
        } else {
            None
        }
    }

    #[inline(always)]
    pub(super) fn as_link_mut(&mut self) -> Option<&mut Link> {
        if self.kind() == ENTRY_LINK {
            // SAFETY: as in `as_link`; writing through the `&mut Link` keeps it a `Link`.
            Some(unsafe { &mut self.link })
        } else {
            None
        }
    }
}

/// An entry's attribute cells with their count and dropped count, to append to.
pub(super) struct AttrsMut<'a> {
    pub(super) cells: &'a mut [Attr],
    pub(super) n: &'a mut u8,
    pub(super) dropped: &'a mut u32,
}

impl Entry {
    /// The entry's attributes, whichever its variant.
    #[inline]
    pub(super) fn attrs_mut(&mut self) -> AttrsMut<'_> {
        if self.kind() == ENTRY_LINK {
            // SAFETY: the tag says the entry was built from a `Link` (see `kind`).
            let l = unsafe { &mut self.link };
            AttrsMut {
                cells: &mut l.attrs,
                n: &mut l.n_attrs,
                dropped: &mut l.dropped_attrs,
            }
        } else {
            // SAFETY: every other tag is `ENTRY_EVENT` (only the two constructors write one),
            // so the entry was built from an `Event`.
            let e = unsafe { &mut self.event };
            AttrsMut {
                cells: &mut e.attrs,
                n: &mut e.n_attrs,
                dropped: &mut e.dropped_attrs,
            }
        }
    }

    /// The entry's attributes as stored (for the key-repeat check).
    #[inline]
    pub(super) fn attrs(&self) -> &[Attr] {
        match (self.as_event(), self.as_link()) {
            (Some(e), _) => &e.attrs[..usize::from(e.n_attrs)],
            (_, Some(l)) => &l.attrs[..usize::from(l.n_attrs)],
            _ => &[],
        }
    }
}

/// The attributes in `attrs`, read with the record's `arena`.
fn read_attrs<'r>(
    attrs: &'r [Attr],
    arena: &'r [u8],
) -> impl ExactSizeIterator<Item = (&'r str, ValueRef<'r>)> + Clone + 'r {
    attrs
        .iter()
        .map(move |a| (a.key.as_str(arena), a.value.as_value(arena)))
}

/// A span event read back from a record.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'r> {
    pub(super) event: &'r Event,
    pub(super) arena: &'r [u8],
}

impl<'r> EventRef<'r> {
    /// The event name.
    pub fn name(&self) -> &'r str {
        self.event.name.as_str(self.arena)
    }

    /// When it happened, in clock ticks.
    pub fn time_ticks(&self) -> u64 {
        self.event.time
    }

    /// The event's attributes.
    pub fn attributes(
        &self,
    ) -> impl ExactSizeIterator<Item = (&'r str, ValueRef<'r>)> + Clone + 'r {
        read_attrs(
            &self.event.attrs[..usize::from(self.event.n_attrs)],
            self.arena,
        )
    }

    /// Event attributes that did not fit and were dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.event.dropped_attrs
    }
}

/// A span link read back from a record.
#[derive(Clone, Copy, Debug)]
pub struct LinkRef<'r> {
    pub(super) link: &'r Link,
    pub(super) arena: &'r [u8],
}

impl<'r> LinkRef<'r> {
    /// The linked span's trace id.
    pub fn trace_id(&self) -> TraceId {
        TraceId::from_words(self.link.trace_id)
    }

    /// The linked span's id.
    pub fn span_id(&self) -> SpanId {
        SpanId::from_word(self.link.span_id)
    }

    /// The linked span's W3C trace flags.
    pub fn trace_flags(&self) -> TraceFlags {
        TraceFlags(self.link.flags)
    }

    /// Whether the linked span's context came from another process.
    pub fn is_remote(&self) -> bool {
        self.link.remote != 0
    }

    /// The linked span's `tracestate` (`""` when it had none).
    pub fn trace_state(&self) -> &'r str {
        self.link.trace_state.as_str(self.arena)
    }

    /// The link's attributes.
    pub fn attributes(
        &self,
    ) -> impl ExactSizeIterator<Item = (&'r str, ValueRef<'r>)> + Clone + 'r {
        read_attrs(
            &self.link.attrs[..usize::from(self.link.n_attrs)],
            self.arena,
        )
    }

    /// Link attributes that did not fit and were dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.link.dropped_attrs
    }
}
