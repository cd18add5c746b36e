//! The embedded receiver's request path: header checks, gzip, and the counting protobuf scan.
//! Never panics; the span count it reports for a body matches the OpenTelemetry bindings'
//! decode whenever that decode succeeds.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use ringspan_receiver::{check_body, check_headers, Keep};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type: &[u8] = match selector & 3 {
        0 => b"application/x-protobuf",
        1 => b"application/json",
        2 => b"application/x-protobuf; charset=binary",
        _ => b"",
    };
    let encoding: Option<&[u8]> = match (selector >> 2) & 3 {
        0 => None,
        1 => Some(b"gzip"),
        2 => Some(b"identity"),
        _ => Some(b"br"),
    };
    let Ok(gzip) = check_headers(Some(content_type), encoding) else {
        return;
    };
    // Half the time, gzip a body ourselves so the scan behind the inflater gets exercised.
    let wire = if gzip && selector & 16 != 0 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body).unwrap();
        gz.finish().unwrap()
    } else {
        body.to_vec()
    };
    let counted = check_body(&wire, gzip, Keep::Count);
    let decoded = check_body(&wire, gzip, Keep::Decoded);
    if let Ok((spans, Some(request))) = &decoded {
        let expected: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(*spans as usize, expected);
        assert_eq!(counted.as_ref().map(|c| c.0), Ok(*spans));
    }
    if !gzip {
        if let Ok(request) = ExportTraceServiceRequest::decode(body) {
            assert!(counted.is_ok(), "the scan refused what prost decodes: {request:?}");
        }
    }
});
