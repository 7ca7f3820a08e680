//! The shared state seam: a tiny compare-and-swap key-value store.
//!
//! Envoy runs one wasm VM per worker thread; the only state they share is proxy-wasm "shared
//! data", a byte map with a version (`cas`) per key. breakwater keeps breaker and bulkhead
//! snapshots there and updates them with optimistic concurrency: read `(bytes, cas)`, compute the
//! next snapshot with a pure function, write it back conditioned on `cas`, and retry on a
//! mismatch. The engine only sees this trait, so the same code runs over Envoy's shared data (in
//! the filter), over [`MemoryStore`] (in tests, benchmarks, the component's private store, and a
//! host's store shared by every instance and thread), over Redis for a fleet of replicas, or
//! over anything else a host provides.
//!
//! **Reads can fail.** A store across a network (Redis) can be unreachable, and "unreachable"
//! must never look like "never written": an engine that took an outage for a missing key would
//! write a fresh, closed breaker over an open one for the whole fleet. So [`SharedStore::get`]
//! answers `Ok(None)` only for a key that does not exist, and [`StoreError::Unavailable`] for
//! anything it could not read. What the engine does then (keep its cached view, keep outcomes
//! pending, refuse what a cap would need the store for) is in `engine::shared` and
//! `engine::permits`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The version of a stored value: opaque, compared only for equality, different after every
/// successful write of the key (Envoy's shared data counts in `u32`, which fits).
pub type Cas = u64;

/// Why a read or a write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// the value changed since it was read (or, when creating, exists): read again and retry
    CasMismatch,
    /// the store could not be reached or refused for another reason (full, host error)
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
///
/// Values are opaque bytes the store keeps verbatim. Versions are opaque too: the engine only
/// hands back a version it read.
pub trait SharedStore {
    /// The current value and its version; `Ok(None)` when the key does not exist (never
    /// written, or expired); `Err(StoreError::Unavailable)` when the store could not say.
    /// `buf` is cleared and receives the value, so a caller can reuse one buffer.
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Result<Option<Cas>, StoreError>;

    /// Writes `value` atomically. With `Some(cas)` the write happens only if the stored version
    /// is still `cas` (else [`StoreError::CasMismatch`]); with `None` only if the key does not
    /// exist (create-if-absent; else [`StoreError::CasMismatch`]). A store that cannot create
    /// conditionally (Envoy's shared data) may write unconditionally when keys can only be
    /// missing before the first engine starts, where every engine writes the same initial value.
    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, (Vec<u8>, Cas)>,
    fail_next: u32,
    unavailable: bool,
    gets: u64,
    sets: u64,
}

/// An in-memory [`SharedStore`]. Clones share the same map (behind an `Arc<Mutex<…>>`), so
/// several engines built over clones behave like several Envoy workers over one shared-data
/// store, on one thread or many.
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

    /// While `true`, every call fails with [`StoreError::Unavailable`] and changes nothing, as a
    /// store across a network does in an outage. For tests of what the engine does then.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// Removes every key, as a store restarted without persistence (or whose keys expired) is.
    pub fn clear(&self) {
        self.lock().map.clear();
    }

    /// How many keys the store holds: what a configuration costs a store that never forgets
    /// (tests hold keyed breakers to their bound with it).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many `get` and `set` calls were made (failed ones included): the cost a real host
    /// would pay.
    pub fn calls(&self) -> (u64, u64) {
        let g = self.lock();
        (g.gets, g.sets)
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Result<Option<Cas>, StoreError> {
        let mut g = self.lock();
        g.gets += 1;
        buf.clear();
        if g.unavailable {
            return Err(StoreError::Unavailable);
        }
        Ok(g.map.get(key).map(|(value, cas)| {
            buf.extend_from_slice(value);
            *cas
        }))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.sets += 1;
        if g.unavailable {
            return Err(StoreError::Unavailable);
        }
        if cas.is_some() && g.fail_next > 0 {
            g.fail_next -= 1;
            return Err(StoreError::CasMismatch);
        }
        let current = g.map.get(key).map(|(_, c)| *c);
        if current != cas {
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
        assert_eq!(a.get("k", &mut buf), Ok(None));
        a.set("k", b"1", None).unwrap();
        let cas = a.get("k", &mut buf).unwrap().unwrap();
        assert_eq!(buf, b"1");
        b.set("k", b"2", Some(cas)).unwrap();
        assert_eq!(a.set("k", b"3", Some(cas)), Err(StoreError::CasMismatch));
        assert_eq!(b.get("k", &mut buf), Ok(Some(cas + 1)));
        assert_eq!(buf, b"2");
    }

    #[test]
    fn creating_an_existing_key_is_a_mismatch() {
        let s = MemoryStore::new();
        s.set("k", b"a", None).unwrap();
        assert_eq!(s.set("k", b"b", None), Err(StoreError::CasMismatch));
        let mut buf = Vec::new();
        assert_eq!(s.get("k", &mut buf), Ok(Some(1)));
        assert_eq!(buf, b"a");
        // And a conditional write on a key that does not exist is one too.
        assert_eq!(s.set("new", b"x", Some(1)), Err(StoreError::CasMismatch));
    }

    #[test]
    fn forced_mismatch_then_success() {
        let s = MemoryStore::new();
        s.set("k", b"a", None).unwrap();
        s.fail_next_sets(1);
        let mut buf = Vec::new();
        let cas = s.get("k", &mut buf).unwrap().unwrap();
        assert_eq!(s.set("k", b"b", Some(cas)), Err(StoreError::CasMismatch));
        assert_eq!(s.set("k", b"b", Some(cas)), Ok(()));
    }

    #[test]
    fn an_unavailable_store_is_not_an_empty_one() {
        let s = MemoryStore::new();
        s.set("k", b"a", None).unwrap();
        s.set_unavailable(true);
        let mut buf = Vec::new();
        assert_eq!(s.get("k", &mut buf), Err(StoreError::Unavailable));
        assert_eq!(s.get("missing", &mut buf), Err(StoreError::Unavailable));
        assert_eq!(s.set("k", b"b", Some(1)), Err(StoreError::Unavailable));
        s.set_unavailable(false);
        assert_eq!(s.get("k", &mut buf), Ok(Some(1)));
        assert_eq!(buf, b"a", "nothing changed while unavailable");
        s.clear();
        assert_eq!(s.get("k", &mut buf), Ok(None));
    }
}
