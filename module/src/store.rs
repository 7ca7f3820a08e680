//! [`LocalStore`]: the engine's `SharedStore` when the engine itself is the only one.
//!
//! Core's seam is a compare-and-swap byte store because proxy-wasm VMs share nothing else. In
//! the module one engine serves every worker, behind one mutex, so nothing else ever writes: a
//! plain map without a lock of its own (the engine's mutex already serialises every access)
//! keeps the engine's snapshots, and every compare-and-swap succeeds first time.

use std::cell::RefCell;
use std::collections::HashMap;

use breakwater_core::store::{Cas, SharedStore, StoreError};

/// A map from key to (value, version), owned by one engine.
#[derive(Debug, Default)]
pub(crate) struct LocalStore {
    map: RefCell<HashMap<String, (Vec<u8>, Cas)>>,
}

impl SharedStore for LocalStore {
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Result<Option<Cas>, StoreError> {
        buf.clear();
        let map = self.map.borrow();
        Ok(map.get(key).map(|(value, cas)| {
            buf.extend_from_slice(value);
            *cas
        }))
    }

    /// `cas = None` creates the key only if it is absent, as the trait asks.
    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        let mut map = self.map.borrow_mut();
        let current = map.get(key).map(|(_, c)| *c);
        if cas != current {
            return Err(StoreError::CasMismatch);
        }
        let next = current.map_or(1, |c| c.wrapping_add(1).max(1));
        match map.get_mut(key) {
            Some(slot) => {
                slot.0.clear();
                slot.0.extend_from_slice(value);
                slot.1 = next;
            }
            None => {
                map.insert(key.to_owned(), (value.to_vec(), next));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_advance_and_stale_writes_are_refused() {
        let s = LocalStore::default();
        let mut buf = Vec::new();
        assert_eq!(s.get("k", &mut buf), Ok(None));
        s.set("k", b"a", None).unwrap();
        assert_eq!(s.set("k", b"z", None), Err(StoreError::CasMismatch));
        let cas = s.get("k", &mut buf).unwrap().unwrap();
        assert_eq!(buf, b"a");
        s.set("k", b"b", Some(cas)).unwrap();
        assert_eq!(s.set("k", b"c", Some(cas)), Err(StoreError::CasMismatch));
        assert_eq!(s.get("k", &mut buf), Ok(Some(cas + 1)));
        assert_eq!(buf, b"b");
    }
}
