//! Where the spans go: the embedded OTLP/HTTP receiver (default), the same receiver in a
//! process of its own (`--faults`, see `child.rs`), or an external endpoint. The embedded
//! one can be taken down and brought back on the same address; its counts add up over every
//! incarnation.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use ringspan_receiver::{Fault, Keep, MetricsRequest, Receiver, ReceiverConfig};

use crate::child::{fault_words, Child};

/// What the receiver accepted and rejected (spans), and the log records it got, over all its
/// incarnations.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    pub accepted: u64,
    pub rejected: u64,
    pub requests: u64,
    pub bytes: u64,
    /// Log records on `/v1/logs`.
    pub logs: u64,
}

impl Received {
    pub fn plus(self, o: Received) -> Received {
        Received {
            accepted: self.accepted + o.accepted,
            rejected: self.rejected + o.rejected,
            requests: self.requests + o.requests,
            bytes: self.bytes + o.bytes,
            logs: self.logs + o.logs,
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

enum Kind {
    External,
    Embedded(Mutex<Embedded>),
    /// The child process, and its pid (read without the lock, which a `down` holds for
    /// seconds).
    Child(Mutex<Child>, u32),
}

pub struct Target {
    /// Base URL (`/v1/traces` is appended).
    pub url: String,
    kind: Kind,
}

fn config(addr: SocketAddr) -> ReceiverConfig {
    // Its threads stand in for a remote collector, so their allocations are left out of the
    // count.
    // Spans counted, `/v1/metrics` requests kept (`--signal metrics` reads them back).
    ReceiverConfig::default()
        .addr(addr)
        .keep(Keep::Metrics)
        .on_thread_start(ringspan_alloc_counter::exclude_this_thread)
}

/// A receiver's counts, as the harness reads them.
pub fn counts(r: &Receiver) -> Received {
    let c = r.counts();
    Received {
        accepted: c.accepted_spans(),
        rejected: c.rejected_spans,
        requests: c.requests,
        bytes: c.bytes,
        logs: c.log_records,
    }
}

impl Target {
    /// Starts the embedded receiver on loopback.
    pub fn embedded() -> Result<Target, String> {
        let receiver = Receiver::start(config(SocketAddr::from(([127, 0, 0, 1], 0))))
            .map_err(|e| e.to_string())?;
        Ok(Target {
            url: receiver.endpoint(),
            kind: Kind::Embedded(Mutex::new(Embedded {
                addr: receiver.addr(),
                live: Some(receiver),
                past: Received::default(),
            })),
        })
    }

    /// Starts the receiver in a process of its own, on loopback.
    pub fn child() -> Result<Target, String> {
        let child = Child::spawn()?;
        let pid = child.pid();
        Ok(Target {
            url: format!("http://{}", child.addr),
            kind: Kind::Child(Mutex::new(child), pid),
        })
    }

    pub fn external(url: &str) -> Target {
        Target {
            url: url.to_owned(),
            kind: Kind::External,
        }
    }

    /// The `/v1/metrics` requests the embedded receiver accepted (none for the others).
    pub fn take_metrics(&self) -> Vec<MetricsRequest> {
        match &self.kind {
            Kind::Embedded(e) => {
                let e = e.lock().unwrap_or_else(|e| e.into_inner());
                e.live
                    .as_ref()
                    .map(Receiver::take_metrics)
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// How the receiver runs, for the report's header.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::External => "",
            Kind::Embedded(_) => " (embedded receiver)",
            Kind::Child(..) => " (embedded receiver, own process)",
        }
    }

    /// The receiver process's resident set size, when it runs in a process of its own.
    pub fn receiver_rss(&self) -> Option<u64> {
        match &self.kind {
            Kind::Child(_, pid) => Some(crate::procfs::rss_bytes_of(*pid)),
            _ => None,
        }
    }

    /// The receiver's CPU role and thread name prefix (Linux cuts names to 15 characters), for
    /// the receiver in this process only: another process's CPU is not in our threads.
    pub fn cpu_role(&self) -> Option<(&'static str, &'static str)> {
        matches!(self.kind, Kind::Embedded(_)).then_some(("receiver", "ringspan-receiv"))
    }

    /// The embedded receiver's counts over all its incarnations (`None` for an external
    /// endpoint).
    pub fn counts(&self) -> Result<Option<Received>, String> {
        match &self.kind {
            Kind::External => Ok(None),
            Kind::Embedded(e) => {
                let e = e.lock().unwrap_or_else(|e| e.into_inner());
                let now = e.live.as_ref().map(counts).unwrap_or_default();
                Ok(Some(e.past.plus(now)))
            }
            Kind::Child(c, _) => c
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .counts()
                .map(Some),
        }
    }

    /// Makes the embedded receiver misbehave for its next `times` requests.
    pub fn inject(&self, fault: Fault, times: usize) -> Result<(), String> {
        match &self.kind {
            Kind::External => {}
            Kind::Embedded(e) => {
                let e = e.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(r) = &e.live {
                    r.inject(fault, times);
                }
            }
            Kind::Child(c, _) => {
                let command = format!("inject {times} {}", fault_words(&fault)?);
                c.lock().unwrap_or_else(|e| e.into_inner()).ask(&command)?;
            }
        }
        Ok(())
    }

    /// Takes the embedded receiver down (closing every connection), waits `down`, and starts
    /// it again on the same address.
    pub fn flap(&self, down: Duration) -> Result<(), String> {
        let e = match &self.kind {
            Kind::External => return Ok(()),
            Kind::Child(c, _) => {
                let command = format!("down {}", down.as_millis());
                return c
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .ask(&command)
                    .map(drop);
            }
            Kind::Embedded(e) => e,
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
