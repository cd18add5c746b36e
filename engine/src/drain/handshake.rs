//! The flush and shutdown handshake, both sides of it.
//!
//! Requesters (`Engine::flush`, `Engine::shutdown`) bump `requested` (AcqRel) and wake the
//! drain; the drain, on seeing a new value, notes every ring's current `tail` as a target,
//! drains until each ring's `head` reaches its target, flushes the sink and publishes the
//! request number in `completed` (Release), which the requester waits for (Acquire). Spans
//! pushed before the request are thus in the sink when the wait ends, and spans pushed during
//! it cannot keep it waiting forever.
//!
//! Shutdown is a last flush request with a deadline: the requester stores the deadline, stops
//! the producers (a hook the caller passes), makes the request and only then sets `stop`, so a
//! drain that sees `stop` also sees that request. The drain finishes it (or, at the deadline,
//! discards and counts what is left), sets `exited` (Release) and returns.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sync::{poll_pause, thread, AtomicBool, AtomicU64, Ordering};

/// How long `shutdown` waits past its deadline for the drain thread to exit.
const EXIT_GRACE: Duration = Duration::from_millis(250);

/// Shared state of the handshake (one per engine, behind an `Arc`).
#[derive(Debug)]
pub(crate) struct Handshake {
    /// Flush requests made so far (requesters `fetch_add`, AcqRel).
    requested: AtomicU64,
    /// The highest request the drain has completed (drain stores, Release).
    completed: AtomicU64,
    /// Set by `shutdown` (Release) after its final flush request.
    stop: AtomicBool,
    /// Shutdown deadline, in ns since `epoch` (0 = none yet).
    deadline_ns: AtomicU64,
    /// Set by the drain (Release) as its last act.
    exited: AtomicBool,
    epoch: Instant,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake {
            requested: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            deadline_ns: AtomicU64::new(0),
            exited: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }
}

impl Handshake {
    fn elapsed_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    // ----- the requester's side -----

    /// Asks for a flush, wakes `drain` and waits until it is done.
    ///
    /// # Errors
    /// [`Error::is_timeout`] past `timeout`; [`Error::is_shut_down`] after shutdown.
    pub(crate) fn flush(&self, drain: &thread::Thread, timeout: Duration) -> Result<(), Error> {
        if self.stop.load(Ordering::Acquire) {
            return Err(Error::shut_down());
        }
        // AcqRel: Release so the drain's Acquire load of `requested` sees our earlier pushes;
        // Acquire to order us after earlier requests.
        let request = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        drain.unpark();
        let started = Instant::now();
        // Acquire pairs with the drain's Release store of `completed`.
        while self.completed.load(Ordering::Acquire) < request {
            if self.exited.load(Ordering::Acquire) {
                return Err(Error::shut_down());
            }
            if started.elapsed() > timeout {
                return Err(Error::timeout("flush", timeout));
            }
            poll_pause();
        }
        Ok(())
    }

    /// Runs the shutdown sequence: deadline, `stop_producers`, the final request, `stop`, and
    /// waits for the drain to exit. Called again after it timed out, it only waits again.
    /// `ended` says whether the drain thread has ended: one that ended without its last act
    /// (it died outside the sink, a bug) has final counters too, and is taken as exited.
    ///
    /// # Errors
    /// [`Error::is_timeout`] if the drain did not exit within `timeout` plus a short grace.
    pub(crate) fn shutdown(
        &self,
        drain: &thread::Thread,
        timeout: Duration,
        stop_producers: impl FnOnce(),
        ended: impl Fn() -> bool,
    ) -> Result<(), Error> {
        let started = Instant::now();
        // Acquire: pairs with the Release store below, made by an earlier call.
        if !self.stop.load(Ordering::Acquire) {
            let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            let deadline_ns = self.elapsed_ns().saturating_add(timeout_ns).max(1);
            // Relaxed: the drain reads the deadline only after it has seen `stop` (Acquire),
            // which is stored after this.
            self.deadline_ns.store(deadline_ns, Ordering::Relaxed);
            stop_producers();
            // The final flush request comes before `stop`, so a drain that sees `stop`
            // (Acquire) also sees this request and serves it before exiting.
            self.requested.fetch_add(1, Ordering::AcqRel);
            self.stop.store(true, Ordering::Release);
        }
        drain.unpark();
        // Acquire pairs with the drain's Release store of `exited`.
        while !self.exited.load(Ordering::Acquire) {
            if ended() {
                self.mark_exited();
                break;
            }
            if started.elapsed() > timeout.saturating_add(EXIT_GRACE) {
                return Err(Error::timeout("shutdown", timeout));
            }
            poll_pause();
        }
        Ok(())
    }

    /// Whether the drain has exited: its counters are final.
    pub(crate) fn has_exited(&self) -> bool {
        // Acquire pairs with the drain's Release store: its last counter updates are visible.
        self.exited.load(Ordering::Acquire)
    }

    // ----- the drain's side -----

    /// A request newer than the last completed one, if any. Acquire pairs with the
    /// requester's AcqRel `fetch_add`: spans it pushed before asking are covered by the ring
    /// positions the drain reads after this.
    pub(crate) fn new_request(&self) -> Option<u64> {
        let requested = self.requested.load(Ordering::Acquire);
        (requested > self.completed.load(Ordering::Relaxed)).then_some(requested)
    }

    /// Publishes that `request` (and every earlier one) is done. Release pairs with the
    /// requester's Acquire load: the sink flush before this happened before it returns.
    pub(crate) fn complete(&self, request: u64) {
        self.completed.store(request, Ordering::Release);
    }

    /// Whether shutdown has begun (Acquire pairs with the Release store in `shutdown`: the
    /// final request and the deadline are visible once this is true).
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// With `stopping()` true and no request being served: whether every request, the final
    /// one included, is complete, so the drain may exit.
    pub(crate) fn all_complete(&self) -> bool {
        let requested = self.requested.load(Ordering::Acquire);
        // Relaxed: only the drain writes `completed`.
        self.completed.load(Ordering::Relaxed) >= requested
    }

    /// Whether the shutdown deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        // Relaxed: see `shutdown`.
        let deadline = self.deadline_ns.load(Ordering::Relaxed);
        deadline != 0 && self.elapsed_ns() >= deadline
    }

    /// The drain's last act (or `shutdown`'s, for a drain thread that died without it).
    /// Release pairs with `has_exited` and the wait in `shutdown`.
    pub(crate) fn mark_exited(&self) {
        self.exited.store(true, Ordering::Release);
    }
}
