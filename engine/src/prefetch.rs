//! Cache prefetch hints: ask the CPU to start fetching the lines of a value before they are
//! needed. Only hints: they read nothing observable, never fault, and are no-ops off x86_64.

/// The first `lines` cache lines of `*p` (at most the value's own), for writing.
#[inline(always)]
pub(crate) fn for_write<T>(p: *const T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    fetch::<{ std::arch::x86_64::_MM_HINT_ET0 }, T>(p, lines);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}

/// The first `lines` cache lines of `*p` (at most the value's own), for reading.
#[inline(always)]
pub(crate) fn for_read<T>(p: *const T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    fetch::<{ std::arch::x86_64::_MM_HINT_T0 }, T>(p, lines);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fetch<const HINT: i32, T>(p: *const T, lines: usize) {
    let base = p.cast::<i8>();
    for line in 0..lines.min(std::mem::size_of::<T>().div_ceil(64)) {
        // `wrapping_add` keeps this free of the rules for in-bounds pointer offsets; the
        // address stays inside the value anyway.
        // SAFETY: `_mm_prefetch` is a hint that never dereferences in a way that can fault or
        // race, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(base.wrapping_add(line * 64)) };
    }
}
