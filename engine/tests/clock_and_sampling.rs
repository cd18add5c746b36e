//! Clock calibration against the wall clock, and the samplers' semantics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringspan::IdGenerator;
use ringspan::{Calibration, Clock};
use ringspan::{Sampler, TraceId};

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn converted_ticks_track_the_wall_clock() {
    for clock in [Clock::detect(), Clock::monotonic()] {
        let mut cal = Calibration::new(clock, Duration::from_millis(5));
        let before = unix_ns();
        let t = clock.now();
        let after = unix_ns();
        let converted = cal.to_unix_nanos(t);
        // Within 1 ms of the wall clock right after calibration.
        assert!(
            converted + 1_000_000 >= before && converted <= after + 1_000_000,
            "{:?}",
            clock.source()
        );
        // An interval converts to what `Instant` measured for it within 2% (the sleep itself
        // may overshoot on a busy machine; the comparison does not depend on it), and
        // refreshing keeps the drift small.
        let (i0, t0) = (std::time::Instant::now(), clock.now());
        std::thread::sleep(Duration::from_millis(50));
        let (t1, i1) = (clock.now(), std::time::Instant::now());
        let drift = cal.refresh();
        let measured = (cal.to_unix_nanos(t1) - cal.to_unix_nanos(t0)) as f64;
        let reference = (i1 - i0).as_nanos() as f64;
        assert!(
            (measured / reference - 1.0).abs() < 0.02,
            "{measured} ns converted against {reference} ns measured on {:?}",
            clock.source()
        );
        assert!(drift.unsigned_abs() < 5_000_000, "drift {drift} ns");
    }
}

#[test]
fn the_tsc_is_used_where_it_is_invariant() {
    let invariant = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.contains(" constant_tsc") && s.contains(" nonstop_tsc"))
        .unwrap_or(false);
    if cfg!(target_arch = "x86_64") && invariant {
        assert_eq!(Clock::detect().source(), ringspan::ClockSource::Tsc);
    }
}

fn sampled_fraction(s: &Sampler, n: usize) -> f64 {
    let mut ids = IdGenerator::from_seed(42);
    (0..n)
        .filter(|_| s.should_sample(None, &ids.trace_id()))
        .count() as f64
        / n as f64
}

#[test]
fn ratio_sampler_keeps_the_ratio() {
    for ratio in [0.0, 0.01, 0.25, 0.5, 1.0] {
        let s = Sampler::trace_id_ratio(ratio).unwrap();
        let got = sampled_fraction(&s, 200_000);
        assert!((got - ratio).abs() < 0.01, "ratio {ratio}: sampled {got}");
    }
}

#[test]
fn ratio_decisions_are_consistent_and_nested() {
    let low = Sampler::trace_id_ratio(0.1).unwrap();
    let high = Sampler::trace_id_ratio(0.6).unwrap();
    let mut ids = IdGenerator::from_seed(7);
    for _ in 0..50_000 {
        let t = ids.trace_id();
        assert_eq!(low.should_sample(None, &t), low.should_sample(None, &t));
        if low.should_sample(None, &t) {
            assert!(
                high.should_sample(None, &t),
                "a higher ratio must sample a superset"
            );
        }
    }
}

#[test]
fn parent_based_follows_the_parent() {
    let t = TraceId([9; 16]);
    let s = Sampler::parent_based(Sampler::always_off());
    assert!(s.should_sample(Some(true), &t));
    assert!(!s.should_sample(Some(false), &t));
    assert!(!s.should_sample(None, &t));
    let d = Sampler::default();
    assert!(d.should_sample(None, &t));
    assert!(!d.should_sample(Some(false), &t));
    // Not parent-based: the root sampler decides even under a sampled parent.
    assert!(!Sampler::always_off().should_sample(Some(true), &t));
}
