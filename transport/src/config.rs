//! The exporter's settings: a builder in code. [`crate::env`] fills one from the standard
//! `OTEL_EXPORTER_OTLP_*` variables; setters called afterwards win (code > signal-specific
//! variable > generic variable > default, as the OTLP exporter spec orders them).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Uri;

use crate::error::Error;
use crate::retry::RetryPolicy;

/// The OTLP/HTTP default for traces.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// The OTLP signal an exporter sends: it decides the path a base endpoint gets, the
/// signal-specific variables (`OTEL_EXPORTER_OTLP_TRACES_*`, `..._METRICS_*`, `..._LOGS_*`)
/// and how a partial success is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signal {
    /// Spans, to `/v1/traces`.
    #[default]
    Traces,
    /// Metric data points, to `/v1/metrics` (ringspan's own metrics, see
    /// [`crate::observe`]).
    Metrics,
    /// Log records, to `/v1/logs`.
    Logs,
}

impl Signal {
    /// The path appended to a base endpoint: `/v1/traces`, `/v1/metrics` or `/v1/logs`.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// The signal's part of its variables' names: `TRACES`, `METRICS` or `LOGS`.
    pub(crate) fn env_name(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }

    /// What its items are called in messages: `spans`, `data points` or `log records`.
    pub(crate) fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }
}

/// Request body compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Send the protobuf bytes as they are (the default, as in the spec).
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

/// Where the exporter gets the certificates it trusts for `https://` endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's root store compiled in (webpki-roots): the same on every machine.
    #[default]
    Webpki,
    /// The operating system's store (`/etc/ssl/certs` and friends, or `SSL_CERT_FILE`).
    Native,
    /// Only the certificates in this PEM file: a private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    CaFile(PathBuf),
}

/// Settings of an [`crate::HttpExporter`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringspan_transport::{Compression, ExporterConfig};
///
/// let config = ExporterConfig::default()
///     .endpoint("https://collector.example:4318/v1/traces")?
///     .header("authorization", "Bearer s3cret")?
///     .compression(Compression::Gzip)
///     .timeout(Duration::from_secs(5));
/// // Header values never show up in logs or debug output.
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), ringspan_transport::Error>(())
/// ```
#[derive(Clone)]
pub struct ExporterConfig {
    pub(crate) endpoint: Uri,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) compression: Compression,
    pub(crate) timeout: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) roots: Roots,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) signal: Signal,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            endpoint: Uri::from_static(DEFAULT_ENDPOINT),
            headers: Vec::new(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            max_in_flight: 2,
            retry: RetryPolicy::default(),
            roots: Roots::default(),
            http2_prior_knowledge: false,
            signal: Signal::Traces,
        }
    }
}

impl fmt::Debug for ExporterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are often credentials: print the names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ExporterConfig")
            .field("endpoint", &shown(&self.endpoint))
            .field("headers", &names)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("retry", &self.retry)
            .field("roots", &self.roots)
            .field("http2_prior_knowledge", &self.http2_prior_knowledge)
            .field("signal", &self.signal)
            .finish()
    }
}

/// Parses a full traces URL: `http` or `https`, with a host. Errors show the URL redacted
/// ([`redact`]): no userinfo, no query.
pub(crate) fn parse_endpoint(setting: &str, url: &str) -> Result<Uri, Error> {
    let uri: Uri = url
        .parse()
        .map_err(|_| Error::config(setting, redact(url), "not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(Error::config(
                setting,
                redact(url),
                "expected an http:// or https:// URL",
            ))
        }
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Error::config(
            setting,
            redact(url),
            "credentials in the URL are not supported; send them in a header",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::config(setting, redact(url), "the URL has no host"));
    }
    Ok(uri)
}

/// `url` as it may appear in an error or a log line: userinfo and everything from the query
/// or fragment on replaced by `<redacted>` (either may carry a credential). Works on text that
/// does not parse as a URL too.
pub(crate) fn redact(url: &str) -> String {
    let (head, rest) = match url.find(['?', '#']) {
        Some(i) => (&url[..i], Some(&url[i..i + 1])),
        None => (url, None),
    };
    let (scheme, after) = match head.find("://") {
        Some(i) => (&head[..i + 3], &head[i + 3..]),
        None => ("", head),
    };
    let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
    let authority = match authority.rfind('@') {
        Some(i) => format!("<redacted>{}", &authority[i..]),
        None => authority.to_owned(),
    };
    let mut shown = format!("{scheme}{authority}{path}");
    if let Some(sep) = rest {
        shown.push_str(sep);
        shown.push_str("<redacted>");
    }
    shown
}

impl ExporterConfig {
    /// The default config for `signal`: its endpoint is `http://localhost:4318` with the
    /// signal's path, and [`ExporterConfig::base_endpoint`] appends that path.
    pub fn for_signal(signal: Signal) -> Self {
        let endpoint = signal_url("http://localhost:4318", signal);
        ExporterConfig {
            // A constant URL with a host: it parses.
            endpoint: endpoint
                .parse()
                .unwrap_or(Uri::from_static(DEFAULT_ENDPOINT)),
            signal,
            ..ExporterConfig::default()
        }
    }

    /// The retry policy.
    pub fn retry_setting(&self) -> RetryPolicy {
        self.retry
    }

    /// The signal this config sends.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The full URL requests are POSTed to, path included (default
    /// `http://localhost:4318/v1/traces`). Nothing is appended to it.
    ///
    /// # Errors
    /// Not an `http://` or `https://` URL with a host.
    pub fn endpoint(mut self, url: &str) -> Result<Self, Error> {
        self.endpoint = parse_endpoint("endpoint", url)?;
        Ok(self)
    }

    /// A base URL: the signal's path (`/v1/traces`) is appended to its path, as for `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (`http://collector:4318` and `http://collector:4318/` both give
    /// `http://collector:4318/v1/traces`).
    ///
    /// # Errors
    /// Not an `http://` or `https://` URL with a host.
    pub fn base_endpoint(mut self, url: &str) -> Result<Self, Error> {
        self.endpoint = parse_endpoint("base endpoint", &signal_url(url, self.signal))?;
        Ok(self)
    }

    /// Sets a header sent with every request (for example an API key), replacing any value
    /// of that name from the environment. Its value is marked sensitive and never printed.
    ///
    /// # Errors
    /// A name or value HTTP does not allow (the value is not repeated in the message).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let (n, v) = header_pair("header", name, value)?;
        self.headers.retain(|(old, _)| old != n);
        self.headers.push((n, v));
        Ok(self)
    }

    /// Drops the headers set so far (from code or the environment).
    pub fn clear_headers(mut self) -> Self {
        self.headers.clear();
        self
    }

    /// Request body compression (default none).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// How long one attempt may take, from connecting to reading the response (default 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Requests sent at once (default 2). More requests wait, holding their pooled buffers,
    /// which is what makes the drain stop when the collector is slow.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// When and how long to retry (see [`RetryPolicy`]).
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// The certificates trusted for `https://` endpoints (default: webpki roots).
    pub fn roots(mut self, r: Roots) -> Self {
        self.roots = r;
        self
    }

    /// Speak HTTP/2 without negotiation ("prior knowledge", h2c) to an `http://` endpoint.
    /// `https://` endpoints negotiate HTTP/2 or HTTP/1.1 by ALPN regardless.
    pub fn http2_prior_knowledge(mut self, on: bool) -> Self {
        self.http2_prior_knowledge = on;
        self
    }

    /// The URL requests go to.
    pub fn endpoint_setting(&self) -> &Uri {
        &self.endpoint
    }

    /// The header names set (values are not exposed).
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|(n, _)| n.as_str())
    }

    /// The value of header `name`, for checking a config; it stays marked sensitive.
    pub fn header_value(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The compression setting.
    pub fn compression_setting(&self) -> Compression {
        self.compression
    }

    /// The per-attempt timeout.
    pub fn timeout_setting(&self) -> Duration {
        self.timeout
    }

    /// The trust roots setting.
    pub fn roots_setting(&self) -> &Roots {
        &self.roots
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.timeout.is_zero() {
            return Err(Error::config(
                "exporter timeout",
                "0s",
                "must be longer than zero",
            ));
        }
        if !(1..=4096).contains(&self.max_in_flight) {
            return Err(Error::config(
                "max_in_flight",
                self.max_in_flight,
                "must be between 1 and 4096",
            ));
        }
        self.retry.validate()
    }
}

impl ExporterConfig {
    /// This (span) exporter's settings for log records: the same, with `/v1/logs` in place of
    /// a trailing `/v1/traces` in the endpoint's path (a query stays); `None` when the path
    /// does not end so (a custom URL whose logs counterpart cannot be guessed).
    pub(crate) fn follow_for_logs(&self) -> Option<ExporterConfig> {
        let url = self.endpoint.to_string();
        let (path, rest) = url.split_at(url.find(['?', '#']).unwrap_or(url.len()));
        let base = path.strip_suffix(Signal::Traces.path())?;
        let mut c = self.clone();
        c.endpoint = format!("{base}{}{rest}", Signal::Logs.path())
            .parse()
            .ok()?;
        c.signal = Signal::Logs;
        Some(c)
    }
}

/// `uri` as it may be printed: userinfo and query redacted (see [`redact`]).
pub(crate) fn shown(uri: &Uri) -> String {
    redact(&uri.to_string())
}

/// `base` with the signal's path (`/v1/traces`, `/v1/metrics`) appended to its path; a query
/// or fragment stays at the end.
pub(crate) fn signal_url(base: &str, signal: Signal) -> String {
    let (path, rest) = base.split_at(base.find(['?', '#']).unwrap_or(base.len()));
    format!("{}{}{rest}", path.trim_end_matches('/'), signal.path())
}

pub(crate) fn header_pair(
    setting: &str,
    name: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), Error> {
    // An invalid name may be a whole `Name: secret` line: show none of it.
    let n = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        Error::config(
            setting,
            "<redacted>",
            "a header name is not a valid HTTP header name",
        )
    })?;
    let mut v = HeaderValue::from_str(value.trim()).map_err(|_| {
        Error::config(
            setting,
            format!("{n}=<redacted>"),
            "the value has characters HTTP headers cannot carry",
        )
    })?;
    v.set_sensitive(true);
    Ok((n, v))
}
