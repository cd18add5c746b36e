//! Protobuf field sizes and writers for the few wire shapes OTLP traces use, on top of prost's
//! encoding primitives (varints, keys, wire types). Each `*_len` function gives the exact size
//! its writer twin produces, so a message's length prefix can be written before its body.
//!
//! Proto3 rules that make the output canonical (identical to prost's): scalar and string
//! fields holding their default (0, "", empty bytes) are omitted; members of a `oneof` and
//! present sub-messages are always written; fields go out in ascending tag order.

use prost::bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

use crate::value::ValueRef;

/// Size of a length-delimited field (key, length varint, body) with a body of `body` bytes.
#[inline(always)]
pub(crate) fn len_delimited(tag: u32, body: usize) -> usize {
    key_len(tag) + encoded_len_varint(body as u64) + body
}

/// Writes the key and length of a length-delimited field; the caller writes the body.
#[inline(always)]
pub(crate) fn put_len_prefix(tag: u32, body: usize, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(body as u64, buf);
}

/// A `string` or `bytes` field (omitted when empty).
#[inline(always)]
pub(crate) fn bytes_len(tag: u32, b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        len_delimited(tag, b.len())
    }
}

#[inline(always)]
pub(crate) fn put_bytes(tag: u32, b: &[u8], buf: &mut impl BufMut) {
    if !b.is_empty() {
        put_len_prefix(tag, b.len(), buf);
        buf.put_slice(b);
    }
}

/// A `uint32`/`uint64`/enum varint field (omitted when zero).
#[inline(always)]
pub(crate) fn varint_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(v)
    }
}

#[inline(always)]
pub(crate) fn put_varint(tag: u32, v: u64, buf: &mut impl BufMut) {
    if v != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(v, buf);
    }
}

/// A `fixed64` field (omitted when zero).
#[inline(always)]
pub(crate) fn fixed64_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + 8
    }
}

#[inline(always)]
pub(crate) fn put_fixed64(tag: u32, v: u64, buf: &mut impl BufMut) {
    if v != 0 {
        encode_key(tag, WireType::SixtyFourBit, buf);
        buf.put_u64_le(v);
    }
}

/// A `fixed32` field (omitted when zero).
#[inline(always)]
pub(crate) fn fixed32_len(tag: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + 4
    }
}

#[inline(always)]
pub(crate) fn put_fixed32(tag: u32, v: u32, buf: &mut impl BufMut) {
    if v != 0 {
        encode_key(tag, WireType::ThirtyTwoBit, buf);
        buf.put_u32_le(v);
    }
}

/// Body size of an `AnyValue` holding `v` (its `oneof` member is always written).
#[inline(always)]
pub(crate) fn any_value_len(v: ValueRef<'_>) -> usize {
    match v {
        ValueRef::Str(s) => len_delimited(1, s.len()),
        ValueRef::Bool(_) => key_len(2) + 1,
        ValueRef::I64(i) => key_len(3) + encoded_len_varint(i as u64),
        ValueRef::F64(_) => key_len(4) + 8,
    }
}

#[inline(always)]
pub(crate) fn put_any_value(v: ValueRef<'_>, buf: &mut impl BufMut) {
    match v {
        ValueRef::Str(s) => {
            put_len_prefix(1, s.len(), buf);
            buf.put_slice(s.as_bytes());
        }
        ValueRef::Bool(b) => {
            encode_key(2, WireType::Varint, buf);
            encode_varint(u64::from(b), buf);
        }
        ValueRef::I64(i) => {
            encode_key(3, WireType::Varint, buf);
            encode_varint(i as u64, buf);
        }
        ValueRef::F64(f) => {
            encode_key(4, WireType::SixtyFourBit, buf);
            buf.put_f64_le(f);
        }
    }
}

/// Body size of a `KeyValue` (`key` = 1, `value` = 2, always present).
#[inline(always)]
pub(crate) fn key_value_len(key: &str, v: ValueRef<'_>) -> usize {
    bytes_len(1, key.as_bytes()) + len_delimited(2, any_value_len(v))
}

/// Writes a `KeyValue` as field `tag` of the enclosing message.
#[inline(always)]
pub(crate) fn put_key_value(tag: u32, key: &str, v: ValueRef<'_>, buf: &mut impl BufMut) {
    put_len_prefix(tag, key_value_len(key, v), buf);
    put_bytes(1, key.as_bytes(), buf);
    put_len_prefix(2, any_value_len(v), buf);
    put_any_value(v, buf);
}

/// Which of up to 16 attributes to keep so that each key appears once, the last one set
/// winning (the OpenTelemetry API's rule for setting a key twice). Bit `i` set = keep `i`.
#[inline]
pub(crate) fn last_of_each_key<'a>(keys: impl ExactSizeIterator<Item = &'a str> + Clone) -> u16 {
    let n = keys.len().min(16);
    let mut keep = 0u16;
    for (i, k) in keys.clone().take(n).enumerate() {
        let later = keys.clone().take(n).skip(i + 1).any(|other| other == k);
        if !later {
            keep |= 1 << i;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_what_is_written() {
        let values = [
            ValueRef::Str(""),
            ValueRef::Str("héllo"),
            ValueRef::Bool(false),
            ValueRef::I64(-1),
            ValueRef::I64(300),
            ValueRef::F64(0.0),
        ];
        for v in values {
            let mut buf = Vec::new();
            put_key_value(9, "k", v, &mut buf);
            assert_eq!(buf.len(), len_delimited(9, key_value_len("k", v)), "{v:?}");
        }
        let mut buf = Vec::new();
        put_fixed64(7, 0, &mut buf);
        put_varint(10, 0, &mut buf);
        put_bytes(3, b"", &mut buf);
        assert!(buf.is_empty(), "defaults are omitted");
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let keys = ["a", "b", "a", "c", "b"];
        assert_eq!(last_of_each_key(keys.iter().copied()), 0b11100);
    }
}
