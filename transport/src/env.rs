//! The standard `OTEL_EXPORTER_OTLP_*` variables, read with the spec's precedence:
//! a setter called in code wins over the signal-specific variable (`..._TRACES_...` for
//! spans, `..._METRICS_...` for metrics, `..._LOGS_...` for log records), which wins over the
//! generic one, which wins over the default.
//!
//! | variable (generic / signal) | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; `/v1/traces` (`/v1/metrics`, `/v1/logs`) is appended | `http://localhost:4318` |
//! | `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` | full URL, used as is | |
//! | `OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_,LOGS_}HEADERS` | `key=value,...`, values percent-decoded | none |
//! | `OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_,LOGS_}COMPRESSION` | `gzip` or `none` | `none` |
//! | `OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_,LOGS_}TIMEOUT` | ms one attempt may take | 10000 |
//! | `OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_,LOGS_}PROTOCOL` | `http/protobuf` (`grpc`, `http/json`: an error) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_,LOGS_}CERTIFICATE` | PEM file of the CA to trust for `https://` | webpki roots |
//! | `OTEL_BSP_EXPORT_TIMEOUT` (traces) / `OTEL_METRIC_EXPORT_TIMEOUT` (metrics) / `OTEL_BLRP_EXPORT_TIMEOUT` (logs) | ms one batch may spend in retries, all attempts together | 30000 |
//!
//! An empty variable counts as unset. A value that does not parse fails with the variable's
//! name and the value, except header values, which are redacted (they are often credentials).
//! A protocol ringspan does not implement is an error ([`crate::Error::is_unsupported`]), never
//! a silent fallback to another protocol.

use std::time::Duration;

use crate::config::{
    header_pair, parse_endpoint, signal_url, Compression, ExporterConfig, Roots, Signal,
};
use crate::error::Error;

use ringspan::env_var as get;

/// `OTEL_EXPORTER_OTLP_{signal}_{suffix}` if set, else `OTEL_EXPORTER_OTLP_{suffix}`, with
/// the name of the one used.
fn pick(
    lookup: &impl Fn(&str) -> Option<String>,
    signal: Signal,
    suffix: &str,
) -> Option<(String, String)> {
    [
        format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.env_name()),
        format!("OTEL_EXPORTER_OTLP_{suffix}"),
    ]
    .into_iter()
    .find_map(|name| get(lookup, &name).map(|v| (name, v)))
}

pub(crate) fn millis(name: &str, v: &str) -> Result<Duration, Error> {
    match v.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        Ok(_) => Err(Error::config(name, v, "must be at least 1 ms")),
        Err(_) => Err(Error::config(
            name,
            v,
            "expected a whole number of milliseconds",
        )),
    }
}

/// Parses `key=value,key2=value2` (W3C baggage style: values percent-decoded).
fn headers(config: &mut ExporterConfig, name: &str, list: &str) -> Result<(), Error> {
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            // Show the key only: a malformed pair may still hold a secret after the key.
            let key: String = pair
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            return Err(Error::config(
                name,
                format!("{key}<redacted>"),
                "expected key=value pairs, comma-separated",
            ));
        };
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| {
                Error::config(
                    name,
                    format!("{}=<redacted>", k.trim()),
                    "the percent-encoded value is not UTF-8",
                )
            })?;
        let (n, v) = header_pair(name, k, &v)?;
        // A name given twice keeps its last value, as `ExporterConfig::header` does.
        config.headers.retain(|(old, _)| *old != n);
        config.headers.push((n, v));
    }
    Ok(())
}

impl ExporterConfig {
    /// The default config with the `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_EXPORT_TIMEOUT`
    /// variables applied (see [`crate::env`]). Setters called afterwards take precedence.
    ///
    /// # Errors
    /// A variable that does not parse, named with its value; `grpc` or `http/json` as the
    /// protocol ([`Error::is_unsupported`]).
    pub fn from_env() -> Result<Self, Error> {
        ringspan::from_process_env(|lookup| Self::from_lookup(lookup))
    }

    /// [`ExporterConfig::from_env`] with the variables read through `lookup`.
    ///
    /// # Errors
    /// As for [`ExporterConfig::from_env`].
    ///
    /// # Examples
    /// ```
    /// use ringspan_transport::ExporterConfig;
    /// let c = ExporterConfig::from_lookup(|name| match name {
    ///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(c.endpoint_setting(), "http://collector:4318/v1/traces");
    /// let grpc = ExporterConfig::from_lookup(|name| (name == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "grpc".into()));
    /// assert!(grpc.unwrap_err().is_unsupported());
    /// # Ok::<(), ringspan_transport::Error>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Self::signal_from_lookup(Signal::Traces, lookup)
    }

    /// [`ExporterConfig::from_env`] for `signal`: its own variables
    /// (`OTEL_EXPORTER_OTLP_METRICS_*` for [`Signal::Metrics`]) over the generic ones, its path
    /// appended to a generic endpoint, and its export timeout (`OTEL_METRIC_EXPORT_TIMEOUT`).
    ///
    /// # Errors
    /// As for [`ExporterConfig::from_env`].
    pub fn signal_from_env(signal: Signal) -> Result<Self, Error> {
        ringspan::from_process_env(|lookup| Self::signal_from_lookup(signal, lookup))
    }

    /// [`ExporterConfig::signal_from_env`] with the variables read through `lookup`.
    ///
    /// # Errors
    /// As for [`ExporterConfig::from_env`].
    pub fn signal_from_lookup(
        signal: Signal,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut c = ExporterConfig::for_signal(signal);
        let pick = |suffix: &str| pick(&lookup, signal, suffix);
        let own_endpoint = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.env_name());
        if let Some((name, p)) = pick("PROTOCOL") {
            match p.as_str() {
                "http/protobuf" => {}
                "grpc" | "http/json" => return Err(Error::unsupported(&name, p)),
                _ => {
                    return Err(Error::config(
                        name,
                        p,
                        "expected http/protobuf (or grpc, http/json, which ringspan lacks)",
                    ))
                }
            }
        }
        if let Some(url) = get(&lookup, &own_endpoint) {
            c.endpoint = parse_endpoint(&own_endpoint, &url)?;
        } else if let Some(url) = get(&lookup, "OTEL_EXPORTER_OTLP_ENDPOINT") {
            // Check the variable's own value first, so the message shows what was set.
            parse_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", &url)?;
            c.endpoint = parse_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", &signal_url(&url, signal))?;
        }
        if let Some((name, list)) = pick("HEADERS") {
            headers(&mut c, &name, &list)?;
        }
        if let Some((name, v)) = pick("COMPRESSION") {
            c.compression = match v.as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => return Err(Error::config(name, v, "expected gzip or none")),
            };
        }
        if let Some((name, v)) = pick("TIMEOUT") {
            c.timeout = millis(&name, &v)?;
        }
        if let Some((name, path)) = pick("CERTIFICATE") {
            // Read it now, so that a missing or empty file names the variable.
            crate::client::read_ca_file(path.as_ref()).map_err(|why| {
                Error::config(
                    &name,
                    &path,
                    format!("not a usable CA certificate file: {why}"),
                )
            })?;
            c.roots = Roots::CaFile(path.into());
        }
        let budget = match signal {
            Signal::Traces => "OTEL_BSP_EXPORT_TIMEOUT",
            Signal::Metrics => "OTEL_METRIC_EXPORT_TIMEOUT",
            Signal::Logs => "OTEL_BLRP_EXPORT_TIMEOUT",
        };
        if let Some(v) = get(&lookup, budget) {
            c.retry = c.retry.max_elapsed(millis(budget, &v)?);
            c.retry
                .validate()
                .map_err(|_| Error::config(budget, &v, "must be at most a day"))?;
        }
        Ok(c)
    }
}
