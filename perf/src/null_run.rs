//! `--compare null`: the machine's own latency, read against ringspan's. The workload
//! (`workload.rs`) interleaves an empty timed call with the spans it records, one slot in
//! [`crate::workload::SAMPLE_EVERY`], on the same core and schedule; this is what it measured.

use hdrhistogram::Histogram;

/// What the null workload measured.
pub struct NullReport {
    /// Empty calls timed.
    pub spans: u64,
    pub histogram: Histogram<u64>,
}
