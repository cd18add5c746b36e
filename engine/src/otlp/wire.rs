//! Protobuf field sizes and writers for the few wire shapes OTLP traces use, on top of prost's
//! encoding primitives (varints, keys, wire types). Each `*_len` function gives the exact size
//! its writer twin produces, so a message's length prefix can be written before its body.
//!
//! Proto3 rules that make the output canonical (identical to prost's): scalar and string
//! fields holding their default (0, "", empty bytes) are omitted; members of a `oneof` and
//! present sub-messages are always written; fields go out in ascending tag order.

use std::mem::MaybeUninit;

use prost::bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

use crate::model::value::ValueRef;

/// A write cursor over a byte slice that may not be initialised yet (a `Vec`'s spare
/// capacity, say), for prost's encoding functions.
///
/// `&mut [u8]` and `Vec<u8>` also implement `BufMut`, but through generic chunk handling that
/// costs tens of instructions per byte written; here `put_u8` is a store and an increment,
/// and `put_slice` one copy (for the short keys and values spans carry, a pair of overlapping
/// word moves instead of a call into `memcpy`).
pub(crate) struct Cursor<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    pos: usize,
    /// A write did not fit (it wrote nothing). Sticky: the caller discards everything the
    /// cursor wrote (see [`Cursor::overflowed`]).
    overflowed: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over initialised bytes.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and a cursor only ever writes
        // initialised bytes, so the slice stays initialised for its owner.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        Cursor {
            buf,
            pos: 0,
            overflowed: false,
        }
    }

    /// A cursor over bytes that need not be initialised; what it writes is (see
    /// [`Cursor::written`]).
    pub(crate) fn uninit(buf: &'a mut [MaybeUninit<u8>]) -> Self {
        Cursor {
            buf,
            pos: 0,
            overflowed: false,
        }
    }

    /// Whether a write did not fit (then what was written is not the intended bytes).
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Bytes written so far: the first `written()` bytes of the slice are initialised.
    pub(crate) fn written(&self) -> usize {
        self.pos
    }

    /// Patches the length of a length-delimited body that starts at `body_start`, for
    /// which `reserved` placeholder bytes were written just before it, and ends here: writes
    /// the length as a varint, moving the body by the difference when the varint is shorter
    /// or longer than the placeholder. A body that would move past the end overflows.
    #[inline(always)]
    pub(crate) fn patch_len(&mut self, body_start: usize, reserved: usize) {
        if self.overflowed {
            return;
        }
        let body = self.pos - body_start;
        let at = body_start - reserved;
        let need = encoded_len_varint(body as u64);
        if need != reserved {
            if at + need + body > self.buf.len() {
                self.overflowed = true;
                return;
            }
            self.buf
                .copy_within(body_start..body_start + body, at + need);
        }
        self.pos = at;
        encode_varint(body as u64, self);
        self.pos = at + need + body;
    }
}

// SAFETY: `chunk_mut` hands out exactly the unwritten tail of `buf`, `advance_mut` moves over
// bytes of it that the caller initialised (as the trait requires of it), and `remaining_mut`
// is the tail's length (0 once overflowed). Writes that do not fit write nothing and set
// `overflowed`; nothing is ever written out of bounds.
unsafe impl BufMut for Cursor<'_> {
    #[inline(always)]
    fn remaining_mut(&self) -> usize {
        if self.overflowed {
            0
        } else {
            self.buf.len() - self.pos
        }
    }

    #[inline(always)]
    unsafe fn advance_mut(&mut self, cnt: usize) {
        self.pos += cnt;
    }

    #[inline(always)]
    fn chunk_mut(&mut self) -> &mut prost::bytes::buf::UninitSlice {
        // Empty exactly when `remaining_mut` is 0, as `BufMut` asks.
        let end = if self.overflowed {
            self.pos
        } else {
            self.buf.len()
        };
        prost::bytes::buf::UninitSlice::uninit(&mut self.buf[self.pos..end])
    }

    #[inline(always)]
    fn put_u8(&mut self, n: u8) {
        // A write after an overflow may still land (in bounds); what the cursor wrote is
        // discarded anyway once `overflowed` is set.
        match self.buf.get_mut(self.pos) {
            Some(b) => {
                *b = MaybeUninit::new(n);
                self.pos += 1;
            }
            None => self.overflowed = true,
        }
    }

    #[inline(always)]
    fn put_slice(&mut self, src: &[u8]) {
        let n = src.len();
        match self.buf.get_mut(self.pos..self.pos + n) {
            Some(dst) => {
                copy_short(src, dst);
                self.pos += n;
            }
            None => self.overflowed = true,
        }
    }
}

/// Copies `src` into `dst` (of the same length): overlapping word moves for up to 16 bytes,
/// a plain copy beyond.
#[inline(always)]
fn copy_short(src: &[u8], dst: &mut [MaybeUninit<u8>]) {
    let n = src.len();
    assert_eq!(n, dst.len());
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr().cast::<u8>());
    if n > 16 {
        // SAFETY: `src` and `dst` are distinct slices (one shared, one exclusive) of `n` bytes.
        unsafe { std::ptr::copy_nonoverlapping(s, d, n) };
    } else if n >= 8 {
        // SAFETY: both ranges `[0, 8)` and `[n - 8, n)` lie within the `n` bytes of `src` and
        // of `dst` (checked equal above); unaligned reads and writes of plain bytes.
        unsafe {
            let head = s.cast::<u64>().read_unaligned();
            let tail = s.add(n - 8).cast::<u64>().read_unaligned();
            d.cast::<u64>().write_unaligned(head);
            d.add(n - 8).cast::<u64>().write_unaligned(tail);
        }
    } else if n >= 4 {
        // SAFETY: as above with 4-byte words: `[0, 4)` and `[n - 4, n)` are within `n` bytes.
        unsafe {
            let head = s.cast::<u32>().read_unaligned();
            let tail = s.add(n - 4).cast::<u32>().read_unaligned();
            d.cast::<u32>().write_unaligned(head);
            d.add(n - 4).cast::<u32>().write_unaligned(tail);
        }
    } else {
        for (d, &b) in dst.iter_mut().zip(src) {
            *d = MaybeUninit::new(b);
        }
    }
}

/// Writes a field key. With the tag a constant at every call site, the one-byte case (tags
/// below 16: all but `Span.flags`) folds into a single store; prost's `encode_key` does the rest.
#[inline(always)]
pub(crate) fn put_key(tag: u32, wire_type: WireType, buf: &mut impl BufMut) {
    let key = (tag << 3) | wire_type as u32;
    if key < 0x80 {
        buf.put_u8(key as u8);
    } else {
        encode_key(tag, wire_type, buf);
    }
}

/// Writes a varint: one store for values below 128 (most lengths, kinds and counts here),
/// prost's `encode_varint` for the rest.
#[inline(always)]
fn put_uvarint(v: u64, buf: &mut impl BufMut) {
    if v < 0x80 {
        buf.put_u8(v as u8);
    } else {
        encode_varint(v, buf);
    }
}

/// Size of a length-delimited field (key, length varint, body) with a body of `body` bytes.
#[inline(always)]
pub(crate) fn len_delimited(tag: u32, body: usize) -> usize {
    key_len(tag) + encoded_len_varint(body as u64) + body
}

/// Writes the key and length of a length-delimited field; the caller writes the body.
#[inline(always)]
pub(crate) fn put_len_prefix(tag: u32, body: usize, buf: &mut impl BufMut) {
    put_key(tag, WireType::LengthDelimited, buf);
    put_uvarint(body as u64, buf);
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
        put_key(tag, WireType::Varint, buf);
        put_uvarint(v, buf);
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
        put_key(tag, WireType::SixtyFourBit, buf);
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
        put_key(tag, WireType::ThirtyTwoBit, buf);
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
            put_key(2, WireType::Varint, buf);
            put_uvarint(u64::from(b), buf);
        }
        ValueRef::I64(i) => {
            put_key(3, WireType::Varint, buf);
            put_uvarint(i as u64, buf);
        }
        ValueRef::F64(f) => {
            put_key(4, WireType::SixtyFourBit, buf);
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
    let value = any_value_len(v);
    let kv = bytes_len(1, key.as_bytes()) + len_delimited(2, value);
    put_len_prefix(tag, kv, buf);
    put_bytes(1, key.as_bytes(), buf);
    put_len_prefix(2, value, buf);
    put_any_value(v, buf);
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
        for n in 0..40 {
            let src: Vec<u8> = (0..n as u8).collect();
            let mut dst = vec![0xffu8; n + 2];
            let mut w = Cursor::new(&mut dst[1..n + 1]);
            w.put_slice(&src);
            assert_eq!(w.written(), n);
            assert_eq!(&dst[1..n + 1], &src[..], "copy of {n} bytes");
            assert_eq!(
                (dst[0], dst[n + 1]),
                (0xff, 0xff),
                "neighbours of {n} bytes"
            );
        }
        let mut buf = Vec::new();
        put_fixed64(7, 0, &mut buf);
        put_varint(10, 0, &mut buf);
        put_bytes(3, b"", &mut buf);
        assert!(buf.is_empty(), "defaults are omitted");
    }
}
