//! A global allocator that counts live heap bytes (allocations minus frees), so a test or a
//! benchmark can read what a structure holds: [`live`] before and after building it. Included
//! with `#[path]` by `tests/policy_memory.rs` and `benches/scale.rs` (one binary each, one
//! global allocator each).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

/// Forwards to the system allocator and counts sizes.
pub(crate) struct LiveBytes;

static LIVE: AtomicI64 = AtomicI64::new(0);

/// Heap bytes allocated and not yet freed, process-wide.
pub(crate) fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

#[allow(unsafe_code)]
// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: LiveBytes = LiveBytes;
