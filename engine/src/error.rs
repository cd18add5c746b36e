//! The engine's error type for everything off the hot path (configuration, claiming producers,
//! flush and shutdown). The hot path reports through counters and small enums, never this.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// An error from the engine: one opaque type with `is_*` queries and a message a person can
/// act on.
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Config {
        setting: Cow<'static, str>,
        value: String,
        why: Cow<'static, str>,
    },
    CoreTaken(usize),
    NoSuchCore(usize),
    PinFailed(usize),
    NoFreeRing(usize),
    Timeout {
        what: &'static str,
        after: Duration,
    },
    ShutDown,
    Spawn(std::io::Error),
}

impl Error {
    pub(crate) fn config(
        setting: impl Into<Cow<'static, str>>,
        value: impl fmt::Display,
        why: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error {
            kind: Kind::Config {
                setting: setting.into(),
                value: value.to_string(),
                why: why.into(),
            },
        }
    }
    pub(crate) fn core_taken(core: usize) -> Self {
        Error {
            kind: Kind::CoreTaken(core),
        }
    }
    pub(crate) fn no_such_core(core: usize) -> Self {
        Error {
            kind: Kind::NoSuchCore(core),
        }
    }
    pub(crate) fn pin_failed(core: usize) -> Self {
        Error {
            kind: Kind::PinFailed(core),
        }
    }
    pub(crate) fn no_free_ring(rings: usize) -> Self {
        Error {
            kind: Kind::NoFreeRing(rings),
        }
    }
    pub(crate) fn timeout(what: &'static str, after: Duration) -> Self {
        Error {
            kind: Kind::Timeout { what, after },
        }
    }
    pub(crate) fn shut_down() -> Self {
        Error {
            kind: Kind::ShutDown,
        }
    }
    pub(crate) fn spawn(e: std::io::Error) -> Self {
        Error {
            kind: Kind::Spawn(e),
        }
    }

    /// A configuration value was rejected.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config { .. })
    }
    /// Another live producer already owns the requested core.
    pub fn is_core_taken(&self) -> bool {
        matches!(self.kind, Kind::CoreTaken(_))
    }
    /// The core does not exist or could not be pinned to.
    pub fn is_pin_failure(&self) -> bool {
        matches!(self.kind, Kind::NoSuchCore(_) | Kind::PinFailed(_))
    }
    /// Every ring of the pool is claimed.
    pub fn is_no_free_ring(&self) -> bool {
        matches!(self.kind, Kind::NoFreeRing(_))
    }
    /// A flush or shutdown did not finish before its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout { .. })
    }
    /// The engine was already shut down.
    pub fn is_shut_down(&self) -> bool {
        matches!(self.kind, Kind::ShutDown)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Config {
                setting,
                value,
                why,
            } => {
                write!(f, "invalid {setting} = {value:?}: {why}")
            }
            Kind::CoreTaken(c) => write!(
                f,
                "core {c} already has a live producer; drop it first or pick another core"
            ),
            Kind::NoSuchCore(c) => {
                write!(f, "core {c} is not among the cores this process may run on")
            }
            Kind::PinFailed(c) => write!(f, "could not pin the current thread to core {c}"),
            Kind::NoFreeRing(n) => write!(
                f,
                "all {n} rings are claimed; raise the ring count or drop idle producers"
            ),
            Kind::Timeout { what, after } => write!(f, "{what} did not finish within {after:?}"),
            Kind::ShutDown => f.write_str("the engine is shut down"),
            Kind::Spawn(e) => write!(f, "could not start the drain thread: {e}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ringspan::Error({self})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
