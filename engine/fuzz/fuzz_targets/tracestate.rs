//! The W3C `tracestate` parser: never panics; whatever it accepts is at most 512 characters,
//! at most 32 members, each a valid member, and parses back to itself (the normalised form is
//! a fixed point), with the same members in the same order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringspan::{TraceState, MAX_MEMBERS, MAX_TRACESTATE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ts) = TraceState::parse(header) {
        let kept = ts.as_str();
        assert!(kept.len() <= MAX_TRACESTATE_LEN, "{kept:?}");
        assert!(ts.members().count() <= MAX_MEMBERS);
        let back = TraceState::parse(kept).expect("our own header parses");
        assert_eq!(back.as_str(), kept);
        assert_eq!(back.truncated_members(), 0);
        assert!(back.members().eq(ts.members()));
        for (k, v) in ts.members() {
            assert_eq!(ts.get(k), Some(v), "keys are unique");
        }
    }
});
