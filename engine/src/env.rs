//! The standard `OTEL_*` environment variables the engine and the encoder honour.
//!
//! Precedence follows the OpenTelemetry spec: values set in code win over the environment, which
//! wins over the defaults. `from_env` gives a config whose fields come from the environment
//! (or the defaults); any setter called on it afterwards overrides them.
//!
//! The variables and their defaults are listed in the crate docs
//! (`lib.rs`, "Configuration from the environment").
//!
//! `OTEL_BSP_EXPORT_TIMEOUT` and the `OTEL_EXPORTER_OTLP_*` variables belong to the exporter.
//! An empty variable counts as unset, as the spec asks. Anything else that does not parse is an
//! error naming the variable and its value: a typo fails at start-up instead of running with
//! a default nobody chose.

use std::time::Duration;

use crate::config::{per_ring, EngineConfig};
use crate::error::Error;
use crate::otlp::{OtlpConfig, Resource};
use crate::produce::sampler::Sampler;

/// Runs `read` (a `from_lookup`) on the process environment. A variable it reads whose value
/// is not UTF-8 is an error naming it, never silently taken as unset.
///
/// # Errors
/// What `read` returns, or the first variable it read that is not UTF-8.
///
/// # Examples
/// ```
/// use ringspan::{from_process_env, EngineConfig};
/// let config = from_process_env(|lookup| EngineConfig::from_lookup(lookup))?;
/// # Ok::<(), ringspan::Error>(())
/// ```
pub fn from_process_env<T, E: From<Error>>(
    read: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> Result<T, E> {
    let not_unicode = std::cell::RefCell::new(None);
    let lookup = |name: &str| match std::env::var(name) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            not_unicode
                .borrow_mut()
                .get_or_insert_with(|| name.to_owned());
            None
        }
    };
    let result = read(&lookup);
    if let Some(name) = not_unicode.into_inner() {
        // The value is not shown: it may be a credential, and it is not text anyway.
        return Err(Error::config(name, "<not UTF-8>", "the value must be UTF-8 text").into());
    }
    result
}

/// Reads one variable through `lookup`, trimmed; an empty value counts as unset, as the spec
/// asks. Shared with the exporter's variables (`ringspan-transport`).
pub fn var(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, Error> {
    match var(lookup, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::config(name, v, "expected a whole number")),
    }
}

fn sampler(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<Sampler>, Error> {
    let Some(name) = var(lookup, "OTEL_TRACES_SAMPLER") else {
        return Ok(None);
    };
    let ratio = || -> Result<Sampler, Error> {
        let arg = var(lookup, "OTEL_TRACES_SAMPLER_ARG");
        let r = match &arg {
            None => 1.0,
            Some(v) => v.parse::<f64>().map_err(|_| {
                Error::config(
                    "OTEL_TRACES_SAMPLER_ARG",
                    v,
                    "expected a ratio between 0 and 1",
                )
            })?,
        };
        Sampler::trace_id_ratio(r).map_err(|_| {
            Error::config(
                "OTEL_TRACES_SAMPLER_ARG",
                arg.unwrap_or_default(),
                "expected a ratio between 0 and 1",
            )
        })
    };
    let s =
        match name.as_str() {
            "always_on" => Sampler::always_on(),
            "always_off" => Sampler::always_off(),
            "traceidratio" => ratio()?,
            "parentbased_always_on" => Sampler::parent_based(Sampler::always_on()),
            "parentbased_always_off" => Sampler::parent_based(Sampler::always_off()),
            "parentbased_traceidratio" => Sampler::parent_based(ratio()?),
            _ => return Err(Error::config(
                "OTEL_TRACES_SAMPLER",
                name,
                "not a sampler ringspan has (always_on, always_off, traceidratio, parentbased_*)",
            )),
        };
    Ok(Some(s))
}

impl EngineConfig {
    /// The default config with the `OTEL_BSP_*` and `OTEL_TRACES_SAMPLER*` variables applied
    /// (listed in [the crate docs](crate#configuration-from-the-environment)). Setters called afterwards take precedence.
    ///
    /// # Errors
    /// A variable that does not parse, named with its value.
    pub fn from_env() -> Result<Self, Error> {
        from_process_env(|lookup| Self::from_lookup(lookup))
    }

    /// [`EngineConfig::from_env`] with the variables read through `lookup` (for tests, or a
    /// configuration source of your own).
    ///
    /// # Errors
    /// A variable that does not parse, named with its value.
    ///
    /// # Examples
    /// ```
    /// use ringspan::EngineConfig;
    /// let config = EngineConfig::from_lookup(|name| match name {
    ///     "OTEL_BSP_MAX_QUEUE_SIZE" => Some("3000".into()),
    ///     _ => None,
    /// }).unwrap();
    /// // The whole queue, split among the default 8 rings: 375 each, rounded up.
    /// assert_eq!(config.ring_capacity_setting(), 512);
    /// assert_eq!(config.rings(2).ring_capacity_setting(), 2048);
    /// let bad = EngineConfig::from_lookup(|name| (name == "OTEL_BSP_SCHEDULE_DELAY").then(|| "5s".into()));
    /// assert!(bad.unwrap_err().to_string().contains("OTEL_BSP_SCHEDULE_DELAY"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut c = EngineConfig::default();
        if let Some(ms) = number(&lookup, "OTEL_BSP_SCHEDULE_DELAY")? {
            if ms == 0 {
                return Err(Error::config(
                    "OTEL_BSP_SCHEDULE_DELAY",
                    ms,
                    "must be at least 1 ms",
                ));
            }
            c = c.schedule_delay(Duration::from_millis(ms));
        }
        let queue = number(&lookup, "OTEL_BSP_MAX_QUEUE_SIZE")?;
        if let Some(q) = queue {
            let total = usize::try_from(q)
                .ok()
                .filter(|q| (2..=1 << 40).contains(q))
                .ok_or_else(|| {
                    Error::config("OTEL_BSP_MAX_QUEUE_SIZE", q, "must be between 2 and 2^40")
                })?;
            // Its memory is checked by `validate` (at start, naming the variable), so that a
            // `memory_limit` set in code afterwards counts.
            c.queue = Some(total);
            c.ring_capacity = per_ring(total, c.rings);
        }
        if let Some(b) = number(&lookup, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")? {
            let whole_queue = (c.rings * c.ring_capacity) as u64;
            if b == 0 || b > queue.unwrap_or(whole_queue) {
                return Err(Error::config(
                    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                    b,
                    "must be at least 1 and at most OTEL_BSP_MAX_QUEUE_SIZE",
                ));
            }
            c = c.max_batch(b as usize);
        }
        if let Some(s) = sampler(&lookup)? {
            c = c.sampler(s);
        }
        Ok(c)
    }

    /// The ring capacity this config asks for.
    pub fn ring_capacity_setting(&self) -> usize {
        self.ring_capacity
    }
}

impl OtlpConfig {
    /// The default encoder config with `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_SERVICE_NAME`
    /// and `OTEL_RESOURCE_ATTRIBUTES` applied. Setters called afterwards take precedence.
    ///
    /// # Errors
    /// A variable that does not parse, named with its value.
    pub fn from_env() -> Result<Self, Error> {
        from_process_env(|lookup| Self::from_lookup(lookup))
    }

    /// [`OtlpConfig::from_env`] with the variables read through `lookup`.
    ///
    /// # Errors
    /// A variable that does not parse, named with its value.
    ///
    /// # Examples
    /// ```
    /// use ringspan::otlp::{OtlpConfig, ResourceValue};
    /// let c = OtlpConfig::from_lookup(|name| match name {
    ///     "OTEL_RESOURCE_ATTRIBUTES" => Some("service.name=ignored,deployment.environment.name=prod%20eu".into()),
    ///     "OTEL_SERVICE_NAME" => Some("checkout".into()),
    ///     _ => None,
    /// }).unwrap();
    /// assert_eq!(c.resource_setting().get("service.name"), Some(&ResourceValue::Str("checkout".into())));
    /// assert_eq!(c.resource_setting().get("deployment.environment.name"), Some(&ResourceValue::Str("prod eu".into())));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut c = OtlpConfig::default();
        if let Some(b) = number(&lookup, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")? {
            if b == 0 {
                return Err(Error::config(
                    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                    b,
                    "must be at least 1",
                ));
            }
            c = c.max_spans(b as usize);
        }
        let mut resource = Resource::default();
        if let Some(attrs) = var(&lookup, "OTEL_RESOURCE_ATTRIBUTES") {
            for pair in attrs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || {
                    Error::config(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        &attrs,
                        "expected key=value pairs, comma-separated, percent-encoded",
                    )
                };
                let (k, v) = pair.split_once('=').ok_or_else(bad)?;
                let k = percent_encoding::percent_decode_str(k.trim())
                    .decode_utf8()
                    .map_err(|_| bad())?;
                let v = percent_encoding::percent_decode_str(v.trim())
                    .decode_utf8()
                    .map_err(|_| bad())?;
                if k.is_empty() {
                    return Err(bad());
                }
                resource = resource.with(k.into_owned(), v.into_owned());
            }
        }
        if let Some(name) = var(&lookup, "OTEL_SERVICE_NAME") {
            resource = resource.with("service.name", name);
        }
        Ok(c.resource(resource))
    }

    /// The resource this config exports under.
    pub fn resource_setting(&self) -> &Resource {
        &self.resource
    }
}
