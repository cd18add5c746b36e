//! The W3C `traceparent` parser: never panics, and whatever it accepts formats back (as
//! version 00, which carries only the sampled flag) to a header that parses to the same ids
//! and sampled bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringspan::{format_traceparent, parse_traceparent};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cx) = parse_traceparent(header) {
        let again = format_traceparent(&cx);
        let back = parse_traceparent(again.as_str()).expect("our own header parses");
        assert_eq!((back.trace_id, back.span_id), (cx.trace_id, cx.span_id));
        assert_eq!(back.flags.0, cx.flags.0 & 1);
        assert_eq!(again.as_str(), format_traceparent(&back).as_str());
    }
});
