//! The watcher's memory: what changes over time and so needs earlier reads to judge. Read
//! once a second by the admin endpoint (when it runs), at each metrics export, and at each
//! scrape. Nothing on the hot path: it reads counters the producers and the exporter keep
//! anyway.
//!
//! - Idle producers: how many spans each ring has recorded, and when that count last moved,
//!   so that a producer holding a ring but recording nothing shows as idle. The idle time
//!   counts from the read that saw the last change, so it may be up to a read period short;
//!   only sampled spans count (at a low sampling ratio a busy producer can look idle).
//! - A growing exporter backlog: the spans handed to the exporter and not settled yet, and
//!   when that backlog was last empty or smaller than at the read before. A backlog that
//!   only grows (or stays stuck) for a long time means the collector does not keep up.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the admin endpoint's watcher reads.
#[cfg_attr(not(feature = "admin"), allow(dead_code))]
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    /// Per ring: claimed, spans recorded, claims, and when either count last changed.
    rings: Vec<(bool, u64, u64, Instant)>,
    /// The backlog at the last read, and when it was last empty or shrinking.
    backlog: Option<(u64, Instant)>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Watch {
    state: Mutex<State>,
}

/// What one read gives the watch.
pub(crate) struct Reading<'a> {
    pub(crate) rings: &'a [ringspan::RingGauge],
    pub(crate) backlog: u64,
}

impl Watch {
    /// Takes one reading.
    pub(crate) fn observe(&self, now: Reading<'_>) {
        let at = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (i, g) in now.rings.iter().enumerate() {
            match s.rings.get_mut(i) {
                None => s.rings.push((g.claimed, g.recorded, g.claims, at)),
                Some(r) => {
                    // A span recorded or a new claim (even one released and taken again
                    // between two reads): the ring is in use now.
                    if g.recorded != r.1 || g.claims != r.2 {
                        *r = (g.claimed, g.recorded, g.claims, at);
                    } else {
                        r.0 = g.claimed;
                    }
                }
            }
        }
        s.backlog = Some(match s.backlog {
            Some((before, since)) if now.backlog > 0 && now.backlog >= before => {
                (now.backlog, since)
            }
            _ => (now.backlog, at),
        });
    }

    /// For each ring, how long it has been claimed without recording a span (`None` for a
    /// free ring), as of the last reading.
    pub(crate) fn idle(&self) -> Vec<Option<Duration>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.rings
            .iter()
            .map(|&(claimed, _, _, since)| claimed.then(|| since.elapsed()))
            .collect()
    }

    /// How long the exporter's backlog has been non-empty and never shrinking between two
    /// readings (zero when it is empty or just shrank).
    pub(crate) fn backlog_growing(&self) -> Duration {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.backlog {
            Some((n, since)) if n > 0 => since.elapsed(),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_that_never_shrinks_grows_its_age_and_one_that_shrinks_resets_it() {
        let w = Watch::default();
        let read = |n| Reading {
            rings: &[],
            backlog: n,
        };
        w.observe(read(0));
        assert_eq!(w.backlog_growing(), Duration::ZERO);
        w.observe(read(10));
        std::thread::sleep(Duration::from_millis(30));
        w.observe(read(10));
        w.observe(read(50));
        let grown = w.backlog_growing();
        assert!(grown >= Duration::from_millis(30), "{grown:?}");
        w.observe(read(40));
        assert!(w.backlog_growing() < Duration::from_millis(30));
        w.observe(read(0));
        assert_eq!(w.backlog_growing(), Duration::ZERO);
    }
}
