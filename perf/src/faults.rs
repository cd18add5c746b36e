//! The fault soak (`--faults`): while the producers record at a steady rate, the embedded
//! receiver misbehaves on a fixed schedule: bursts of 503 with `Retry-After`, slow answers,
//! answers whose body stalls or is cut, dropped connections, and outages of a few seconds
//! (down, then back on the same address). Each fault's cost is what the counters moved by
//! from its start to the next fault's: spans dropped, by reason, and retries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringspan_receiver::Fault;
use ringspan_transport::Report;

use crate::ringspan_run::dropped_by_reason;
use crate::target::Target;

/// One step of the schedule.
#[derive(Clone, Debug)]
enum Step {
    Inject(Fault, usize),
    /// Down for this long, then back.
    Down(Duration),
}

/// The schedule's period: every fault once, with calm in between.
const PERIOD: Duration = Duration::from_secs(30);

/// Each step's offset into the period, its label, and what it does.
fn period() -> Vec<(Duration, &'static str, Step)> {
    let s = Duration::from_secs;
    let status = |code| Fault::Status {
        code,
        retry_after: Some("1".into()),
    };
    vec![
        (
            s(3),
            "3 x 503, Retry-After: 1",
            Step::Inject(status(503), 3),
        ),
        (
            s(7),
            "2 answers 1 s late",
            Step::Inject(Fault::Delay(s(1)), 2),
        ),
        (
            s(11),
            "200, then the body stalls 3 s",
            Step::Inject(Fault::StallBody(s(3)), 1),
        ),
        (
            s(15),
            "200, then the body is reset",
            Step::Inject(Fault::ResetBody, 1),
        ),
        (
            s(18),
            "3 connections dropped unanswered",
            Step::Inject(Fault::DropConnection, 3),
        ),
        (s(22), "down 3 s, then back", Step::Down(s(3))),
    ]
}

/// What one fault cost.
pub struct Cost {
    pub at: Duration,
    pub label: &'static str,
    /// Spans dropped between this fault and the next, by reason (only reasons that moved).
    pub dropped: Vec<(&'static str, u64)>,
    pub retries: u64,
    pub bodies_lost: u64,
}

/// Runs the schedule against `target` from `start` until `end` (or until `stop`), reading the
/// pipeline's counters through `report`; returns each fault's cost.
pub fn run(
    target: &Target,
    start: Instant,
    end: Duration,
    stop: &AtomicBool,
    report: impl Fn() -> Report,
) -> Result<Vec<Cost>, String> {
    let mut steps = Vec::new();
    let mut base = Duration::ZERO;
    while base < end {
        for (at, label, step) in period() {
            if base + at < end {
                steps.push((base + at, label, step));
            }
        }
        base += PERIOD;
    }
    let wait_until = |at: Duration| {
        while start.elapsed() < at {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    };
    let mut costs: Vec<Cost> = Vec::new();
    let mut before = report();
    for (at, label, step) in steps {
        if !wait_until(at) {
            break;
        }
        let now = report();
        if let Some(last) = costs.last_mut() {
            settle_cost(last, &before, &now);
        }
        before = now;
        costs.push(Cost {
            at,
            label,
            dropped: Vec::new(),
            retries: 0,
            bodies_lost: 0,
        });
        match step {
            Step::Inject(fault, times) => target.inject(fault, times)?,
            Step::Down(d) => target.flap(d)?,
        }
    }
    // The last fault's cost runs until the workload ends.
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(last) = costs.last_mut() {
        settle_cost(last, &before, &report());
    }
    Ok(costs)
}

fn settle_cost(cost: &mut Cost, before: &Report, after: &Report) {
    let was = dropped_by_reason(before);
    for ((reason, now), (_, then)) in dropped_by_reason(after).into_iter().zip(was) {
        if now > then {
            cost.dropped.push((reason, now - then));
        }
    }
    cost.retries = after.export.retries - before.export.retries;
    cost.bodies_lost = after.export.bodies_lost - before.export.bodies_lost;
}

/// The soak's table.
pub fn print(costs: &[Cost]) {
    println!("  faults (each fault's cost: what moved until the next one)");
    println!(
        "    {:>6}  {:<34} {:>8} {:>11}  dropped",
        "at", "fault", "retries", "bodies lost"
    );
    for c in costs {
        let dropped = if c.dropped.is_empty() {
            "0".to_owned()
        } else {
            c.dropped
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "    {:>5.0}s  {:<34} {:>8} {:>11}  {dropped}",
            c.at.as_secs_f64(),
            c.label,
            c.retries,
            c.bodies_lost
        );
    }
}
