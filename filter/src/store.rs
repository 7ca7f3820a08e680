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
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Result<Option<Cas>, StoreError> {
        self.count();
        buf.clear();
        // The SDK turns Envoy's NotFound into `Ok((None, None))`; any other status is an error
        // of the host, which must not read as "never written".
        match hostcalls::get_shared_data(key) {
            Ok((Some(bytes), cas)) => {
                buf.extend_from_slice(&bytes);
                // Envoy always returns a token with a value; 0 would mean "unconditional".
                Ok(Some(Cas::from(cas.unwrap_or(0))))
            }
            Ok((None, _)) | Err(Status::NotFound) => Ok(None),
            Err(_) => Err(StoreError::Unavailable),
        }
    }

    /// Envoy's shared data cannot create a key only if absent: `cas = None` writes
    /// unconditionally. Keys are created when each worker's engine is built (every worker
    /// writes the same initial value) and never disappear, so that is enough here.
    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        self.count();
        // Every version came from `get`, so it fits Envoy's u32; one that does not is stale.
        let cas = match cas.map(u32::try_from) {
            Some(Ok(c)) => Some(c),
            Some(Err(_)) => return Err(StoreError::CasMismatch),
            None => None,
        };
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(StoreError::CasMismatch),
            Err(_) => Err(StoreError::Unavailable),
        }
    }
}
