//! What another thread may read of a producer's open spans: the start and the name of its
//! oldest open recording span, and the name of the thread that holds the lane.
//!
//! The producer writes the watch only when its oldest open span changes: when a recording
//! span starts while none is watched (a root, usually), and when the watched span ends. A
//! child span costs one comparison at its start and one at its end. The watch is a sequence
//! lock over three words: the writer makes the sequence odd, stores the start and the
//! name's pointer and length, and makes it even again; a reader takes the words only if it
//! read the same even sequence before and after them. Ending the watched span is one store
//! (a zero start), which a reader sees as "nothing open" whatever name it read beside it.
//!
//! A reader that keeps finding the sequence moving gives up after a few tries and reports
//! nothing open: the producer is changing its oldest span faster than it can be read, so
//! that span is not old. Spans that are not sampled are not watched (they read no clock).

use crate::sync::{fence, AtomicU64, AtomicUsize, Ordering};

/// See the module docs. One writer: the producer holding the lane.
#[derive(Debug, Default)]
pub struct OpenWatch {
    seq: AtomicU64,
    /// Clock ticks at the watched span's start; 0 when none is watched.
    since: AtomicU64,
    /// The name's pointer and length, from a `&'static str`; a null pointer for a name that
    /// was copied into the record (not `'static`, so not shown).
    name_ptr: AtomicUsize,
    name_len: AtomicUsize,
}

/// How many times a reader tries before it reports nothing open (see the module docs).
const READ_TRIES: usize = 8;

impl OpenWatch {
    /// Watches a span that started at `since` (clock ticks) with `name`.
    ///
    /// # Safety
    /// One writer at a time: no other thread may call `open` on this watch unless its calls
    /// and this one are ordered by happens-before (the lane's claim orders successive
    /// producers). Two writers at once could let a reader take one's pointer with the
    /// other's length, and read out of bounds.
    #[inline]
    pub unsafe fn open(&self, since: u64, name: Option<&'static str>) {
        let (ptr, len) = name.map_or((0, 0), |n| (n.as_ptr() as usize, n.len()));
        // Relaxed load: this thread is the only writer (hand-overs between successive
        // producers are ordered by the lane's claim).
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Release fence: pairs with the reader's Acquire fence. A reader that sees any of the
        // stores below also sees the odd sequence above, so it will not take them as whole.
        fence(Ordering::Release);
        // `| 1`: never 0 (which means "none"), at the cost of one tick.
        self.since.store(since | 1, Ordering::Relaxed);
        self.name_ptr.store(ptr, Ordering::Relaxed);
        self.name_len.store(len, Ordering::Relaxed);
        // Release: pairs with the reader's Acquire load of `seq`; a reader that starts from
        // this even value sees the three words stored before it.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Nothing is watched any more. Only the lane's producer calls this (a stray call from
    /// elsewhere makes the watch read as empty, nothing worse: it changes no name word).
    #[inline]
    pub fn close(&self) {
        // Relaxed: a reader that reads 0 reports nothing and ignores the name words; one that
        // still reads the old start reads a past state, whole (the name words change only
        // between sequence updates).
        self.since.store(0, Ordering::Relaxed);
    }

    /// The watched span's start (clock ticks) and name (`None` for a copied one), if one is
    /// open. Any thread may call this.
    pub fn read(&self) -> Option<(u64, Option<&'static str>)> {
        for _ in 0..READ_TRIES {
            // Acquire: pairs with the writer's final Release store of `seq`.
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                crate::sync::yield_now();
                continue;
            }
            let since = self.since.load(Ordering::Relaxed);
            let ptr = self.name_ptr.load(Ordering::Relaxed);
            let len = self.name_len.load(Ordering::Relaxed);
            // Acquire fence: pairs with the writer's Release fence (see `open`), so that if
            // any word above came from a write in progress, `after` sees its odd sequence.
            fence(Ordering::Acquire);
            let after = self.seq.load(Ordering::Relaxed);
            if before != after {
                crate::sync::yield_now();
                continue;
            }
            if since == 0 {
                return None;
            }
            let name = (ptr != 0).then(|| {
                // SAFETY: the sequence did not move while the words were read, so `ptr` and
                // `len` were stored together by one `open` (one writer at a time: `open`'s
                // contract), from one `&'static str`.
                unsafe {
                    std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr as *const u8, len))
                }
            });
            return Some((since, name));
        }
        None
    }
}
