//! Metric cells: the 64-bit words instruments record into, one block per lane and one shared
//! block for threads without a lane.
//!
//! Every lane has the same layout (a series owns cells `cell..cell + width` in every block),
//! so a handle needs only its first cell's index. A lane's block has one writer at a time:
//! the producer holding the lane's claim, which updates a cell with a relaxed load and
//! store (no read-modify-write, no lock prefix; the only other thread that writes the block
//! is one binding a new series, which starts that series' min and max cells before any
//! handle to it exists). Successive
//! holders are ordered by the claim itself (the ring's Release on release, Acquire on
//! claim), so a new holder adds to exactly what the last one left. The shared block is
//! written by any number of detached producers with atomic read-modify-writes. (Two of
//! them setting one gauge at once leave one of their two values, under the later stamp.)
//!
//! The collector reads every cell with plain atomic loads while producers write: each cell
//! it reads is a value that cell really held (no torn words), and a cell's successive
//! readings follow its modification order: a counter's never go back. The cells of one
//! series are not read at one instant: a histogram read while a value is being recorded may
//! have the value in its bucket and not yet in its sum, min or max. Its count is the sum of
//! its buckets, so the two always agree.
//!
//! A block keeps 16 unused cells (128 bytes: a line and the one the adjacent-line
//! prefetcher pairs with it, as `crossbeam_utils::CachePadded` pads) at each end, so no
//! other allocation shares those lines with the cells in use.

use crate::sync::{AtomicU64, Ordering};

/// The unused cells at each end of a block (see the module docs).
const PAD: usize = 16;

/// A block of metric cells (see the module docs).
#[doc(hidden)]
pub struct MetricCells {
    /// `PAD` unused cells, the block's cells, `PAD` unused cells.
    cells: Box<[AtomicU64]>,
}

/// The bits a min cell starts at (+inf) and a max cell (-inf).
pub(crate) const MIN_START: u64 = 0x7ff0_0000_0000_0000;
pub(crate) const MAX_START: u64 = 0xfff0_0000_0000_0000;

impl MetricCells {
    /// A block of `cells` cells, all zero.
    pub fn new(cells: usize) -> Self {
        let cells = (0..cells + 2 * PAD).map(|_| AtomicU64::new(0)).collect();
        MetricCells { cells }
    }

    /// Cells in the block.
    pub fn len(&self) -> usize {
        self.cells.len() - 2 * PAD
    }

    /// Whether the block has no cell.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes a block of `cells` cells takes (saturating).
    pub(crate) const fn bytes_for(cells: usize) -> usize {
        cells.saturating_add(2 * PAD).saturating_mul(8)
    }

    /// Bytes the block takes.
    pub(crate) fn bytes(&self) -> usize {
        Self::bytes_for(self.len())
    }

    /// Cell `i` (for `i` past the block's cells, an unused one, or `None` past those; never
    /// asked for: the registry hands out only cells inside the block).
    #[inline(always)]
    fn cell(&self, i: usize) -> Option<&AtomicU64> {
        self.range(i, 1).map(|c| &c[0])
    }

    /// Cells `i..i + n` (one check for a series' cells), as [`MetricCells::cell`] for a
    /// range past the block's cells.
    #[inline(always)]
    pub(crate) fn range(&self, i: usize, n: usize) -> Option<&[AtomicU64]> {
        self.cells.get(i + PAD..i + PAD + n)
    }

    /// Reads cell `i` (as [`MetricCells::cell`] past the block's cells; 0 past those).
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        // Relaxed: a reading needs no order with other memory; a cell's own modification
        // order already makes successive readings of it never go back.
        self.cell(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Sets cell `i` to `v` before any producer uses the block (a min or max cell's start).
    pub(crate) fn init(&self, i: usize, v: u64) {
        if let Some(c) = self.cell(i) {
            // Relaxed: written while the series is bound, under the registry's lock; a
            // producer learns of the series only through a handle made after this, and
            // handing a handle to another thread orders it (spawn, channel, `Arc`).
            c.store(v, Ordering::Relaxed);
        }
    }

    /// Adds `n` to cell `i` (wrapping); see [`add`].
    #[inline(always)]
    pub fn add(&self, i: usize, n: u64, owned: bool) {
        if let Some(c) = self.cell(i) {
            add(c, n, owned);
        }
    }

    /// Sets the gauge in cells `i` (value) and `i + 1` (stamp) to `bits`, stamped `stamp`
    /// (non-zero, later for later values). `owned` as for [`MetricCells::add`]: the shared
    /// block's stamp only moves forward (`fetch_max`).
    #[inline(always)]
    pub fn set_gauge(&self, i: usize, bits: u64, stamp: u64, owned: bool) {
        let (Some(value), Some(at)) = (self.cell(i), self.cell(i + 1)) else {
            return;
        };
        // Relaxed: published by the Release store of the stamp below.
        value.store(bits, Ordering::Relaxed);
        if owned {
            // Release, paired with the Acquire in `gauge`: a reader that sees this stamp
            // sees this value (or a later one), never an older value under a newer stamp.
            at.store(stamp, Ordering::Release);
        } else {
            // Release, as above. With several writers a value may meet another's stamp
            // (see the module docs); the stamp never goes back.
            at.fetch_max(stamp, Ordering::Release);
        }
    }

    /// Adds `v` to the `f64` in cell `i` (the path a histogram's sum takes), as
    /// [`MetricCells::add`] does.
    #[inline(always)]
    pub fn add_f64(&self, i: usize, v: f64, owned: bool) {
        if let Some(c) = self.cell(i) {
            add_f64(c, v, owned);
        }
    }

    /// The gauge in cells `i` and `i + 1`: its stamp (0: never set) and value bits.
    pub fn gauge(&self, i: usize) -> (u64, u64) {
        let (Some(value), Some(at)) = (self.cell(i), self.cell(i + 1)) else {
            return (0, 0);
        };
        // Acquire, paired with the Release in `set_gauge`.
        let stamp = at.load(Ordering::Acquire);
        // Relaxed: ordered after the stamp by the Acquire above.
        (stamp, value.load(Ordering::Relaxed))
    }
}

/// Adds `n` to cell `c` (wrapping). `owned`: the caller is the block's only writer now (it
/// holds the lane's claim); otherwise an atomic add.
#[inline(always)]
pub(crate) fn add(c: &AtomicU64, n: u64, owned: bool) {
    if owned {
        // Relaxed: the only writer (see the module docs for the hand-over between writers,
        // and for what the reader sees).
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    } else {
        // Relaxed: a count; the reader needs no other order.
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Replaces the `f64` in cell `c` with `op(old)`, as [`add`] does (always stored, so no
/// branch when owned).
#[inline(always)]
pub(crate) fn update_f64(c: &AtomicU64, owned: bool, op: impl Fn(f64) -> f64) {
    if owned {
        // Relaxed: the only writer, as in `add`.
        let v = op(f64::from_bits(c.load(Ordering::Relaxed)));
        c.store(v.to_bits(), Ordering::Relaxed);
    } else {
        // Relaxed: as in `add`; the loop retries when another detached writer got in.
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
            Some(op(f64::from_bits(old)).to_bits())
        });
    }
}

/// Adds `v` to the `f64` in cell `c`, as [`add`] does.
#[inline(always)]
pub(crate) fn add_f64(c: &AtomicU64, v: f64, owned: bool) {
    update_f64(c, owned, |s| s + v);
}

/// Lowers the `f64` in cell `c` to `v` if `v` is smaller (stored only then), as [`add`]
/// does.
#[inline(always)]
pub(crate) fn lower_f64(c: &AtomicU64, v: f64, owned: bool) {
    // Relaxed: as in `add`.
    if v < f64::from_bits(c.load(Ordering::Relaxed)) {
        update_f64(c, owned, |m| if v < m { v } else { m });
    }
}

/// Raises the `f64` in cell `c` to `v` if `v` is larger (stored only then), as [`add`]
/// does.
#[inline(always)]
pub(crate) fn raise_f64(c: &AtomicU64, v: f64, owned: bool) {
    // Relaxed: as in `add`.
    if v > f64::from_bits(c.load(Ordering::Relaxed)) {
        update_f64(c, owned, |m| if v > m { v } else { m });
    }
}
