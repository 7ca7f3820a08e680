//! The component of world `resilience-shared` on wasmtime: the host side of the imported
//! `store` interface (`wit/store.wit`), over any of core's [`SharedStore`]s.
//!
//! The exports of `resilience-shared` are `resilience`'s, so its instances are driven through
//! the same generated API ([`crate::Resilience`], [`crate::GuestEngine`]); only the linker
//! differs: it also defines `breakwater:resilience/store`, which calls the store held in the
//! instance's [`Host`]. Give every instance a clone of one `Arc` (core's
//! [`breakwater_core::MemoryStore`] for one process, `fleet_store::RedisStore` for a fleet) and
//! their engines share every breaker and bulkhead.
//!
//! A store error is a value for the guest (`conflict`, `unavailable`), never a trap. The host
//! counts every call and every `unavailable` ([`StoreCalls`]), so it can report an outage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use breakwater_core::store::{SharedStore, StoreError};
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use artifacts::BREAKWATER_COMPONENT_SHARED;

use super::{Host, ResiliencePre};

/// The generated host bindings of world `breakwater:resilience/resilience-shared`: its `store`
/// import (the exports are `resilience`'s, driven through [`crate::bindings`]).
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    dead_code
)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "resilience-shared",
    });
}

use bindings::breakwater::resilience::store as wit;

/// A store every instance of a host may share: any of core's stores that is `Send + Sync`.
pub type HostStore = Arc<dyn SharedStore + Send + Sync>;

/// Calls the guests of a host made to their store, shared by every instance given the same
/// counters (read them with [`StoreCalls::snapshot`]).
#[derive(Debug, Default)]
pub struct StoreCalls {
    gets: AtomicU64,
    sets: AtomicU64,
    unavailable: AtomicU64,
    conflicts: AtomicU64,
}

/// What [`StoreCalls`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCallCounts {
    /// `get` calls.
    pub gets: u64,
    /// `set` calls.
    pub sets: u64,
    /// Calls answered `unavailable`.
    pub unavailable: u64,
    /// `set` calls answered `conflict`.
    pub conflicts: u64,
}

impl StoreCallCounts {
    /// Every call, reads and writes.
    pub fn calls(&self) -> u64 {
        self.gets + self.sets
    }
}

impl StoreCalls {
    /// The counts so far.
    pub fn snapshot(&self) -> StoreCallCounts {
        StoreCallCounts {
            gets: self.gets.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
        }
    }

    fn count(&self, e: StoreError) -> wit::StoreError {
        match e {
            StoreError::CasMismatch => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                wit::StoreError::Conflict
            }
            _ => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
                wit::StoreError::Unavailable
            }
        }
    }
}

/// The store an instance of `resilience-shared` calls, and where its calls are counted.
#[derive(Clone)]
pub struct StoreLink {
    /// The store.
    pub store: HostStore,
    /// The counters (share one `Arc` between instances to count them together).
    pub calls: Arc<StoreCalls>,
}

impl std::fmt::Debug for StoreLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLink")
            .field("calls", &self.calls.snapshot())
            .finish_non_exhaustive()
    }
}

impl StoreLink {
    /// A link to `store` with fresh counters.
    pub fn new(store: HostStore) -> StoreLink {
        StoreLink {
            store,
            calls: Arc::new(StoreCalls::default()),
        }
    }
}

impl wit::Host for Host {
    fn get(&mut self, key: String) -> Result<Option<wit::Versioned>, wit::StoreError> {
        let Some(link) = &self.store else {
            return Err(wit::StoreError::Unavailable);
        };
        link.calls.gets.fetch_add(1, Ordering::Relaxed);
        let mut value = Vec::new();
        match link.store.get(&key, &mut value) {
            Ok(Some(version)) => Ok(Some(wit::Versioned { value, version })),
            Ok(None) => Ok(None),
            // A read cannot conflict: any error is an outage.
            Err(_) => Err(link.calls.count(StoreError::Unavailable)),
        }
    }

    fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        expected: Option<u64>,
    ) -> Result<(), wit::StoreError> {
        let Some(link) = &self.store else {
            return Err(wit::StoreError::Unavailable);
        };
        link.calls.sets.fetch_add(1, Ordering::Relaxed);
        link.store
            .set(&key, &value, expected)
            .map_err(|e| link.calls.count(e))
    }
}

/// The shared-state component compiled and linked with WASI p2 and the `store` import; built on
/// first use.
pub fn shared_pre() -> wasmtime::Result<&'static ResiliencePre<Host>> {
    static PRE: OnceLock<Result<ResiliencePre<Host>, String>> = OnceLock::new();
    PRE.get_or_init(|| prepare_shared().map_err(|e| format!("{e:?}")))
        .as_ref()
        .map_err(|e| wasmtime::format_err!("loading the shared-state component: {e}"))
}

fn prepare_shared() -> wasmtime::Result<ResiliencePre<Host>> {
    let engine = Engine::default();
    let bytes = BREAKWATER_COMPONENT_SHARED
        .read()
        .map_err(|e| wasmtime::format_err!("{e}"))?;
    let component = Component::new(&engine, bytes)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wit::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |h| h)?;
    ResiliencePre::new(linker.instantiate_pre(&component)?)
}
