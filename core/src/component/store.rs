//! [`ImportedStore`]: core's [`SharedStore`] over the `store` interface the host provides
//! (world `resilience-shared`). Conversions only: the contract is in `wit/store.wit`, the rules
//! for each error in `engine::shared` and `engine::permits`.

use crate::store::{Cas, SharedStore, StoreError};

use super::bindings::breakwater::resilience::store as wit;

/// The host's store, called through the component's imports.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ImportedStore;

/// The WIT error as core's.
fn error(e: wit::StoreError) -> StoreError {
    match e {
        wit::StoreError::Conflict => StoreError::CasMismatch,
        wit::StoreError::Unavailable => StoreError::Unavailable,
    }
}

impl SharedStore for ImportedStore {
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Result<Option<Cas>, StoreError> {
        buf.clear();
        match wit::get(key) {
            Ok(Some(v)) => {
                buf.extend_from_slice(&v.value);
                Ok(Some(v.version))
            }
            Ok(None) => Ok(None),
            // A conflict from a read makes no sense: the host is broken, treat it as down.
            Err(_) => Err(StoreError::Unavailable),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        wit::set(key, value, cas).map_err(error)
    }
}
