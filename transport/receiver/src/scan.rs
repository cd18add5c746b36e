//! A counting scanner for `ExportTraceServiceRequest` bytes: walks the protobuf framing
//! (`resource_spans` -> `scope_spans` -> `spans`) and counts spans without building messages,
//! so the receiver costs little next to the pipeline it measures. It checks the framing it
//! walks (keys, wire types, lengths); a full decode is [`super::Keep::Decoded`]'s job.

use prost::bytes::Buf;
use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};

/// Why a body is not an `ExportTraceServiceRequest`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Calls `each` with the bytes of every field `field` (length-delimited) of the message `msg`;
/// skips other fields.
fn for_each_len(
    mut msg: &[u8],
    field: u32,
    mut each: impl FnMut(&[u8]) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    while msg.has_remaining() {
        let (tag, wire) = decode_key(&mut msg).map_err(|_| Malformed)?;
        if tag == field {
            if wire != WireType::LengthDelimited {
                return Err(Malformed);
            }
            let len = decode_varint(&mut msg).map_err(|_| Malformed)?;
            let len = usize::try_from(len).map_err(|_| Malformed)?;
            if len > msg.len() {
                return Err(Malformed);
            }
            each(&msg[..len])?;
            msg.advance(len);
        } else {
            skip_field(wire, tag, &mut msg, DecodeContext::default()).map_err(|_| Malformed)?;
        }
    }
    Ok(())
}

/// Spans in an `ExportTraceServiceRequest`.
pub(crate) fn count_spans(request: &[u8]) -> Result<u64, Malformed> {
    let mut spans = 0u64;
    // ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.scope_spans = 2;
    // ScopeSpans.spans = 2.
    for_each_len(request, 1, |rs| {
        for_each_len(rs, 2, |ss| {
            for_each_len(ss, 2, |_| {
                spans += 1;
                Ok(())
            })
        })
    })?;
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn request(shape: &[&[usize]]) -> Vec<u8> {
        let resource_spans = shape
            .iter()
            .map(|scopes| ResourceSpans {
                scope_spans: scopes
                    .iter()
                    .map(|&n| ScopeSpans {
                        spans: (0..n)
                            .map(|i| Span {
                                name: format!("s{i}"),
                                span_id: vec![1; 8],
                                ..Default::default()
                            })
                            .collect(),
                        schema_url: "x".into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }.encode_to_vec()
    }

    #[test]
    fn counts_spans_across_resources_and_scopes() {
        assert_eq!(count_spans(&request(&[])), Ok(0));
        assert_eq!(count_spans(&request(&[&[3]])), Ok(3));
        assert_eq!(count_spans(&request(&[&[2, 0, 5], &[1]])), Ok(8));
    }

    #[test]
    fn rejects_broken_framing() {
        let good = request(&[&[4]]);
        assert_eq!(count_spans(&good[..good.len() - 1]), Err(Malformed));
        assert_eq!(count_spans(&[0x0a, 0x7f]), Err(Malformed));
        // Field 1 with a varint wire type where a message belongs.
        assert_eq!(count_spans(&[0x08, 0x01]), Err(Malformed));
    }
}
