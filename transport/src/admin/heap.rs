//! `GET /debug/pprof/heap`: the counting allocator's size classes as a text table, one line
//! a class that has seen an allocation, smallest first:
//!
//! ```text
//! # ringspan heap: blocks by size class (class = [min, max] bytes requested)
//! # min_bytes max_bytes live_blocks live_bytes total_blocks total_bytes
//! 16 31 112 2304 5120 98304
//! ...
//! # total live_blocks 1234 live_bytes 567890 total_blocks 98765 total_bytes 123456789
//! ```
//!
//! `live` is allocated and not freed; `total` counts every allocation since start (a
//! reallocation frees its old class and allocates in the new one's). Bytes are those
//! requested, not the allocator's rounding.

use std::fmt::Write;

use ringspan_alloc_counter::SizeClass;

/// The table for `classes`.
pub(super) fn render(classes: &[SizeClass]) -> String {
    let mut out = String::from(
        "# ringspan heap: blocks by size class (class = [min, max] bytes requested)\n\
         # min_bytes max_bytes live_blocks live_bytes total_blocks total_bytes\n",
    );
    let mut total = [0u64; 4];
    for c in classes {
        let row = [c.live(), c.live_bytes(), c.allocations, c.bytes_allocated];
        let _ = writeln!(
            out,
            "{} {} {} {} {} {}",
            c.min_bytes, c.max_bytes, row[0], row[1], row[2], row[3]
        );
        for (t, v) in total.iter_mut().zip(row) {
            *t += v;
        }
    }
    let _ = writeln!(
        out,
        "# total live_blocks {} live_bytes {} total_blocks {} total_bytes {}",
        total[0], total[1], total[2], total[3]
    );
    out
}
