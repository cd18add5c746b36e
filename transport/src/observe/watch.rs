//! The admin endpoint's watcher: once a second it reads how many spans each ring has
//! recorded, and remembers when that count last moved, so that a producer holding a ring but
//! recording nothing shows as idle (`ringspan_ring_idle_seconds`). Nothing on the hot path:
//! it reads counters the producers keep anyway. The idle time counts from the read that saw
//! the last change, so it may be up to a second short; only sampled spans count (at a low
//! sampling ratio a busy producer can look idle).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Pipeline;

/// How often the watcher reads the rings.
pub(super) const PERIOD: Duration = Duration::from_secs(1);

/// Per ring, as last read: claimed, spans recorded, claims, and when either count last
/// changed.
#[derive(Default)]
pub(super) struct Watch {
    rings: Mutex<Vec<(bool, u64, u64, Instant)>>,
}

impl Watch {
    /// Reads every ring once (the watcher's tick; also at each scrape).
    pub(super) fn observe(&self, pipeline: &Pipeline) {
        let now = Instant::now();
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        for (i, g) in pipeline.engine().ring_gauges().enumerate() {
            match rings.get_mut(i) {
                None => rings.push((g.claimed, g.recorded, g.claims, now)),
                Some(r) => {
                    // A span recorded or a new claim (even one released and taken again
                    // between two reads): the ring is in use now.
                    if g.recorded != r.1 || g.claims != r.2 {
                        *r = (g.claimed, g.recorded, g.claims, now);
                    } else {
                        r.0 = g.claimed;
                    }
                }
            }
        }
    }

    /// For each ring, how long it has been claimed without recording a span (`None` for a
    /// free ring), as of the last observation.
    pub(super) fn idle(&self) -> Vec<Option<Duration>> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .iter()
            .map(|&(claimed, _, _, since)| claimed.then(|| since.elapsed()))
            .collect()
    }
}
