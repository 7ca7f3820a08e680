//! [`HostStore`]: the engine's compare-and-swap store, kept in Envoy's shared data.
//!
//! Shared data is the only memory Envoy's worker VMs share (keyed by `vm_id`). Every call takes a
//! process-wide lock and copies the value, so it is the filter's real cost; the engine already
//! keeps it off the steady-state path (see `breakwater_core::engine`), and this store counts
//! every call so the cost is visible as the `breakwater.shared_data_calls` metric.

use std::cell::Cell;

use breakwater_core::store::{Cas, SharedStore, StoreError};
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

/// Envoy's shared data behind the [`SharedStore`] trait.
#[derive(Debug, Default)]
pub struct HostStore {
    calls: Cell<u64>,
}

impl HostStore {
    /// A store over the VM's shared data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shared-data calls made so far (gets and sets).
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    fn count(&self) {
        self.calls.set(self.calls.get() + 1);
    }
}

impl SharedStore for HostStore {
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Option<Cas> {
        self.count();
        buf.clear();
        match hostcalls::get_shared_data(key) {
            Ok((Some(bytes), cas)) => {
                buf.extend_from_slice(&bytes);
                // Envoy always returns a token with a value; 0 would mean "unconditional".
                Some(cas.unwrap_or(0))
            }
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        self.count();
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(StoreError::CasMismatch),
            Err(_) => Err(StoreError::Unavailable),
        }
    }
}
