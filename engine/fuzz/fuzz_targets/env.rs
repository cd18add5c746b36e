//! Every environment-variable parser (engine, encoder, exporter, pipeline): never panics, and
//! no error or `Debug` output shows a header value or a URL's query or userinfo.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ringspan::otlp::OtlpConfig;
use ringspan::EngineConfig;
use ringspan_transport::{ExporterConfig, PipelineConfig};

const NAMES: &[&str] = &[
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];

/// A marker the target plants in secret places; it must never come back in a message.
const SECRET: &str = "S3CR3T";

#[derive(Arbitrary, Debug)]
struct Input {
    vars: Vec<(u8, String)>,
    /// Plant the marker as a header value and in an endpoint's query and userinfo.
    plant: bool,
}

fuzz_target!(|input: Input| {
    let mut vars: Vec<(&str, String)> = input
        .vars
        .into_iter()
        .map(|(i, v)| (NAMES[i as usize % NAMES.len()], v))
        .collect();
    // The fuzzer learns the marker from the comparisons below and may put it in a value that
    // is fine to show (a protocol name, say): then there is nothing to check.
    let plant = input.plant && !vars.iter().any(|(_, v)| v.contains(SECRET));
    if plant {
        vars.push(("OTEL_EXPORTER_OTLP_HEADERS", format!("x-key={SECRET}")));
        vars.push((
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://u:{SECRET}@h/?k={SECRET}"),
        ));
    }
    let lookup = |name: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let _ = EngineConfig::from_lookup(lookup).map(|c| c.validate());
    let _ = OtlpConfig::from_lookup(lookup);
    let check = |shown: String| {
        if plant {
            assert!(!shown.contains(SECRET), "a secret leaked: {shown}");
        }
    };
    match ExporterConfig::from_lookup(lookup) {
        Ok(c) => check(format!("{c:?}")),
        Err(e) => {
            check(e.to_string());
            check(format!("{e:?}"));
        }
    }
    if let Err(e) = PipelineConfig::from_lookup(lookup) {
        check(e.to_string());
    }
});
