//! W3C `traceparent` parsing (validation per the spec) and formatting.

use proptest::prelude::*;
use ringspan::{format_traceparent as format, parse_traceparent as parse, TraceparentError};
use ringspan::{SpanContext, SpanId, TraceFlags, TraceId};

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn parses_the_spec_example() {
    let cx = parse(VALID).unwrap();
    assert_eq!(cx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(cx.span_id.to_string(), "00f067aa0ba902b7");
    assert!(cx.flags.is_sampled());
    assert!(cx.is_remote);
    assert!(
        !parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .unwrap()
            .flags
            .is_sampled()
    );
}

#[test]
fn rejects_what_the_spec_rejects() {
    use TraceparentError::*;
    let cases = [
        ("", Malformed),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            Malformed,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            Malformed,
        ),
        (
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Malformed,
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            NotLowercaseHex,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            NotLowercaseHex,
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ForbiddenVersion,
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ZeroTraceId,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            ZeroParentId,
        ),
        (
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what",
            Malformed,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-xy",
            NotLowercaseHex,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input), Err(want), "input {input:?}");
    }
}

#[test]
fn future_versions_may_carry_more_fields() {
    let cx = parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-the-future-holds")
        .unwrap();
    assert_eq!(cx.flags, TraceFlags(3));
    assert_eq!(
        parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap()
            .flags,
        TraceFlags(1)
    );
}

#[test]
fn multibyte_input_is_rejected_not_sliced() {
    // 55 bytes whose separators land inside multi-byte characters.
    let s = "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01";
    assert!(parse(s).is_err());
    assert!(parse(&"é".repeat(40)).is_err());
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC{0,80}") {
        let _ = parse(&s);
    }

    #[test]
    fn format_then_parse_round_trips(t in any::<[u8; 16]>(), sp in any::<[u8; 8]>(), sampled in any::<bool>()) {
        prop_assume!(t != [0; 16] && sp != [0; 8]);
        let cx = SpanContext { trace_id: TraceId(t), span_id: SpanId(sp), flags: TraceFlags(u8::from(sampled)), is_remote: true };
        let header = format(&cx);
        prop_assert_eq!(parse(header.as_str()), Ok(cx));
    }
}
