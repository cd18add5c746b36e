//! Attribute values: what callers pass in ([`Value`]), how a slot stores them (the 16-byte
//! [`Packed`] cell) and what the drain reads back ([`ValueRef`]).
//!
//! A stored string is either a `&'static str` kept as a pointer (encoded later from where it
//! lives, never copied) or a run of bytes copied into the record's arena. Copying happens only
//! for strings that are not `'static`: see [`crate::record`] for the arena and its limit.

use std::fmt;
use std::marker::PhantomData;

/// An attribute value as the caller passes it: 16 bytes, already in the form a record stores,
/// so recording one is a plain copy.
///
/// A `&'static str` ([`Value::str`], or `From<&'static str>`) is stored as a reference. A string
/// that is not `'static` goes in through [`Value::copied`]: its bytes are copied into the span
/// record, up to the record's string budget (see [`crate::model::record::ARENA_BYTES`]); what does not
/// fit is cut at a character boundary and counted in `truncated_strings`.
///
/// # Examples
/// ```
/// use ringspan::Value;
/// let user = String::from("alice");
/// let values = [Value::from(42), Value::from(0.5), Value::from(true), Value::from("GET"), Value::copied(&user)];
/// assert_eq!(values[3], Value::str("GET"));
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct Value<'a> {
    pub(crate) packed: Packed,
    _borrow: PhantomData<&'a str>,
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.packed.tag() {
            // SAFETY: a Borrowed cell lives only inside a `Value<'a>`, whose borrow keeps the
            // string alive.
            Tag::Borrowed => write!(f, "Value({:?})", unsafe { self.packed.borrowed_str() }),
            _ => write!(f, "Value({:?})", self.packed.as_value(&[])),
        }
    }
}

impl<'a> Value<'a> {
    #[inline(always)]
    const fn new(packed: Packed) -> Self {
        Value {
            packed,
            _borrow: PhantomData,
        }
    }

    /// A signed integer (OTLP `int_value`).
    #[inline(always)]
    pub const fn i64(v: i64) -> Self {
        Value::new(Packed::scalar(Tag::I64, v as u64))
    }

    /// A double (OTLP `double_value`).
    #[inline(always)]
    pub const fn f64(v: f64) -> Self {
        Value::new(Packed::scalar(Tag::F64, v.to_bits()))
    }

    /// A boolean (OTLP `bool_value`).
    #[inline(always)]
    pub const fn bool(v: bool) -> Self {
        Value::new(Packed::scalar(Tag::Bool, v as u64))
    }

    /// The value a stored cell holds, for cells that never point into an arena (scalars and
    /// static strings: what a compact record stores).
    #[inline(always)]
    pub(crate) fn from_packed(packed: Packed) -> Value<'static> {
        debug_assert!(!matches!(packed.tag(), Tag::Inline | Tag::Borrowed));
        Value::new(packed)
    }

    /// A static string, stored as a reference (never copied).
    #[inline(always)]
    pub fn str(v: &'static str) -> Self {
        Value::new(Packed::from_static(v))
    }

    /// The `&'static str` this value holds, if it is one ([`Value::str`]).
    #[inline(always)]
    pub(crate) fn as_static(&self) -> Option<&'static str> {
        self.packed.as_static()
    }

    /// A string that is copied into the record when it is set (and truncated if the record's
    /// string budget runs out).
    #[inline(always)]
    pub fn copied(v: &'a str) -> Self {
        Value::new(Packed::borrowed(v))
    }
}

macro_rules! value_from {
    ($($t:ty => $ctor:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for Value<'_> {
            #[inline(always)]
            fn from(v: $t) -> Self {
                Value::$ctor(v as $as)
            }
        }
    )*};
}

value_from! {
    i64 => i64 as i64, i32 => i64 as i64, i16 => i64 as i64, i8 => i64 as i64,
    u32 => i64 as i64, u16 => i64 as i64, u8 => i64 as i64,
    f64 => f64 as f64, f32 => f64 as f64,
}

impl From<bool> for Value<'_> {
    #[inline(always)]
    fn from(v: bool) -> Self {
        Value::bool(v)
    }
}

impl From<&'static str> for Value<'_> {
    #[inline(always)]
    fn from(v: &'static str) -> Self {
        Value::str(v)
    }
}

/// An attribute value read back from a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'r> {
    /// A signed integer.
    I64(i64),
    /// A double.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string (static, or copied into the record).
    Str(&'r str),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Tag {
    Empty = 0,
    I64,
    F64,
    Bool,
    /// `payload.ptr`/`len` came from a `&'static str`.
    Static,
    /// `payload.bits` is an offset into the record's arena, `len` the byte length.
    Inline,
    /// `payload.ptr`/`len` came from a `&'a str` of a [`Value<'a>`]; never stored in a record
    /// (it is copied into the arena and becomes `Inline` first).
    Borrowed,
}

#[derive(Clone, Copy)]
#[repr(C)]
union Payload {
    bits: u64,
    ptr: *const u8,
}

/// A stored string or value in 16 bytes (an implementation detail of [`Value`] and records):
/// 8 bytes of payload, then one word holding a 32-bit length and the tag above it. (A Rust
/// enum of `&'static str` and the scalar kinds would take 24.)
///
/// Two whole words, with no padding, so that building one is two 8-byte stores and copying
/// one (caller's array -> ring slot) is two 8-byte loads and stores: a layout with a separate
/// length and tag byte had the copy done field by field, padding included, with narrower
/// loads stalling on the wider stores that had just written them.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Packed {
    payload: Payload,
    /// `len | (tag as u64) << TAG_SHIFT`.
    meta: u64,
}

const TAG_SHIFT: u32 = 32;

#[inline(always)]
const fn meta(len: u32, tag: Tag) -> u64 {
    len as u64 | (tag as u64) << TAG_SHIFT
}

// SAFETY: the only pointer a `Packed` holds comes from a `&'static str`, immutable data that any
// thread may read.
unsafe impl Send for Packed {}
// SAFETY: as above.
unsafe impl Sync for Packed {}

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: every constructor initialises all 8 payload bytes, and any 8 bytes are a
        // valid `u64`; comparing bits compares pointers by address, as intended.
        let (a, b) = unsafe { (self.payload.bits, other.payload.bits) };
        self.meta == other.meta && a == b
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed")
            .field("tag", &self.tag())
            .field("len", &self.len())
            .finish()
    }
}

impl Packed {
    pub(crate) const EMPTY: Packed = Packed {
        payload: Payload { bits: 0 },
        meta: meta(0, Tag::Empty),
    };

    #[inline(always)]
    pub(crate) fn tag(&self) -> Tag {
        let byte = (self.meta >> TAG_SHIFT) as u8;
        debug_assert!(byte <= Tag::Borrowed as u8);
        // SAFETY: `meta` is only ever built by `meta()`, from a `Tag` (`repr(u8)`), and
        // nothing writes its bits otherwise, so its tag byte is a valid `Tag` discriminant.
        // (A `match` here cost the drain a compare chain for every key and value it read.)
        unsafe { std::mem::transmute::<u8, Tag>(byte) }
    }

    #[inline(always)]
    fn len(&self) -> u32 {
        self.meta as u32
    }

    #[inline(always)]
    pub(crate) const fn scalar(tag: Tag, bits: u64) -> Packed {
        Packed {
            payload: Payload { bits },
            meta: meta(0, tag),
        }
    }

    /// A static string. Strings of 4 GiB or more are cut to `u32::MAX` bytes at a char
    /// boundary; no real key or value comes near.
    #[inline(always)]
    pub(crate) fn from_static(s: &'static str) -> Packed {
        Packed::pointing_at(s, Tag::Static)
    }

    /// A borrowed string, to be copied into a record's arena (see [`Tag::Borrowed`]).
    #[inline(always)]
    pub(crate) fn borrowed(s: &str) -> Packed {
        Packed::pointing_at(s, Tag::Borrowed)
    }

    #[inline(always)]
    fn pointing_at(s: &str, tag: Tag) -> Packed {
        let s = clamp_len(s);
        Packed {
            payload: Payload { ptr: s.as_ptr() },
            meta: meta(s.len() as u32, tag),
        }
    }

    /// The string a Static or Borrowed cell points at.
    ///
    /// # Safety
    /// The cell must be Static or Borrowed, and for Borrowed the `&str` it was made from must
    /// still be alive.
    #[inline(always)]
    unsafe fn pointed_str<'s>(&self) -> &'s str {
        debug_assert!(matches!(self.tag(), Tag::Static | Tag::Borrowed));
        // SAFETY: such cells are only built by `pointing_at` from a `&str`, pointer and length
        // unchanged (`clamp_len` cuts at a char boundary), and the caller vouches that it is
        // alive; so this rebuilds that same valid string.
        unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                self.payload.ptr,
                self.len() as usize,
            ))
        }
    }

    /// Whether two cells hold the same string, for keys (always static or copied): equal
    /// cells settle it without reading the bytes (one literal set twice), cells of unequal
    /// length or kind settle the other way, and only the rest compare bytes.
    #[inline(always)]
    pub(crate) fn same_str(&self, other: &Packed, arena: &[u8]) -> bool {
        // SAFETY: every constructor initialises all 8 payload bytes, and any 8 bytes are a
        // valid `u64`.
        let (a, b) = unsafe { (self.payload.bits, other.payload.bits) };
        if self.meta == other.meta && a == b {
            return true;
        }
        self.len() == other.len() && self.as_str(arena) == other.as_str(arena)
    }

    /// The length of a string cell (0 for scalars).
    #[inline(always)]
    pub(crate) fn str_len(&self) -> usize {
        self.len() as usize
    }

    #[inline(always)]
    pub(crate) fn is_borrowed(&self) -> bool {
        self.meta >> TAG_SHIFT == Tag::Borrowed as u64
    }

    /// The string of a Borrowed cell.
    ///
    /// # Safety
    /// The cell must be Borrowed, and the `&str` it was made from must still be alive (it is
    /// while the [`Value<'a>`] holding the cell is).
    #[inline(always)]
    pub(crate) unsafe fn borrowed_str<'s>(&self) -> &'s str {
        debug_assert!(self.tag() == Tag::Borrowed);
        // SAFETY: the caller's promise, as `pointed_str` needs it.
        unsafe { self.pointed_str() }
    }

    #[inline(always)]
    pub(crate) fn inline(offset: usize, len: usize) -> Packed {
        Packed {
            payload: Payload {
                bits: offset as u64,
            },
            meta: meta(len as u32, Tag::Inline),
        }
    }

    /// The `&'static str` of a Static cell; `None` for any other cell.
    #[inline]
    pub(crate) fn as_static(&self) -> Option<&'static str> {
        match self.tag() {
            // SAFETY: a Static cell points at a `&'static str`, alive for good.
            Tag::Static => Some(unsafe { self.pointed_str() }),
            _ => None,
        }
    }

    /// The string this cell holds, with `arena` the record's copied bytes; `""` for a
    /// non-string cell.
    #[inline]
    pub(crate) fn as_str<'r>(&self, arena: &'r [u8]) -> &'r str {
        match self.tag() {
            // SAFETY: a Static cell points at a `&'static str`, alive for good.
            Tag::Static => unsafe { self.pointed_str() },
            Tag::Inline => {
                // SAFETY: Inline cells are only built by `Arena::copy_str`; `bits` is the
                // variant written there.
                let off = unsafe { self.payload.bits } as usize;
                let bytes = &arena[off..off + self.len() as usize];
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: `copy_str` copied a prefix of a `&str` that ends on a char boundary
                // into exactly these bytes, and records copy their arena with the cells.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            _ => "",
        }
    }

    /// The value this cell holds.
    #[inline]
    pub(crate) fn as_value<'r>(&self, arena: &'r [u8]) -> ValueRef<'r> {
        let bits = || {
            // SAFETY: called only for scalar tags, whose cells `scalar` built with `bits` set.
            unsafe { self.payload.bits }
        };
        match self.tag() {
            Tag::I64 => ValueRef::I64(bits() as i64),
            Tag::F64 => ValueRef::F64(f64::from_bits(bits())),
            Tag::Bool => ValueRef::Bool(bits() != 0),
            _ => ValueRef::Str(self.as_str(arena)),
        }
    }
}

/// `s` cut to at most `u32::MAX` bytes at a char boundary (no real string comes near; the
/// check keeps a 32-bit length field honest).
#[inline(always)]
fn clamp_len(s: &str) -> &str {
    #[cold]
    fn cut(s: &str) -> &str {
        &s[..floor_char_boundary(s, u32::MAX as usize)]
    }
    if s.len() > u32::MAX as usize {
        cut(s)
    } else {
        s
    }
}

/// The largest index `<= max` that is a char boundary of `s` (`str::floor_char_boundary` is
/// not stable yet).
#[inline]
pub(crate) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    // A UTF-8 sequence is at most 4 bytes, so this walks back at most 3 steps.
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Packed>(), 16);
    }

    #[test]
    fn floor_boundary_never_splits_a_char() {
        let s = "aé€😀";
        for max in 0..=s.len() + 2 {
            let i = floor_char_boundary(s, max);
            assert!(s.is_char_boundary(i) && i <= max.min(s.len()));
        }
        assert_eq!(floor_char_boundary(s, 2), 1);
    }

    #[test]
    fn scalars_round_trip() {
        let arena = [];
        assert_eq!(
            Packed::scalar(Tag::I64, (-5i64) as u64).as_value(&arena),
            ValueRef::I64(-5)
        );
        assert_eq!(
            Packed::scalar(Tag::F64, 1.5f64.to_bits()).as_value(&arena),
            ValueRef::F64(1.5)
        );
        assert_eq!(
            Packed::scalar(Tag::Bool, 1).as_value(&arena),
            ValueRef::Bool(true)
        );
        assert_eq!(
            Packed::from_static("k").as_value(&arena),
            ValueRef::Str("k")
        );
    }
}
