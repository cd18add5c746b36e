//! The resource every exported span belongs to, encoded once when the sink is built.

use super::wire::{key_value_len, len_delimited, put_key_value};
use crate::model::value::ValueRef;

/// A resource attribute value (owned: resources are built once, off the hot path).
#[derive(Clone, Debug, PartialEq)]
pub enum ResourceValue {
    /// A string.
    Str(String),
    /// A signed integer.
    I64(i64),
    /// A double.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl ResourceValue {
    fn as_ref(&self) -> ValueRef<'_> {
        match self {
            ResourceValue::Str(s) => ValueRef::Str(s),
            ResourceValue::I64(i) => ValueRef::I64(*i),
            ResourceValue::F64(f) => ValueRef::F64(*f),
            ResourceValue::Bool(b) => ValueRef::Bool(*b),
        }
    }
}

impl From<&str> for ResourceValue {
    fn from(s: &str) -> Self {
        ResourceValue::Str(s.to_owned())
    }
}

impl From<String> for ResourceValue {
    fn from(s: String) -> Self {
        ResourceValue::Str(s)
    }
}

impl From<i64> for ResourceValue {
    fn from(v: i64) -> Self {
        ResourceValue::I64(v)
    }
}

impl From<f64> for ResourceValue {
    fn from(v: f64) -> Self {
        ResourceValue::F64(v)
    }
}

impl From<bool> for ResourceValue {
    fn from(v: bool) -> Self {
        ResourceValue::Bool(v)
    }
}

/// The OTLP resource: `service.name`, the `telemetry.sdk.*` attributes, and yours.
///
/// # Examples
/// ```
/// use ringspan::otlp::Resource;
/// let r = Resource::new("order-gateway").with("deployment.environment.name", "prod").with("host.cores", 2i64);
/// assert_eq!(r.get("service.name"), Some(&"order-gateway".into()));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    attrs: Vec<(String, ResourceValue)>,
}

impl Default for Resource {
    /// The spec's default when no service name is configured: `unknown_service`.
    fn default() -> Self {
        Resource::new("unknown_service")
    }
}

impl Resource {
    /// A resource for `service_name`, with `telemetry.sdk.name` = `ringspan`,
    /// `telemetry.sdk.language` = `rust` and `telemetry.sdk.version`.
    pub fn new(service_name: impl Into<String>) -> Self {
        Resource {
            attrs: vec![
                (
                    "service.name".into(),
                    ResourceValue::Str(service_name.into()),
                ),
                ("telemetry.sdk.name".into(), "ringspan".into()),
                ("telemetry.sdk.language".into(), "rust".into()),
                (
                    "telemetry.sdk.version".into(),
                    env!("CARGO_PKG_VERSION").into(),
                ),
            ],
        }
    }

    /// Adds (or replaces) an attribute.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<ResourceValue>) -> Self {
        let key = key.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((key, value)),
        }
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&ResourceValue> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The attributes in the order they are encoded.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &ResourceValue)> {
        self.attrs.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The body of the `Resource` message (`attributes` = 1).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let len: usize = self
            .attrs
            .iter()
            .map(|(k, v)| len_delimited(1, key_value_len(k, v.as_ref())))
            .sum();
        let mut out = Vec::with_capacity(len);
        for (k, v) in &self.attrs {
            put_key_value(1, k, v.as_ref(), &mut out);
        }
        debug_assert_eq!(out.len(), len);
        out
    }
}
