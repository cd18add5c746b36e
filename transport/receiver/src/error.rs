//! The receiver's one error: an I/O step that failed, with what it was doing.

use std::fmt;

/// Starting the receiver failed: what it was doing (binding its address, starting its
/// runtime, reading a TLS identity) and the I/O error underneath.
pub struct Error {
    what: String,
    source: std::io::Error,
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error {
            what: what.into(),
            source,
        }
    }

    /// The kind of the I/O error underneath (`AddrInUse` for a taken port, say).
    pub fn io_kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
