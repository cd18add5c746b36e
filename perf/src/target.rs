//! Where the spans go: the embedded OTLP/HTTP receiver (default), or an external endpoint.
//! The embedded one can be taken down and brought back on the same address (`--faults`);
//! its counts add up over every incarnation.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use ringspan_receiver::{Fault, Receiver, ReceiverConfig};

/// What the receiver accepted and rejected, over all its incarnations.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    pub accepted: u64,
    pub rejected: u64,
    pub requests: u64,
    pub bytes: u64,
}

impl Received {
    fn plus(self, o: Received) -> Received {
        Received {
            accepted: self.accepted + o.accepted,
            rejected: self.rejected + o.rejected,
            requests: self.requests + o.requests,
            bytes: self.bytes + o.bytes,
        }
    }
}

struct Embedded {
    addr: SocketAddr,
    /// `None` while it is down.
    live: Option<Receiver>,
    /// The counts of incarnations already stopped.
    past: Received,
}

pub struct Target {
    /// Base URL (`/v1/traces` is appended).
    pub url: String,
    embedded: Option<Mutex<Embedded>>,
}

fn config(addr: SocketAddr) -> ReceiverConfig {
    // Its threads stand in for a remote collector, so their allocations are left out of the
    // count.
    ReceiverConfig::default()
        .addr(addr)
        .on_thread_start(ringspan_alloc_counter::exclude_this_thread)
}

fn counts(r: &Receiver) -> Received {
    let c = r.counts();
    Received {
        accepted: c.accepted_spans(),
        rejected: c.rejected_spans,
        requests: c.requests,
        bytes: c.bytes,
    }
}

impl Target {
    /// Starts the embedded receiver on loopback.
    pub fn embedded() -> Result<Target, String> {
        let receiver = Receiver::start(config(SocketAddr::from(([127, 0, 0, 1], 0))))
            .map_err(|e| e.to_string())?;
        Ok(Target {
            url: receiver.endpoint(),
            embedded: Some(Mutex::new(Embedded {
                addr: receiver.addr(),
                live: Some(receiver),
                past: Received::default(),
            })),
        })
    }

    pub fn external(url: &str) -> Target {
        Target {
            url: url.to_owned(),
            embedded: None,
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The receiver's CPU role and thread name prefix (Linux cuts names to 15 characters), for
    /// the embedded receiver only: an external endpoint's CPU is not ours to report.
    pub fn cpu_role(&self) -> Option<(&'static str, &'static str)> {
        self.is_embedded()
            .then_some(("receiver", "ringspan-receiv"))
    }

    /// The embedded receiver's counts over all its incarnations (`None` for an external
    /// endpoint).
    pub fn counts(&self) -> Option<Received> {
        let e = self
            .embedded
            .as_ref()?
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = e.live.as_ref().map(counts).unwrap_or_default();
        Some(e.past.plus(now))
    }

    /// Makes the embedded receiver misbehave for its next `times` requests.
    pub fn inject(&self, fault: Fault, times: usize) {
        if let Some(e) = &self.embedded {
            let e = e.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = &e.live {
                r.inject(fault, times);
            }
        }
    }

    /// Takes the embedded receiver down (closing every connection), waits `down`, and starts
    /// it again on the same address.
    pub fn flap(&self, down: Duration) -> Result<(), String> {
        let Some(e) = &self.embedded else {
            return Ok(());
        };
        let addr = {
            let mut e = e.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut r) = e.live.take() {
                r.stop();
                e.past = e.past.plus(counts(&r));
            }
            e.addr
        };
        std::thread::sleep(down);
        let receiver = Receiver::start(config(addr)).map_err(|e| e.to_string())?;
        e.lock().unwrap_or_else(|e| e.into_inner()).live = Some(receiver);
        Ok(())
    }
}
