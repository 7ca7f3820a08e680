//! The breakwater component on wasmtime: the host side of the WIT package in `wit/`.
//!
//! [`bindings`] is `wasmtime::component::bindgen!` over `wit/`, so a change to the WIT that the
//! host does not follow fails to compile here rather than at run time. The component imports
//! only what Rust's std and `getrandom` need on `wasm32-wasip2` (`wasi:cli`, `wasi:io`,
//! `wasi:random`, ...), so the linker is `wasmtime_wasi::p2` and nothing else.
//!
//! Compiling a component with Cranelift costs far more than instantiating it, so the component
//! is compiled and linked once per process ([`pre`], an `InstancePre` behind a `OnceLock`);
//! each [`Guest`] is a fresh store and instance, isolated from every other test.
//!
//! - [`Guest`]: one instance; its `bindings` are the generated API (call
//!   `guest.bindings.breakwater_resilience_engine().engine().call_on_request(&mut guest.store, ..)`
//!   and assert the trap and the WIT result separately).
//! - [`GuestEngine`]: one `engine` resource in its own instance, with plain methods.
//!
//! - [`shared`]: the component of world `resilience-shared` (the engine over a store the host
//!   provides): [`Guest::shared`] and [`GuestEngine::shared`] give an instance a store, and
//!   instances given one store share their breakers and bulkheads.
//!
//! The conformance runner that replays scenarios through this host lives in its own crate
//! (`harness/conformance`).

mod guest_engine;
pub mod shared;

pub use guest_engine::{GuestEngine, http_method, request};
pub use shared::{HostStore, StoreCallCounts, StoreCalls, StoreLink};

use std::sync::OnceLock;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use artifacts::BREAKWATER_COMPONENT;

/// The generated host bindings of world `breakwater:resilience/resilience`.
#[allow(missing_docs, missing_debug_implementations, unreachable_pub)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "resilience",
        additional_derives: [PartialEq],
    });
}

pub use bindings::exports::breakwater::resilience::engine::{
    Action, Decision, EngineStatus, Hold, LogLevel, Method, Notice, PolicyStatus, Proceed, Refusal,
    Request, RequestNeeds, ResetError, ResponseVerdict, Transition, UpstreamReply,
};
pub use bindings::exports::breakwater::resilience::types::{
    BreakerState, BreakerStatistics, ConfigError, Header, HealthView, LocalReply, Outcome,
    OutcomeKind, Problem, RejectReason,
};
pub use bindings::{Resilience, ResiliencePre};

/// The store data of one instance: WASI context, its resource table, and the host's shared
/// store (only an instance of `resilience-shared` calls it).
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    store: Option<StoreLink>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl Default for Host {
    fn default() -> Self {
        Host {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            store: None,
        }
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The engine, compiled component and linker, ready to instantiate; built on first use.
pub fn pre() -> wasmtime::Result<&'static ResiliencePre<Host>> {
    static PRE: OnceLock<Result<ResiliencePre<Host>, String>> = OnceLock::new();
    PRE.get_or_init(|| prepare().map_err(|e| format!("{e:?}")))
        .as_ref()
        .map_err(|e| wasmtime::format_err!("loading the breakwater component: {e}"))
}

/// Compiles the component and links WASI p2.
fn prepare() -> wasmtime::Result<ResiliencePre<Host>> {
    let engine = Engine::default();
    let bytes = BREAKWATER_COMPONENT
        .read()
        .map_err(|e| wasmtime::format_err!("{e}"))?;
    let component = Component::new(&engine, bytes)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    ResiliencePre::new(linker.instantiate_pre(&component)?)
}

/// One instance of the component in its own store.
pub struct Guest {
    /// The instance's store (pass `&mut guest.store` to every generated call).
    pub store: Store<Host>,
    /// The generated API of the instance's exports.
    pub bindings: Resilience,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest").finish_non_exhaustive()
    }
}

impl Guest {
    /// A fresh instance (the component is compiled once per process).
    pub fn new() -> wasmtime::Result<Guest> {
        let pre = pre()?;
        let mut store = Store::new(pre.engine(), Host::default());
        let bindings = pre.instantiate(&mut store)?;
        Ok(Guest { store, bindings })
    }

    /// A fresh instance of the shared-state component (world `resilience-shared`) whose
    /// engines keep their state in `link`'s store.
    pub fn shared(link: StoreLink) -> wasmtime::Result<Guest> {
        let pre = shared::shared_pre()?;
        let host = Host {
            store: Some(link),
            ..Host::default()
        };
        let mut store = Store::new(pre.engine(), host);
        let bindings = pre.instantiate(&mut store)?;
        Ok(Guest { store, bindings })
    }
}
