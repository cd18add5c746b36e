//! Shared setup for the criterion benches in `benches/` (figures in `RESULTS.md`): core
//! placement, and each peer configured as its users would run it in production, with an
//! exporter that counts what it receives so every bench can check the peer really records
//! before it is timed.

pub mod ours;
pub mod peers;
pub mod tracing_span;

use std::sync::OnceLock;

/// (producer core, drain core), if the machine has two. Read once, before any bench pins the
/// main thread: a pinned thread's affinity (which `get_core_ids` reports) holds one core only,
/// and threads it spawns inherit it.
pub fn cores() -> Option<(usize, usize)> {
    static CORES: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *CORES.get_or_init(|| {
        let ids = core_affinity::get_core_ids()?;
        (ids.len() >= 2).then(|| (ids[ids.len() - 1].id, ids[0].id))
    })
}

/// Pins the calling thread to the producer core (if there are two cores).
pub fn pin_producer() {
    if let Some((core, _)) = cores() {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
}

/// Pins the calling thread to the drain core (if there are two cores). Background threads a
/// peer spawns afterwards inherit it, which keeps them off the producer's core.
pub fn pin_drain() {
    if let Some((_, core)) = cores() {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
}
