//! The operator's side (feature `admin`): an HTTP endpoint that shows what the pipeline is
//! doing, off by default.
//!
//! - `GET /metrics`: every counter the engine, the encoder and the exporter keep, and gauges
//!   of the rings and the process, in the OpenMetrics text format (through the
//!   `prometheus-client` crate); names follow the OpenTelemetry semantic conventions for SDK
//!   metrics where one exists (`otel_sdk_processor_span_*`, `otel_sdk_exporter_span_*`), and
//!   `ringspan_*` otherwise. See `metrics.rs` for the list.
//! - `GET /debug/pprof/profile?seconds=N` (feature `profile`): a CPU profile in pprof's
//!   protobuf format, for `go tool pprof` (see `profile.rs`).
//! - `GET /debug/pprof/heap`: live and total allocations by size class, from the counting
//!   allocator if one was given ([`AdminConfig::heap`]; 404 otherwise), as text (see
//!   `heap.rs`).
//! - `GET /debug/`: an HTML page (no JavaScript) with the same figures, for a browser.
//!
//! It binds `127.0.0.1` unless told otherwise. Any other address needs a bearer token, and
//! with a token set every request must carry `Authorization: Bearer <token>` (401 otherwise).
//! The token never appears in an error, a log line or `Debug` output. Without a token, a
//! request must name the server as `localhost` or a loopback address in its `Host` header
//! (403 otherwise): a web page the operator visits cannot reach the endpoint through a name
//! of its own that resolves to 127.0.0.1 (DNS rebinding).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RINGSPAN_ADMIN_PORT` | unset: no endpoint | the port to listen on (`0`: any free port) |
//! | `RINGSPAN_ADMIN_HOST` | `127.0.0.1` | the address to bind; not a loopback address only with a token |
//! | `RINGSPAN_ADMIN_TOKEN` | unset | the bearer token every request must carry |
//!
//! It runs on a thread of its own (`ringspan-admin`) with a one-thread tokio runtime, apart
//! from the exporter's, and reads the counters only when asked: nothing on the hot path.

mod heap;
mod metrics;
mod page;
#[cfg(feature = "profile")]
mod profile;
mod serve;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

pub use crate::observe::HeapStats;

use crate::error::Error;
use crate::Pipeline;

/// Settings of the admin endpoint.
#[derive(Clone)]
pub struct AdminConfig {
    addr: SocketAddr,
    token: Option<Arc<str>>,
    heap: Option<&'static dyn HeapStats>,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("heap", &self.heap.is_some())
            .finish()
    }
}

impl Default for AdminConfig {
    /// `127.0.0.1:0` (a free loopback port), no token.
    fn default() -> Self {
        AdminConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            token: None,
            heap: None,
        }
    }
}

/// What a bearer token may hold: RFC 6750's `b64token` characters.
fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

impl AdminConfig {
    /// The address to listen on. Binding anything but a loopback address needs a token
    /// ([`AdminConfig::token`]); [`Admin::start`] refuses otherwise.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The process's counting allocator (`ringspan_alloc_counter::CountingAlloc`, installed
    /// as `#[global_allocator]`): `/debug/pprof/heap` then shows live and total allocations
    /// by size class, and `/metrics` their totals.
    pub fn heap(mut self, allocator: &'static dyn HeapStats) -> Self {
        self.heap = Some(allocator);
        self
    }

    /// The bearer token every request must carry.
    ///
    /// # Errors
    /// A configuration error if it is empty or holds characters a bearer token cannot
    /// (the error does not show it).
    pub fn token(self, token: &str) -> Result<Self, Error> {
        self.set_token(token, "admin token")
    }

    /// [`AdminConfig::token`], with an error that names `setting` (never the token).
    fn set_token(mut self, token: &str, setting: &str) -> Result<Self, Error> {
        if !valid_token(token) {
            return Err(Error::config(
                setting.to_owned(),
                "<hidden>",
                "expected letters, digits and -._~+/= only, at least one",
            ));
        }
        self.token = Some(token.into());
        Ok(self)
    }

    /// Reads `RINGSPAN_ADMIN_PORT`, `RINGSPAN_ADMIN_HOST` and `RINGSPAN_ADMIN_TOKEN` through
    /// `lookup`; `Ok(None)` when no port is set (the endpoint stays off).
    ///
    /// # Errors
    /// A configuration error naming the variable whose value does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let Some(port) = lookup("RINGSPAN_ADMIN_PORT") else {
            return Ok(None);
        };
        let port: u16 = port.trim().parse().map_err(|_| {
            Error::config("RINGSPAN_ADMIN_PORT", &port, "expected a port, 0 to 65535")
        })?;
        let host: IpAddr = match lookup("RINGSPAN_ADMIN_HOST") {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(h) => h.trim().parse().map_err(|_| {
                Error::config(
                    "RINGSPAN_ADMIN_HOST",
                    &h,
                    "expected an IP address such as 127.0.0.1 or ::1",
                )
            })?,
        };
        let mut config = AdminConfig::default().addr(SocketAddr::new(host, port));
        if let Some(t) = lookup("RINGSPAN_ADMIN_TOKEN") {
            config = config.set_token(&t, "RINGSPAN_ADMIN_TOKEN")?;
        }
        Ok(Some(config))
    }

    /// [`AdminConfig::from_lookup`] over the process's environment.
    ///
    /// # Errors
    /// As `from_lookup`, and for a variable that is not UTF-8.
    pub fn from_env() -> Result<Option<Self>, Error> {
        ringspan::from_process_env(|lookup| Self::from_lookup(lookup))
    }

    fn check(&self) -> Result<(), Error> {
        if !self.addr.ip().is_loopback() && self.token.is_none() {
            return Err(Error::config(
                "admin address",
                self.addr,
                "not a loopback address: anyone who can reach it could read the counters; \
                 set a token (RINGSPAN_ADMIN_TOKEN) to bind it",
            ));
        }
        Ok(())
    }
}

/// A running admin endpoint. Dropping it stops it.
pub struct Admin {
    addr: SocketAddr,
    server: Option<serve::Server>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("addr", &self.addr).finish()
    }
}

impl Admin {
    /// Binds the endpoint and starts serving `pipeline`'s figures.
    ///
    /// # Errors
    /// A configuration error for a non-loopback address without a token; an I/O error if
    /// the address cannot be bound or the thread cannot start.
    pub fn start(pipeline: Arc<Pipeline>, config: AdminConfig) -> Result<Admin, Error> {
        config.check()?;
        let server = serve::Server::start(pipeline, &config)?;
        Ok(Admin {
            addr: server.addr(),
            server: Some(server),
        })
    }

    /// The address it listens on (with the port chosen, if it was 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the thread (at most a second).
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn off_unless_a_port_is_set() {
        assert!(AdminConfig::from_lookup(lookup(&[])).unwrap().is_none());
        let c = AdminConfig::from_lookup(lookup(&[("RINGSPAN_ADMIN_PORT", "9464")]))
            .unwrap()
            .unwrap();
        assert_eq!(c.addr, "127.0.0.1:9464".parse().unwrap());
    }

    #[test]
    fn bad_values_name_the_variable_and_never_show_the_token() {
        for (vars, name) in [
            (
                &[("RINGSPAN_ADMIN_PORT", "http")][..],
                "RINGSPAN_ADMIN_PORT",
            ),
            (
                &[
                    ("RINGSPAN_ADMIN_PORT", "1"),
                    ("RINGSPAN_ADMIN_HOST", "localhost"),
                ][..],
                "RINGSPAN_ADMIN_HOST",
            ),
            (
                &[
                    ("RINGSPAN_ADMIN_PORT", "1"),
                    ("RINGSPAN_ADMIN_TOKEN", "se cret"),
                ][..],
                "RINGSPAN_ADMIN_TOKEN",
            ),
        ] {
            let e = AdminConfig::from_lookup(lookup(vars))
                .unwrap_err()
                .to_string();
            assert!(e.contains(name), "{e}");
            assert!(!e.contains("se cret"), "{e}");
        }
        let c = AdminConfig::default().token("s3cret-token").unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn a_public_address_needs_a_token() {
        let public = AdminConfig::default().addr("0.0.0.0:0".parse().unwrap());
        let e = public.check().unwrap_err();
        assert!(e.is_config() && e.to_string().contains("0.0.0.0"), "{e}");
        assert!(public.token("t0ken").unwrap().check().is_ok());
        assert!(AdminConfig::default().check().is_ok());
    }
}
