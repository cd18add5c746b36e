//! OTLP/HTTP transport for ringspan.
//!
//! Not built yet: the exporter and the embedded receiver arrive with the transport issue.
//! The crate exists so the workspace already shows the data path
//! (producer -> ring -> drain -> encode -> export).
