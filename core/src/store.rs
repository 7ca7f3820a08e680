//! The shared state seam: a tiny compare-and-swap key-value store.
//!
//! Envoy runs one wasm VM per worker thread; the only state they share is proxy-wasm "shared
//! data", a byte map with a version (`cas`) per key. breakwater keeps breaker and bulkhead
//! snapshots there and updates them with optimistic concurrency: read `(bytes, cas)`, compute the
//! next snapshot with a pure function, write it back conditioned on `cas`, and retry on a
//! mismatch. The engine only sees this trait, so the same code runs over Envoy's shared data (in
//! the filter), over [`MemoryStore`] (in tests, benchmarks and the component, where several
//! engines sharing one `MemoryStore` stand in for several workers), or over anything else a host
//! provides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The version of a stored value; changes on every successful write.
pub type Cas = u32;

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// the value changed since it was read: read again and retry
    CasMismatch,
    /// the store refused the write for another reason (full, host error)
    Unavailable,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StoreError::CasMismatch => "cas mismatch",
            StoreError::Unavailable => "store unavailable",
        })
    }
}

impl std::error::Error for StoreError {}

/// A compare-and-swap byte store shared by every engine of one deployment.
pub trait SharedStore {
    /// The current value and its version, or `None` when the key was never written.
    /// `buf` is cleared and receives the value, so a caller can reuse one buffer.
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Option<Cas>;

    /// Writes `value`. With `Some(cas)` the write happens only if the stored version is still
    /// `cas`; with `None` it is unconditional (used once, to create a key).
    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, (Vec<u8>, Cas)>,
    fail_next: u32,
    gets: u64,
    sets: u64,
}

/// An in-memory [`SharedStore`]. Clones share the same map, so several engines built over clones
/// behave like several Envoy workers over one shared-data store.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-test; the map is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next `n` conditional writes fail with [`StoreError::CasMismatch`], as if another
    /// worker had written first. For tests of the retry loop.
    pub fn fail_next_sets(&self, n: u32) {
        self.lock().fail_next = n;
    }

    /// How many `get` and `set` calls were made: the cost a real host would pay.
    pub fn calls(&self) -> (u64, u64) {
        let g = self.lock();
        (g.gets, g.sets)
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Option<Cas> {
        let mut g = self.lock();
        g.gets += 1;
        buf.clear();
        let (value, cas) = g.map.get(key)?;
        buf.extend_from_slice(value);
        Some(*cas)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.sets += 1;
        if cas.is_some() && g.fail_next > 0 {
            g.fail_next -= 1;
            return Err(StoreError::CasMismatch);
        }
        let current = g.map.get(key).map(|(_, c)| *c);
        if let Some(expected) = cas
            && current != Some(expected)
        {
            return Err(StoreError::CasMismatch);
        }
        let next = current.map_or(1, |c| c.wrapping_add(1).max(1));
        match g.map.get_mut(key) {
            Some(slot) => {
                slot.0.clear();
                slot.0.extend_from_slice(value);
                slot.1 = next;
            }
            None => {
                g.map.insert(key.to_owned(), (value.to_vec(), next));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_refuses_stale_writes() {
        let a = MemoryStore::new();
        let b = a.clone();
        let mut buf = Vec::new();
        assert_eq!(a.get("k", &mut buf), None);
        a.set("k", b"1", None).unwrap();
        let cas = a.get("k", &mut buf).unwrap();
        assert_eq!(buf, b"1");
        b.set("k", b"2", Some(cas)).unwrap();
        assert_eq!(a.set("k", b"3", Some(cas)), Err(StoreError::CasMismatch));
        assert_eq!(b.get("k", &mut buf), Some(cas + 1));
        assert_eq!(buf, b"2");
    }

    #[test]
    fn forced_mismatch_then_success() {
        let s = MemoryStore::new();
        s.set("k", b"a", None).unwrap();
        s.fail_next_sets(1);
        let mut buf = Vec::new();
        let cas = s.get("k", &mut buf).unwrap();
        assert_eq!(s.set("k", b"b", Some(cas)), Err(StoreError::CasMismatch));
        assert_eq!(s.set("k", b"b", Some(cas)), Ok(()));
    }
}
