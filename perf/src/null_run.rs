//! `--compare null`: the same schedule on the same cores with an empty call in place of
//! recording a span. What it measures is the machine: the two clock reads, the schedule's
//! spin, and the pauses the hypervisor takes from a pinned core (about 3% of its time here, in
//! gaps of up to a few ms). ringspan's tail is read against it.

use std::hint::black_box;

use hdrhistogram::Histogram;
use ringspan::Calibration;

use crate::args::Args;
use crate::workload;

/// What the null workload measured.
pub struct NullReport {
    pub spans: u64,
    pub histogram: Histogram<u64>,
}

/// The empty recording call: kept out of line so that it costs a call, as a recorder does.
#[inline(never)]
fn record_nothing(n: u64) {
    black_box(n);
}

pub fn run(args: &Args, cal: &Calibration, cores: &[Option<usize>]) -> NullReport {
    let phase = workload::run(
        args,
        cal,
        cores,
        || 0,
        |_, core| {
            if let Some(c) = core {
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            record_nothing
        },
    );
    NullReport {
        spans: phase.spans,
        histogram: phase.histogram(),
    }
}
