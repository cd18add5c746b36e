//! W3C `traceparent` header: parse with the spec's validation, format without allocating.
//!
//! Format (W3C Trace Context, level 1 and 2): `version-traceid-parentid-flags`, lowercase hex,
//! `00-` + 32 + `-` + 16 + `-` + 2 = 55 characters for version `00`. Rules applied:
//! - version `ff` is invalid; version `00` must be exactly 55 characters;
//! - a higher version may carry more fields after the flags, separated by `-`; we read the
//!   first four and ignore the rest, as the spec asks;
//! - hex must be lowercase (the grammar's `HEXDIGLC`); an all-zero trace id or parent id is
//!   invalid.
//!
//! Invalid input is an error value, never a panic; a caller then starts a new trace, as the
//! spec says to do.

use std::fmt;

use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};

/// Length of a version-00 `traceparent`.
pub const TRACEPARENT_LEN: usize = 55;

/// Why a `traceparent` was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceparentError {
    /// Wrong length or a missing `-` between fields.
    Malformed,
    /// A field holds something other than lowercase hex.
    NotLowercaseHex,
    /// Version `ff`, which the spec forbids.
    ForbiddenVersion,
    /// The trace id is all zeros.
    ZeroTraceId,
    /// The parent id is all zeros.
    ZeroParentId,
}

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceparentError::Malformed => "traceparent is malformed (length or separators)",
            TraceparentError::NotLowercaseHex => "traceparent holds a non-lowercase-hex digit",
            TraceparentError::ForbiddenVersion => "traceparent version ff is forbidden",
            TraceparentError::ZeroTraceId => "traceparent trace id is all zeros",
            TraceparentError::ZeroParentId => "traceparent parent id is all zeros",
        })
    }
}

impl std::error::Error for TraceparentError {}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(s: &[u8]) -> Result<[u8; N], TraceparentError> {
    let mut out = [0; N];
    if s.len() != 2 * N {
        return Err(TraceparentError::Malformed);
    }
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(TraceparentError::NotLowercaseHex)?;
        let lo = hex_val(pair[1]).ok_or(TraceparentError::NotLowercaseHex)?;
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

/// Parses a `traceparent` header value into a remote [`SpanContext`].
///
/// # Errors
/// A [`TraceparentError`] naming the first rule the input breaks.
///
/// # Examples
/// ```
/// use ringspan::parse_traceparent as parse;
/// let cx = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(cx.flags.is_sampled() && cx.is_remote);
/// assert!(parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_err());
/// ```
pub fn parse(header: &str) -> Result<SpanContext, TraceparentError> {
    let b = header.as_bytes();
    if b.len() < TRACEPARENT_LEN {
        return Err(TraceparentError::Malformed);
    }
    let version = decode_hex::<1>(&b[0..2])?[0];
    if version == 0xff {
        return Err(TraceparentError::ForbiddenVersion);
    }
    if version == 0 && b.len() != TRACEPARENT_LEN {
        return Err(TraceparentError::Malformed);
    }
    // Higher versions: the four known fields, then either the end or a `-` and more.
    if b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-' {
        return Err(TraceparentError::Malformed);
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(TraceparentError::Malformed);
    }
    let trace_id = TraceId(decode_hex::<16>(&b[3..35])?);
    let span_id = SpanId(decode_hex::<8>(&b[36..52])?);
    let flags = decode_hex::<1>(&b[53..55])?[0];
    if trace_id.is_zero() {
        return Err(TraceparentError::ZeroTraceId);
    }
    if span_id.is_zero() {
        return Err(TraceparentError::ZeroParentId);
    }
    // Version 00 defines only the sampled bit; later versions define more, which we keep.
    let flags = if version == 0 { flags & 1 } else { flags };
    Ok(SpanContext {
        trace_id,
        span_id,
        flags: TraceFlags(flags),
        is_remote: true,
    })
}

/// A formatted `traceparent` (version 00), held inline: formatting allocates nothing.
#[derive(Clone, Copy)]
pub struct Traceparent {
    buf: [u8; TRACEPARENT_LEN],
}

impl Traceparent {
    /// The header value.
    pub fn as_str(&self) -> &str {
        // SAFETY: `format` writes only ASCII hex digits and `-`.
        unsafe { std::str::from_utf8_unchecked(&self.buf) }
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Formats `cx` as a version-00 `traceparent` (only the sampled flag bit is sent, as version
/// 00 defines no other).
///
/// # Examples
/// ```
/// use ringspan::{format_traceparent as format, parse_traceparent as parse};
/// let h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// assert_eq!(format(&parse(h).unwrap()).as_str(), h);
/// ```
pub fn format(cx: &SpanContext) -> Traceparent {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [b'-'; TRACEPARENT_LEN];
    let mut put = |at: usize, bytes: &[u8]| {
        for (i, byte) in bytes.iter().enumerate() {
            buf[at + 2 * i] = HEX[usize::from(byte >> 4)];
            buf[at + 2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
    };
    put(0, &[0]);
    put(3, &cx.trace_id.0);
    put(36, &cx.span_id.0);
    put(53, &[cx.flags.0 & 1]);
    Traceparent { buf }
}
