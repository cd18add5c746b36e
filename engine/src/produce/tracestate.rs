//! W3C `tracestate` header: parse with the spec's validation and limits, keep it without
//! allocating, forward it unchanged.
//!
//! Rules applied (W3C Trace Context, level 2, section 3.3):
//! - a list of `key=value` members separated by `,` with optional spaces and tabs around each;
//!   empty members are skipped;
//! - a key is a simple key (`lcalpha` then up to 255 of `a-z 0-9 _ - * /`) or a multi-tenant
//!   key (`tenant@system`: a tenant of 1 to 241 of `a-z 0-9 _ - * /` starting with a letter or
//!   digit, a system of 1 to 14 starting with a letter);
//! - a value is 1 to 256 printable ASCII characters other than `,` and `=`, not ending in a
//!   space;
//! - at most [`MAX_MEMBERS`] members and no key twice; otherwise the header is invalid and, as
//!   the spec says of a header that fails to parse, not propagated at all;
//! - a header longer than [`MAX_TRACESTATE_LEN`] characters (commas counted, optional
//!   whitespace not) is truncated the way the spec recommends: members longer than 128
//!   characters are removed first, then members from the end, until it fits; how many were
//!   removed is kept ([`TraceState::truncated_members`]).
//!
//! What is kept is the normalised header (no optional whitespace), in a fixed buffer of
//! [`MAX_TRACESTATE_LEN`] bytes: a `TraceState` never allocates. Invalid input is an error
//! value naming what was wrong, never a panic.

use std::fmt;

/// The most members a `tracestate` holds.
pub const MAX_MEMBERS: usize = 32;
/// The longest `tracestate` kept, in characters (the length the spec asks vendors to
/// propagate at least).
pub const MAX_TRACESTATE_LEN: usize = 512;
/// Members longer than this are the first removed when a header is truncated.
const LONG_MEMBER: usize = 128;

/// Why a `tracestate` was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateError {
    /// Member `index` (0-based, empty members counted) has no `=`.
    NoEquals {
        /// Its position in the list.
        index: usize,
    },
    /// Member `index` has a key the grammar does not allow.
    InvalidKey {
        /// Its position in the list.
        index: usize,
    },
    /// Member `index` has a value the grammar does not allow (empty, too long, a character
    /// outside printable ASCII, a `,` or `=`, or a trailing space).
    InvalidValue {
        /// Its position in the list.
        index: usize,
    },
    /// More than [`MAX_MEMBERS`] members.
    TooManyMembers,
    /// Member `index` repeats the key of an earlier one.
    DuplicateKey {
        /// Its position in the list.
        index: usize,
    },
}

impl fmt::Display for TraceStateError {
    // The header's content is not repeated here: it may carry a vendor's opaque data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceStateError::NoEquals { index } => {
                write!(f, "tracestate member {index} has no '='")
            }
            TraceStateError::InvalidKey { index } => {
                write!(f, "tracestate member {index} has an invalid key")
            }
            TraceStateError::InvalidValue { index } => {
                write!(f, "tracestate member {index} has an invalid value")
            }
            TraceStateError::TooManyMembers => {
                write!(f, "tracestate has more than {MAX_MEMBERS} members")
            }
            TraceStateError::DuplicateKey { index } => {
                write!(f, "tracestate member {index} repeats an earlier key")
            }
        }
    }
}

impl std::error::Error for TraceStateError {}

/// A validated W3C `tracestate`, held in a fixed buffer (no allocation). Parse an incoming
/// header with [`TraceState::parse`], give it to the spans that continue the trace
/// ([`crate::Span::set_trace_state`]) and forward [`TraceState::as_str`] as the `tracestate`
/// header of outgoing requests.
///
/// # Examples
/// ```
/// use ringspan::TraceState;
///
/// let ts = TraceState::parse("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7").unwrap();
/// assert_eq!(ts.as_str(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
/// assert_eq!(ts.get("rojo"), Some("00f067aa0ba902b7"));
/// assert!(TraceState::parse("Congo=x").is_err()); // keys are lowercase
/// ```
#[derive(Clone, Copy)]
pub struct TraceState {
    buf: [u8; MAX_TRACESTATE_LEN],
    len: u16,
    truncated: u8,
}

impl Default for TraceState {
    fn default() -> Self {
        TraceState::EMPTY
    }
}

impl PartialEq for TraceState {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TraceState {}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceState")
            .field("members", &self.members().count())
            .field("len", &self.len)
            .field("truncated_members", &self.truncated)
            .finish()
    }
}

fn key_char(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&c| c == b'@') {
        None => {
            (1..=256).contains(&key.len())
                && key[0].is_ascii_lowercase()
                && key.iter().all(|&c| key_char(c))
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&c| key_char(c))
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&c| key_char(c))
        }
    }
}

fn valid_value(value: &[u8]) -> bool {
    (1..=256).contains(&value.len())
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

impl TraceState {
    /// No members.
    pub const EMPTY: TraceState = TraceState {
        buf: [0; MAX_TRACESTATE_LEN],
        len: 0,
        truncated: 0,
    };

    /// Parses a `tracestate` header value (several `tracestate` headers of one request are
    /// one list: join them with `,` first). See the module docs for the rules; a header over
    /// [`MAX_TRACESTATE_LEN`] characters is truncated, not rejected.
    pub fn parse(header: &str) -> Result<TraceState, TraceStateError> {
        // Members as byte ranges of `header`, after validation: start, end of the key, end.
        let mut members = [(0usize, 0usize, 0usize); MAX_MEMBERS];
        let mut n = 0;
        let mut offset = 0;
        for (index, raw) in header.split(',').enumerate() {
            let start = offset + (raw.len() - raw.trim_start_matches([' ', '\t']).len());
            offset += raw.len() + 1;
            let member = raw.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let eq = member
                .find('=')
                .ok_or(TraceStateError::NoEquals { index })?;
            let (key, value) = (&member.as_bytes()[..eq], &member.as_bytes()[eq + 1..]);
            if !valid_key(key) {
                return Err(TraceStateError::InvalidKey { index });
            }
            if !valid_value(value) {
                return Err(TraceStateError::InvalidValue { index });
            }
            if n == MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            let h = header.as_bytes();
            if members[..n].iter().any(|&(s, k, _)| &h[s..k] == key) {
                return Err(TraceStateError::DuplicateKey { index });
            }
            members[n] = (start, start + eq, start + member.len());
            n += 1;
        }
        let mut keep = [true; MAX_MEMBERS];
        // Normalised length: the members and the commas between them.
        let total = |keep: &[bool; MAX_MEMBERS]| {
            let (count, bytes) = members[..n]
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .fold((0, 0), |(c, b), ((s, _, e), _)| (c + 1, b + e - s));
            bytes + count.max(1) - 1
        };
        let mut truncated = 0u8;
        for (i, &(s, _, e)) in members[..n].iter().enumerate() {
            if total(&keep) <= MAX_TRACESTATE_LEN {
                break;
            }
            if e - s > LONG_MEMBER {
                keep[i] = false;
                truncated += 1;
            }
        }
        for i in (0..n).rev() {
            if total(&keep) <= MAX_TRACESTATE_LEN {
                break;
            }
            if keep[i] {
                keep[i] = false;
                truncated += 1;
            }
        }
        let mut ts = TraceState {
            truncated,
            ..TraceState::EMPTY
        };
        let mut at = 0;
        for (&(s, _, e), _) in members[..n].iter().zip(&keep).filter(|(_, k)| **k) {
            if at > 0 {
                ts.buf[at] = b',';
                at += 1;
            }
            ts.buf[at..at + (e - s)].copy_from_slice(&header.as_bytes()[s..e]);
            at += e - s;
        }
        ts.len = at as u16;
        Ok(ts)
    }

    /// The header value to forward (members joined by `,`, no optional whitespace); `""`
    /// when empty.
    pub fn as_str(&self) -> &str {
        let bytes = &self.buf[..usize::from(self.len)];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `parse` only copies whole members of a `&str` that it validated as
        // printable ASCII (keys and values) joined by `,`, so the bytes are ASCII.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The members as (key, value), in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> + Clone + '_ {
        self.as_str()
            .split(',')
            .filter(|m| !m.is_empty())
            .filter_map(|m| m.split_once('='))
    }

    /// The value of `key`, if a member has it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Members removed because the header was longer than [`MAX_TRACESTATE_LEN`].
    pub fn truncated_members(&self) -> usize {
        usize::from(self.truncated)
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_headers_are_kept_normalised() {
        let ts = TraceState::parse(" a=1 ,\t,b@vendor=x y,c*/-_9=~!").unwrap();
        assert_eq!(ts.as_str(), "a=1,b@vendor=x y,c*/-_9=~!");
        let members: Vec<_> = ts.members().collect();
        assert_eq!(members, [("a", "1"), ("b@vendor", "x y"), ("c*/-_9", "~!")]);
        assert_eq!(ts.get("b@vendor"), Some("x y"));
        assert_eq!(ts.get("b"), None);
        assert_eq!(ts.truncated_members(), 0);
        assert!(TraceState::parse("").unwrap().is_empty());
        assert!(TraceState::parse(" , ").unwrap().is_empty());
        assert!(
            TraceState::parse("1tenant@sys=v").is_ok(),
            "a tenant may start with a digit"
        );
    }

    #[test]
    fn invalid_headers_name_the_member_and_the_rule() {
        use TraceStateError::*;
        let long = |n| "k".repeat(n);
        let cases: Vec<(String, TraceStateError)> = vec![
            ("a".into(), NoEquals { index: 0 }),
            ("a=1,b".into(), NoEquals { index: 1 }),
            ("A=1".into(), InvalidKey { index: 0 }),
            ("1a=1".into(), InvalidKey { index: 0 }),
            ("a@1sys=1".into(), InvalidKey { index: 0 }),
            ("a@=1".into(), InvalidKey { index: 0 }),
            (format!("{}=1", long(257)), InvalidKey { index: 0 }),
            ("a=".into(), InvalidValue { index: 0 }),
            ("a=b=c".into(), InvalidValue { index: 0 }),
            ("a=caf\u{e9}".into(), InvalidValue { index: 0 }),
            (format!("a={}", long(257)), InvalidValue { index: 0 }),
            ("a=1,,a=2".into(), DuplicateKey { index: 2 }),
        ];
        for (header, want) in cases {
            assert_eq!(TraceState::parse(&header), Err(want), "{header:?}");
        }
        assert!(TraceState::parse(&format!("{}=1", long(256))).is_ok());
        let members = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(TraceState::parse(&members(MAX_MEMBERS)).is_ok());
        assert_eq!(
            TraceState::parse(&members(MAX_MEMBERS + 1)),
            Err(TooManyMembers)
        );
        let err = TraceState::parse("token=s3cret=x").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn long_headers_lose_long_members_first_then_the_last() {
        let member = |key: &str, len: usize| format!("{key}={}", "v".repeat(len - key.len() - 1));
        // 5 x 120 + 4 commas = 604: the last member goes (4 x 120 + 3 = 483).
        let even: Vec<_> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|k| member(k, 120))
            .collect();
        let ts = TraceState::parse(&even.join(",")).unwrap();
        assert_eq!(ts.as_str(), even[..4].join(","));
        assert_eq!(ts.truncated_members(), 1);
        // One member over 128 goes first, wherever it is.
        let mixed = [
            member("a", 100),
            member("b", 200),
            member("c", 100),
            member("d", 100),
            member("e", 100),
        ];
        let ts = TraceState::parse(&mixed.join(",")).unwrap();
        assert_eq!(
            ts.as_str(),
            [&mixed[0], &mixed[2], &mixed[3], &mixed[4]]
                .map(|s| s.as_str())
                .join(",")
        );
        assert_eq!(ts.truncated_members(), 1);
        assert!(ts.as_str().len() <= MAX_TRACESTATE_LEN);
    }
}
