//! Attribute keys of the `opentelemetry` API as `&'static str`, so that a record stores them
//! as it stores a native span's keys (a pointer, no arena bytes).
//!
//! The API's `Key` does not say whether it holds a `&'static str` (most do: `KeyValue::new`
//! with a literal), so keys are interned by content: the first time the process sees a key
//! its text is copied once into leaked memory, under a lock, and every thread keeps a small
//! cache of the keys it used (direct-mapped, two ways, by the address and length of the text
//! it was given), so a key seen before costs a hash, two compares and a comparison of its
//! bytes, without a lock or a copy. A key the thread has not cached looks in the process's
//! table under a lock it never waits for (`try_lock`: when another thread holds it, the key
//! is copied this once). The process keeps at most [`MAX_KEY_BYTES`] of interned text; past
//! that (keys made up at run time, without end), a key not in the thread's cache is copied
//! into the span's arena as a string, as before, bounded and counted like any string, and
//! the table is not looked at again.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, TryLockError};

/// Interned key text the process keeps at most.
pub const MAX_KEY_BYTES: usize = 64 * 1024;

/// Entries of each thread's cache (two ways of `WAYS / 2` sets).
const WAYS: usize = 512;

struct Interned {
    keys: HashSet<&'static str>,
    bytes: usize,
}

static INTERNED: Mutex<Option<Interned>> = Mutex::new(None);

thread_local! {
    // Const-initialised, no destructor: reading it costs a TLS offset, never a registration.
    static CACHE: [Cell<(usize, &'static str)>; WAYS] =
        const { [const { Cell::new((0, "")) }; WAYS] };
}

fn set(ptr: usize, len: usize) -> usize {
    // Fibonacci hashing of the address and length; the pair of ways is `2 * set`.
    let h = (ptr ^ len.rotate_left(48)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - (WAYS / 2).trailing_zeros())) * 2
}

/// `key` as a `&'static str` with the same text, or `None` once the process keeps
/// [`MAX_KEY_BYTES`] of them and this is a new one.
#[inline]
pub(super) fn intern(key: &str) -> Option<&'static str> {
    let ptr = key.as_ptr() as usize;
    let first = set(ptr, key.len());
    let hit = CACHE
        .try_with(|cache| {
            cache[first..first + 2].iter().find_map(|way| {
                let (p, k) = way.get();
                // The address alone is not enough: an owned key's memory may have been
                // freed and reused for other text; the bytes decide.
                (p == ptr && k == key).then_some(k)
            })
        })
        .ok()
        .flatten();
    if hit.is_some() {
        return hit;
    }
    let interned = intern_slow(key)?;
    let _ = CACHE.try_with(|cache| {
        // The second way takes the first's entry, the new key the first way.
        cache[first + 1].set(cache[first].get());
        cache[first].set((ptr, interned));
    });
    Some(interned)
}

/// Set once the process keeps [`MAX_KEY_BYTES`]: from then on a key not in the thread's
/// cache is copied into the span without looking at the table (keys made up at run time
/// would otherwise take its lock on every attribute).
static FULL: AtomicBool = AtomicBool::new(false);

#[cold]
fn intern_slow(key: &str) -> Option<&'static str> {
    // Relaxed: a hint; a thread that still reads `false` takes the path below, which
    // decides under the lock.
    if FULL.load(Ordering::Relaxed) {
        return None;
    }
    // Never waits: with another thread in the table, this key is copied this once.
    let mut guard = match INTERNED.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let table = guard.get_or_insert_with(|| Interned {
        keys: HashSet::new(),
        bytes: 0,
    });
    if let Some(k) = table.keys.get(key) {
        return Some(k);
    }
    if table.bytes + key.len() > MAX_KEY_BYTES {
        // Relaxed: see `FULL`.
        FULL.store(true, Ordering::Relaxed);
        return None;
    }
    let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
    table.keys.insert(leaked);
    table.bytes += key.len();
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_gives_the_same_static_key_whatever_memory_it_came_in() {
        let a = intern("order.id").unwrap();
        let owned = String::from("order.id");
        let b = intern(&owned).unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!(intern(&owned), Some(a), "cached");
        drop(owned);
        // Other text at what may be the same address is not mistaken for the cached key.
        let other = String::from("order.qt");
        assert_eq!(intern(&other).unwrap(), "order.qt");
    }
}
