//! The transport's error type: configuration, start-up and shutdown failures. Export failures
//! at run time are never errors returned to anyone: they are counted ([`crate::ExportStats`]).

use std::fmt;
use std::time::Duration;

/// An error from setting up or shutting down the exporter or a pipeline: one
/// opaque type with `is_*` queries and a message a person can act on.
pub struct Error {
    kind: Kind,
}

enum Kind {
    Config {
        setting: String,
        value: String,
        why: String,
    },
    Unsupported {
        setting: String,
        value: String,
    },
    Engine(ringspan::Error),
    Io {
        what: String,
        source: std::io::Error,
    },
    Timeout {
        what: &'static str,
        after: Duration,
    },
}

impl Error {
    pub(crate) fn config(
        setting: impl Into<String>,
        value: impl fmt::Display,
        why: impl Into<String>,
    ) -> Self {
        Error {
            kind: Kind::Config {
                setting: setting.into(),
                value: value.to_string(),
                why: why.into(),
            },
        }
    }
    pub(crate) fn unsupported(setting: &str, value: impl fmt::Display) -> Self {
        Error {
            kind: Kind::Unsupported {
                setting: setting.to_owned(),
                value: value.to_string(),
            },
        }
    }
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error {
            kind: Kind::Io {
                what: what.into(),
                source,
            },
        }
    }
    pub(crate) fn timeout(what: &'static str, after: Duration) -> Self {
        Error {
            kind: Kind::Timeout { what, after },
        }
    }

    /// A configuration value (set in code or read from a variable) was rejected.
    pub fn is_config(&self) -> bool {
        match &self.kind {
            Kind::Config { .. } | Kind::Unsupported { .. } => true,
            Kind::Engine(e) => e.is_config(),
            _ => false,
        }
    }
    /// The setting names something ringspan does not implement yet (the `grpc` protocol).
    pub fn is_unsupported(&self) -> bool {
        matches!(self.kind, Kind::Unsupported { .. })
    }
    /// A socket, file or thread could not be opened or started.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io { .. })
    }
    /// A shutdown did not finish within its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout { .. })
            || matches!(&self.kind, Kind::Engine(e) if e.is_timeout())
    }
    /// The engine's own error, when the engine refused.
    pub fn engine(&self) -> Option<&ringspan::Error> {
        match &self.kind {
            Kind::Engine(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ringspan::Error> for Error {
    fn from(e: ringspan::Error) -> Self {
        Error {
            kind: Kind::Engine(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Config {
                setting,
                value,
                why,
            } => write!(f, "invalid {setting} = {value:?}: {why}"),
            Kind::Unsupported { setting, value } => write!(
                f,
                "{setting} = {value:?} is not supported by ringspan yet; use \"http/protobuf\" \
                 (an OTLP/HTTP endpoint, usually port 4318)"
            ),
            Kind::Engine(e) => e.fmt(f),
            Kind::Io { what, source } => write!(f, "{what}: {source}"),
            Kind::Timeout { what, after } => write!(f, "{what} did not finish within {after:?}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ringspan_transport::Error({self})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Engine(e) => Some(e),
            Kind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
