//! A fixed table from span ids chosen elsewhere to what we keep for each open span, shared by
//! every thread, lock-free and allocation-free after it is made: how the `tracing` layer finds
//! its travelling span from a `tracing` span id without putting anything in the Registry's
//! extensions (each insert there is a `Box`).
//!
//! Open addressing: a key hashes to a home entry and lives in one of the [`MAX_PROBE`] entries
//! from there (wrapping). Each entry holds a key word (0: never used, `TOMBSTONE`: used and
//! removed, `RESERVED`: being filled), a busy flag, a header of four words readable without
//! the flag, the value, and a tally of missed writes.
//!
//! - An insert claims a free entry by a compare-exchange of its key word (a read-modify-write
//!   sees the latest key, so it never takes a live entry on a stale read, and never holds the
//!   flag of an entry it does not own), then fills it under the busy flag.
//! - A value is only ever touched by the thread that set the entry's busy flag (a
//!   compare-exchange from `false`, Acquire, paired with the Release store that cleared it
//!   last), so the table is free of data races whatever its callers do.
//! - [`SpanTable::with`] never waits: if another thread holds the entry (another `with` of
//!   the same key, at the same instant) it returns [`TableMiss::Busy`] and adds the caller's
//!   `missed` cost to the entry's tally (an atomic add), which [`SpanTable::remove`] hands
//!   back with the value: what the caller wanted to write is dropped, and counted. Only
//!   `insert` and `remove` wait for a flag, which under the contract below is never held
//!   when they take it.
//! - Key words never go back to 0, and an insert takes the first free entry it finds, so a
//!   lookup stops at a never-used entry.
//!
//! Contract (the `tracing` Registry's span ids keep it): a key is inserted once while it is
//! live; every other call with that key happens after its `insert` returned and before its
//! `remove` is called; `remove` is called once. Then `with` finds the key unless another
//! `with` holds it, `header` returns the header written at insert, and neither `insert` nor
//! `remove` waits (a `remove(k)` inside `with(k, ..)`'s closure would wait for itself). Broken,
//! the table stays memory-safe: a header read may mix two spans' words, and an edit may be
//! counted as missed, possibly on the key that took the entry next.

use std::cell::UnsafeCell;
use std::num::NonZeroU64;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicBool, AtomicU64, Ordering, Tracker};

/// The entries a key may live in, from its home entry on (2 under the loom models, which keeps
/// their state space small and every key colliding).
pub const MAX_PROBE: usize = if cfg!(ringspan_loom) { 2 } else { 8 };

/// The key of an entry whose key was removed.
const TOMBSTONE: u64 = u64::MAX;
/// The key of an entry an insert has claimed and is filling.
const RESERVED: u64 = u64::MAX - 1;

/// Why [`SpanTable::with`] did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableMiss {
    /// The key is not in the table.
    Missing,
    /// Another thread holds the key's entry right now.
    Busy,
}

struct Entry<V> {
    key: AtomicU64,
    busy: AtomicBool,
    /// The sum of the `missed` costs of `with` calls that found the entry busy.
    missed: AtomicU64,
    header: [AtomicU64; 4],
    value: UnsafeCell<Option<V>>,
    /// Under loom, registers accesses to `value` with the race detector.
    tracker: Tracker,
}

/// See the module docs.
pub struct SpanTable<V> {
    entries: Box<[CachePadded<Entry<V>>]>,
    /// `entries.len() - 1` (a power of two minus one).
    mask: usize,
    /// `64 - log2(entries.len())`: the hash's top bits pick the home entry.
    shift: u32,
}

// SAFETY: a value is only touched by the thread that holds its entry's busy flag, and the
// flag's Acquire/Release hand it from one holder to the next; `V: Send` lets it move.
unsafe impl<V: Send> Sync for SpanTable<V> {}
// SAFETY: the table owns its values.
unsafe impl<V: Send> Send for SpanTable<V> {}

impl<V> std::fmt::Debug for SpanTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanTable")
            .field("capacity", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Holds an entry's busy flag; clears it (Release) when dropped.
struct Held<'t, V>(&'t Entry<V>);

impl<V> Drop for Held<'_, V> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next `try_hold` of this entry, which then
        // sees every change this holder made.
        self.0.busy.store(false, Ordering::Release);
    }
}

impl<V> Entry<V> {
    fn try_hold(&self) -> Option<Held<'_, V>> {
        // Acquire: pairs with the Release in `Held::drop` of the previous holder.
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Held(self))
    }

    /// Sets the busy flag, waiting if another thread holds it: only where the contract says
    /// nobody does (a broken contract makes this spin until the holder lets go).
    fn hold(&self) -> Held<'_, V> {
        loop {
            if let Some(held) = self.try_hold() {
                return held;
            }
            crate::sync::yield_now();
        }
    }

    /// The value, for the holder of the flag.
    #[allow(clippy::mut_from_ref)]
    fn value<'h>(&'h self, _held: &'h Held<'_, V>) -> &'h mut Option<V> {
        self.tracker.write();
        // SAFETY: `_held` proves this thread holds the busy flag, and it is borrowed for as
        // long as the reference lives, so no other thread touches the value meanwhile; the
        // flag's Acquire ordered the previous holder's writes before this.
        unsafe { &mut *self.value.get() }
    }
}

impl<V> SpanTable<V> {
    /// A table of at least `capacity` entries (rounded up to a power of two, at least
    /// [`MAX_PROBE`]), all unused. Allocates once, here.
    pub fn new(capacity: usize) -> Self {
        let n = capacity.max(MAX_PROBE).next_power_of_two();
        // `Tracker` is a unit struct outside loom but not under it, hence `default()`.
        #[allow(clippy::default_constructed_unit_structs)]
        let entries = (0..n)
            .map(|_| {
                CachePadded::new(Entry {
                    key: AtomicU64::new(0),
                    busy: AtomicBool::new(false),
                    missed: AtomicU64::new(0),
                    header: [0; 4].map(AtomicU64::new),
                    value: UnsafeCell::new(None),
                    tracker: Tracker::default(),
                })
            })
            .collect();
        SpanTable {
            entries,
            mask: n - 1,
            shift: 64 - n.trailing_zeros(),
        }
    }

    /// Entries in the table.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The entries `key` may live in, home entry first.
    fn probe(&self, key: u64) -> impl Iterator<Item = &Entry<V>> + '_ {
        // Fibonacci hashing: the Registry's ids count up from a slab index, and the
        // multiply spreads neighbours over the table.
        let home = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize;
        (0..MAX_PROBE).map(move |i| &*self.entries[(home + i) & self.mask])
    }

    /// Inserts `value` under `key` with its `header`; gives `value` back when the key's
    /// [`MAX_PROBE`] entries are all in use, or when `key` is `u64::MAX` or `u64::MAX - 1`
    /// (the table's own markers).
    pub fn insert(&self, key: NonZeroU64, header: [u64; 4], value: V) -> Result<(), V> {
        let key = key.get();
        if key >= RESERVED {
            return Err(value);
        }
        for entry in self.probe(key) {
            // Relaxed: a hint; the compare-exchange decides.
            let seen = entry.key.load(Ordering::Relaxed);
            if seen != 0 && seen != TOMBSTONE {
                continue;
            }
            // Acquire: pairs with the Release store of `TOMBSTONE` in `remove`. (The value's
            // hand-over itself is the flag's: `hold` below, Acquire, pairs with the Release of
            // the remover's `Held::drop`; a straggler may still hold the flag a moment, which
            // `hold` waits out.) Relaxed on failure: the entry is taken, the next is tried.
            if entry
                .key
                .compare_exchange(seen, RESERVED, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let held = entry.hold();
            for (word, v) in entry.header.iter().zip(header) {
                // Relaxed: the caller's hand-over of the key to other threads follows this
                // call and orders it (and the flag's Release, for the next holder).
                word.store(v, Ordering::Relaxed);
            }
            // Relaxed: as the header.
            entry.missed.store(0, Ordering::Relaxed);
            *entry.value(&held) = Some(value);
            // Relaxed: as the header.
            entry.key.store(key, Ordering::Relaxed);
            return Ok(());
        }
        Err(value)
    }

    /// The header stored with `key`, without waiting for its entry's flag.
    pub fn header(&self, key: NonZeroU64) -> Option<[u64; 4]> {
        let key = key.get();
        for entry in self.probe(key) {
            // Relaxed: under the contract the insert happened before this call, so its
            // stores are visible; otherwise a read may mix spans (memory-safe, atomics).
            match entry.key.load(Ordering::Relaxed) {
                0 => return None,
                k if k == key => {
                    return Some(entry.header.each_ref().map(|w| w.load(Ordering::Relaxed)))
                }
                _ => {}
            }
        }
        None
    }

    /// Replaces the header stored with `key` (for the caller that holds the key before it
    /// hands it to other threads: a reader at the same instant may see old and new words
    /// mixed); returns whether the key was found.
    pub fn set_header(&self, key: NonZeroU64, header: [u64; 4]) -> bool {
        let key = key.get();
        for entry in self.probe(key) {
            // Relaxed: as in `header`.
            match entry.key.load(Ordering::Relaxed) {
                0 => return false,
                k if k == key => {
                    for (word, v) in entry.header.iter().zip(header) {
                        // Relaxed: ordered for other threads by the caller's hand-over.
                        word.store(v, Ordering::Relaxed);
                    }
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// Runs `f` on the value stored under `key`: [`TableMiss::Missing`] if there is none,
    /// [`TableMiss::Busy`] (without waiting) if another thread holds its entry, in which case
    /// `missed` is added to the entry's tally (see [`SpanTable::remove`]).
    pub fn with<R>(
        &self,
        key: NonZeroU64,
        missed: u64,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<R, TableMiss> {
        let key = key.get();
        for entry in self.probe(key) {
            // Relaxed: a hint; the check under the flag decides. (Under the contract the
            // insert's store of the key is visible, and entries before it are not 0.)
            match entry.key.load(Ordering::Relaxed) {
                0 => break,
                k if k != key => continue,
                _ => {}
            }
            let Some(held) = entry.try_hold() else {
                // Still this key's entry (under the contract it cannot change; broken, this
                // narrows the window in which the tally could land on the next key here).
                if entry.key.load(Ordering::Relaxed) != key {
                    continue;
                }
                // Relaxed: read by `remove`, which the contract orders after this call.
                entry.missed.fetch_add(missed, Ordering::Relaxed);
                return Err(TableMiss::Busy);
            };
            // Relaxed: a recheck (the key cannot have been removed under the contract); the
            // value itself is only touched under the flag.
            if entry.key.load(Ordering::Relaxed) != key {
                continue;
            }
            if let Some(v) = entry.value(&held).as_mut() {
                return Ok(f(v));
            }
        }
        Err(TableMiss::Missing)
    }

    /// Takes the value stored under `key` out of the table, with the tally of what `with`
    /// calls that found it busy missed; waits for its entry's flag if another thread holds
    /// it (which the contract rules out).
    pub fn remove(&self, key: NonZeroU64) -> Option<(V, u64)> {
        let key = key.get();
        for entry in self.probe(key) {
            // Relaxed: a hint; the check under the flag decides.
            match entry.key.load(Ordering::Relaxed) {
                0 => break,
                k if k != key => continue,
                _ => {}
            }
            let held = entry.hold();
            // Relaxed: a recheck. A live key is replaced (by `TOMBSTONE`) only by its remover,
            // right after it lets the flag go; under the contract that is this call.
            if entry.key.load(Ordering::Relaxed) != key {
                continue;
            }
            let Some(value) = entry.value(&held).take() else {
                continue;
            };
            // Relaxed: the contract orders every `with` before this call.
            let missed = entry.missed.load(Ordering::Relaxed);
            drop(held);
            // Release: pairs with the Acquire of the insert that claims the entry next (which
            // takes the value over through the flag, released just above).
            entry.key.store(TOMBSTONE, Ordering::Release);
            return Some((value, missed));
        }
        None
    }

    /// Keys in the table now (reads every entry: for tests and reports, not hot paths).
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| {
                // Relaxed: a count at one instant, as good as any.
                let k = e.key.load(Ordering::Relaxed);
                k != 0 && k != TOMBSTONE && k != RESERVED
            })
            .count()
    }

    /// Whether no key is in the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
