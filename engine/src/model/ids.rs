//! Trace and span identifiers, the span context that crosses process boundaries, and the fast
//! per-producer id generator.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A 16-byte W3C trace id. Never all zeros when ringspan makes one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id. Never all zeros when ringspan makes one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// Whether this is the invalid all-zero id.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// The low 8 bytes as a big-endian integer (the random part that ratio sampling reads).
    pub fn low_u64(&self) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(b)
    }
}

/// The hot path keeps ids as machine words: `[u64; 2]` for a trace id, `u64` for a span id,
/// each word holding the id's bytes in order (a native-endian view, not a number). Words are
/// written with 8-byte stores and read with 8-byte loads, where a `[u8; 16]` built in
/// registers and copied as one 16-byte value stalls on store-to-load forwarding (a third of
/// an unsampled span's cost when measured).
impl TraceId {
    /// The id as two words (see above).
    #[inline(always)]
    pub(crate) fn words(&self) -> [u64; 2] {
        let mut hi = [0; 8];
        let mut lo = [0; 8];
        hi.copy_from_slice(&self.0[..8]);
        lo.copy_from_slice(&self.0[8..]);
        [u64::from_ne_bytes(hi), u64::from_ne_bytes(lo)]
    }

    /// The id whose words are `w`.
    #[inline(always)]
    pub(crate) fn from_words(w: [u64; 2]) -> TraceId {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&w[0].to_ne_bytes());
        b[8..].copy_from_slice(&w[1].to_ne_bytes());
        TraceId(b)
    }
}

impl SpanId {
    /// The id as a word (see [`TraceId::words`]).
    #[inline(always)]
    pub(crate) fn word(&self) -> u64 {
        u64::from_ne_bytes(self.0)
    }

    /// The id whose word is `w`.
    #[inline(always)]
    pub(crate) fn from_word(w: u64) -> SpanId {
        SpanId(w.to_ne_bytes())
    }

    /// Whether this is the invalid all-zero id.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// W3C trace flags. Bit 0 is `sampled`; ringspan keeps the other bits as it received them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TraceFlags(pub u8);

impl TraceFlags {
    /// The `sampled` flag.
    pub const SAMPLED: TraceFlags = TraceFlags(1);

    /// Whether the `sampled` bit is set.
    pub fn is_sampled(self) -> bool {
        self.0 & 1 == 1
    }
}

/// The identity of a span as seen by its children and by other processes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// W3C trace flags.
    pub flags: TraceFlags,
    /// True if the context came from another process (a parsed `traceparent`).
    pub is_remote: bool,
}

/// A fast, non-cryptographic generator of ids (wyrand), one per producer so the hot path
/// shares nothing. Seeded from the OS-seeded keys of std's `RandomState`, so two producers
/// (and two processes) start from unrelated states.
#[derive(Clone, Debug)]
pub struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    /// A generator seeded from process randomness and `salt`.
    pub fn new(salt: u64) -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        IdGenerator { state: h.finish() }
    }

    /// A generator with a fixed seed, for reproducible tests.
    pub fn from_seed(seed: u64) -> Self {
        IdGenerator { state: seed }
    }

    /// The next 64 random bits (wyrand: one add, one 128-bit multiply).
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    /// A non-zero span id as a word (random bits: byte order does not matter).
    #[inline(always)]
    pub(crate) fn span_word(&mut self) -> u64 {
        self.next_u64().max(1)
    }

    /// A non-zero trace id as two words (random bits: byte order does not matter, and the
    /// last 7 bytes, which ratio sampling reads, are random).
    #[inline(always)]
    pub(crate) fn trace_words(&mut self) -> [u64; 2] {
        let hi = self.next_u64();
        let lo = self.next_u64();
        [hi, if hi == 0 && lo == 0 { 1 } else { lo }]
    }

    /// A non-zero span id.
    #[inline(always)]
    pub fn span_id(&mut self) -> SpanId {
        // Zero has probability 2^-64; mapping it to 1 keeps the id valid without a loop.
        let v = self.next_u64();
        SpanId((if v == 0 { 1 } else { v }).to_be_bytes())
    }

    /// A non-zero trace id whose low 56 bits are random, as W3C trace context level 2 asks of
    /// ids that ratio samplers read.
    #[inline(always)]
    pub fn trace_id(&mut self) -> TraceId {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let lo = if hi == 0 && lo == 0 { 1 } else { lo };
        let mut b = [0; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        TraceId(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_non_zero_and_distinct() {
        let mut g = IdGenerator::from_seed(0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let s = g.span_id();
            assert!(!s.is_zero());
            assert!(seen.insert(s));
            assert!(!g.trace_id().is_zero());
        }
    }

    #[test]
    fn differently_salted_generators_differ() {
        let a = IdGenerator::new(1).next_u64();
        let b = IdGenerator::new(2).next_u64();
        assert_ne!(a, b);
    }

    #[test]
    fn hex_formatting() {
        let t = TraceId([0xab; 16]);
        assert_eq!(t.to_string(), "ab".repeat(16));
        assert_eq!(
            SpanId([0, 1, 2, 3, 4, 5, 6, 0xff]).to_string(),
            "00010203040506ff"
        );
    }
}
