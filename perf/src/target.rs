//! Where the spans go: the embedded OTLP/HTTP receiver (default), or an external endpoint.

use ringspan_receiver::{Receiver, ReceiverConfig, ReceiverCounts};

pub struct Target {
    /// Base URL (`/v1/traces` is appended).
    pub url: String,
    receiver: Option<Receiver>,
}

impl Target {
    /// Starts the embedded receiver on loopback. Its threads stand in for a remote collector,
    /// so their allocations are left out of the count.
    pub fn embedded() -> Result<Target, String> {
        let receiver = Receiver::start(
            ReceiverConfig::default().on_thread_start(ringspan_alloc_counter::exclude_this_thread),
        )
        .map_err(|e| e.to_string())?;
        Ok(Target {
            url: receiver.endpoint(),
            receiver: Some(receiver),
        })
    }

    pub fn external(url: &str) -> Target {
        Target {
            url: url.to_owned(),
            receiver: None,
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.receiver.is_some()
    }

    /// The receiver's CPU role and thread name prefix (Linux cuts names to 15 characters), for
    /// the embedded receiver only: an external endpoint's CPU is not ours to report.
    pub fn cpu_role(&self) -> Option<(&'static str, &'static str)> {
        self.is_embedded()
            .then_some(("receiver", "ringspan-receiv"))
    }

    /// The embedded receiver's counts (`None` for an external endpoint).
    pub fn counts(&self) -> Option<ReceiverCounts> {
        self.receiver.as_ref().map(Receiver::counts)
    }
}
