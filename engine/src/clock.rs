//! Timestamps: a cheap tick counter on the hot path, Unix nanoseconds on the drain side.
//!
//! On x86_64 with an invariant TSC (CPUID leaf `0x8000_0007`, EDX bit 8: constant rate, keeps
//! counting in deep C-states, synchronised across cores) a span timestamp is one `rdtsc`
//! (about 8 ns here against 18 ns for `Instant::now`; see DESIGN.md). Elsewhere it is
//! nanoseconds since the engine's start read from `Instant`. The choice is made once, at start.
//!
//! [`Calibration`] turns ticks into Unix nanoseconds. It pairs one wall-clock anchor with the
//! TSC rate measured against `Instant` over a window that grows with every
//! [`Calibration::refresh`] (the drain calls it about once a second), so the rate error shrinks
//! as the process runs. A refresh also checks the converted time against the wall clock and
//! re-anchors when they drift apart by more than [`MAX_DRIFT_NS`] (an NTP step, a VM
//! migration), so exported times follow the wall clock without a per-span syscall.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest gap between converted and wall-clock time that a refresh tolerates before it
/// re-anchors.
pub const MAX_DRIFT_NS: u64 = 100_000;

/// Rates (ns per tick) a TSC can have: 10 MHz to 100 GHz. A measurement outside this range
/// comes from a counter that jumped (a VM restore, a suspend, a thread that moved to a core
/// whose TSC is behind), not from the counter's rate.
const SANE_NS_PER_TICK: std::ops::RangeInclusive<f64> = 0.01..=100.0;

/// What the hot path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The x86_64 time-stamp counter (invariant TSC only).
    Tsc,
    /// Nanoseconds since the clock's creation, from `Instant`.
    Monotonic,
}

/// The hot-path tick source. Cheap to copy; all producers of an engine share one.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    source: ClockSource,
    epoch: Instant,
}

#[cfg(target_arch = "x86_64")]
fn invariant_tsc() -> bool {
    use std::arch::x86_64::__cpuid;
    // CPUID is available on every x86_64 CPU; the extended leaf must be checked before use.
    let max_ext = __cpuid(0x8000_0000).eax;
    max_ext >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

/// Whether the kernel keeps time with the TSC: its current clocksource on Linux. A kernel
/// that marked the TSC unstable (and switched to `hpet`, `kvm-clock`, ...) knows something
/// CPUID does not. Where the file cannot be read, CPUID decides alone.
fn kernel_trusts_tsc() -> bool {
    match std::fs::read_to_string(
        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
    ) {
        Ok(source) => source.trim() == "tsc",
        Err(_) => true,
    }
}

impl Clock {
    /// The fastest trustworthy source on this machine: the TSC if it is invariant and the
    /// kernel's clocksource is the TSC too, else `Instant`.
    pub fn detect() -> Self {
        let source = if invariant_tsc() && kernel_trusts_tsc() {
            ClockSource::Tsc
        } else {
            ClockSource::Monotonic
        };
        Clock {
            source,
            epoch: Instant::now(),
        }
    }

    /// Always `Instant`-based (for machines whose TSC you do not trust).
    pub fn monotonic() -> Self {
        Clock {
            source: ClockSource::Monotonic,
            epoch: Instant::now(),
        }
    }

    /// The source in use.
    pub fn source(&self) -> ClockSource {
        self.source
    }

    /// Current ticks. No syscall, no lock, no allocation.
    #[inline(always)]
    pub fn now(&self) -> u64 {
        match self.source {
            #[cfg(target_arch = "x86_64")]
            // `rdtsc` is not serialising: it may execute a few instructions early, a few ns of
            // skew that span timing tolerates (and the reason it costs 8 ns, not 30).
            ClockSource::Tsc => {
                // SAFETY: `Tsc` is only chosen on x86_64, where `rdtsc` always exists.
                #[allow(unused_unsafe)]
                unsafe {
                    std::arch::x86_64::_rdtsc()
                }
            }
            _ => self.epoch.elapsed().as_nanos() as u64,
        }
    }
}

/// One simultaneous reading of ticks, `Instant` and the wall clock.
#[derive(Clone, Copy, Debug)]
struct Sample {
    ticks: u64,
    instant: Instant,
    unix_ns: u64,
}

fn unix_now_ns() -> u64 {
    // A wall clock before 1970 is reported as 1970; nothing sensible can be exported then.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Sample {
    fn take(clock: &Clock) -> Sample {
        // Bracket the other reads with two tick reads and keep their midpoint.
        let t0 = clock.now();
        let instant = Instant::now();
        let unix_ns = unix_now_ns();
        let t1 = clock.now();
        Sample {
            ticks: t0.wrapping_add(t1.wrapping_sub(t0) / 2),
            instant,
            unix_ns,
        }
    }
}

/// Converts ticks of one [`Clock`] to Unix nanoseconds. Owned by the drain thread.
#[derive(Clone, Debug)]
pub struct Calibration {
    clock: Clock,
    /// Where the rate was first measured from; never moves, so the window keeps growing.
    rate_origin: Sample,
    /// The wall-clock anchor: `anchor.ticks` maps to `anchor.unix_ns`.
    anchor: Sample,
    ns_per_tick: f64,
    /// `ns_per_tick` in 32.32 fixed point, so conversion is one multiply and a shift.
    mult: u64,
}

impl Calibration {
    /// Calibrates `clock`. For the TSC this measures the rate over `warmup` (the engine uses a
    /// few milliseconds; the drain refines it later).
    pub fn new(clock: Clock, warmup: Duration) -> Self {
        let origin = Sample::take(&clock);
        let mut cal = Calibration::from_origin(clock, origin);
        if clock.source == ClockSource::Tsc {
            while origin.instant.elapsed() < warmup {
                std::hint::spin_loop();
            }
            cal.refresh();
        }
        cal
    }

    /// A calibration at 1 ns per tick, measured and anchored from `origin`.
    fn from_origin(clock: Clock, origin: Sample) -> Self {
        Calibration {
            clock,
            rate_origin: origin,
            anchor: origin,
            ns_per_tick: 1.0,
            mult: 1 << 32,
        }
    }

    /// The clock this converts.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Nanoseconds per tick currently in use.
    pub fn ns_per_tick(&self) -> f64 {
        self.ns_per_tick
    }

    /// Re-measures the rate over the whole window since creation and re-anchors to the wall
    /// clock if conversion has drifted by more than [`MAX_DRIFT_NS`]. Returns the drift it saw
    /// (converted minus wall clock, in ns) before any re-anchoring.
    pub fn refresh(&mut self) -> i64 {
        let now = Sample::take(&self.clock);
        self.refresh_from(now)
    }

    fn refresh_from(&mut self, now: Sample) -> i64 {
        if self.clock.source == ClockSource::Tsc {
            let dticks = now.ticks.wrapping_sub(self.rate_origin.ticks);
            let dns = now
                .instant
                .duration_since(self.rate_origin.instant)
                .as_nanos() as f64;
            let rate = dns / dticks as f64;
            if (dticks as i64) > 0 && SANE_NS_PER_TICK.contains(&rate) {
                self.ns_per_tick = rate;
                self.mult = (self.ns_per_tick * (1u64 << 32) as f64).round() as u64;
            } else if dns > 0.0 || (dticks as i64) < 0 {
                // The counter went backwards or jumped: this sample says nothing about its
                // rate. Keep the rate we had, measure afresh from here, and re-anchor so that
                // new ticks convert from this sample on.
                self.rate_origin = now;
                self.anchor = now;
                return 0;
            }
        }
        let drift = self.to_unix_nanos(now.ticks) as i64 - now.unix_ns as i64;
        if drift.unsigned_abs() > MAX_DRIFT_NS {
            self.anchor = now;
        }
        drift
    }

    /// The number of ticks `d` lasts (at least 1).
    pub fn ticks_for(&self, d: Duration) -> u64 {
        // `ns_per_tick` stays within `SANE_NS_PER_TICK`, so this is finite; the cast
        // saturates for durations of centuries.
        ((d.as_nanos() as f64 / self.ns_per_tick) as u64).max(1)
    }

    /// Unix nanoseconds for a tick value read from this calibration's clock.
    #[inline]
    pub fn to_unix_nanos(&self, ticks: u64) -> u64 {
        // Fixed point in i128, so that any tick distance fits and no float rounding runs for
        // every exported timestamp (a Unix time in ns needs 61 bits, more than an f64 holds).
        let d = ticks.wrapping_sub(self.anchor.ticks) as i64 as i128;
        let ns = (d * i128::from(self.mult)) >> 32;
        let ns = ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        self.anchor.unix_ns.saturating_add_signed(ns)
    }
}

/// Now, in Unix nanoseconds (the system clock; 0 before 1970).
pub(crate) fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TSC calibration at exactly 1 ns per tick, from fake samples.
    fn calibrated() -> (Calibration, Sample) {
        let clock = Clock {
            source: ClockSource::Tsc,
            epoch: Instant::now(),
        };
        let origin = Sample {
            ticks: 1_000_000_000,
            instant: Instant::now(),
            unix_ns: 1_700_000_000_000_000_000,
        };
        let mut cal = Calibration::from_origin(clock, origin);
        let later = at(&origin, 1_000_000_000, 1_000_000_000);
        cal.refresh_from(later);
        assert!((cal.ns_per_tick() - 1.0).abs() < 1e-9);
        (cal, later)
    }

    /// `s` moved on by `ticks` on the counter and `ns` on the clocks.
    fn at(s: &Sample, ticks: i64, ns: u64) -> Sample {
        Sample {
            ticks: s.ticks.wrapping_add_signed(ticks),
            instant: s.instant + Duration::from_nanos(ns),
            unix_ns: s.unix_ns + ns,
        }
    }

    #[test]
    fn a_counter_that_went_backwards_keeps_the_rate_and_deadlines_finite() {
        let (mut cal, last) = calibrated();
        // The TSC reads lower than at calibration (VM restore): the tick delta wraps.
        let back = at(&last, -1_900_000_000, 1_000_000_000);
        cal.refresh_from(back);
        assert!(
            (cal.ns_per_tick() - 1.0).abs() < 1e-9,
            "{}",
            cal.ns_per_tick()
        );
        assert_eq!(cal.ticks_for(Duration::from_millis(5)), 5_000_000);
        // Times convert from the new reading on.
        assert_eq!(cal.to_unix_nanos(back.ticks), back.unix_ns);
        // The next sample measures the rate again from there.
        let next = at(&back, 2_000_000_000, 1_000_000_000);
        cal.refresh_from(next);
        assert!(
            (cal.ns_per_tick() - 0.5).abs() < 1e-9,
            "{}",
            cal.ns_per_tick()
        );
    }

    #[test]
    fn a_counter_that_jumped_ahead_is_not_taken_for_a_rate() {
        let (mut cal, last) = calibrated();
        // A core whose TSC is far ahead: a rate of 1e-8 ns per tick would make every
        // deadline zero ticks; the sample is rejected instead.
        let jump = at(&last, 1 << 62, 1_000_000);
        cal.refresh_from(jump);
        assert!((cal.ns_per_tick() - 1.0).abs() < 1e-9);
        assert_eq!(cal.ticks_for(Duration::from_micros(2)), 2_000);
    }
}
