//! The component in wasmtime: compile once, instantiate per engine, call the `engine` resource.
//!
//! This is the part of a Rust host that is about WebAssembly and nothing else. Bindings come
//! from `bindgen!` over `wit/`, so a WIT change the host does not follow fails to compile here.
//! The component imports only what Rust's std needs on WASI preview 2 (and `wasi:random` for
//! unseeded engines), so the linker is `wasmtime_wasi::p2` and nothing more.
//!
//! Every method is synchronous and takes microseconds: an async host keeps a [`Breakwater`]
//! behind a plain mutex and never holds it across an `.await` (see [`crate::guard`]).

use std::path::Path;

use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The generated bindings of world `breakwater:resilience/resilience`.
#[allow(missing_docs, missing_debug_implementations, unreachable_pub)]
pub mod bindings {
    wasmtime::component::bindgen!({ path: "../../wit", world: "resilience" });
}

use bindings::exports::breakwater::resilience::engine::GuestEngine;
pub use bindings::exports::breakwater::resilience::engine::{
    Action, Decision, Method, Request, Transition,
};
pub use bindings::exports::breakwater::resilience::types::{
    BreakerState, ConfigError, Header, LocalReply, Outcome, OutcomeKind, RejectReason,
};
use bindings::{Resilience, ResiliencePre};

/// The store data of one instance: the WASI context and its resource table.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled component and its linker: built once per process (compiling takes about a
/// second; instantiating, microseconds).
pub struct Runtime {
    pre: ResiliencePre<State>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles the component at `path` and links WASI preview 2.
    pub fn load(path: &Path) -> wasmtime::Result<Runtime> {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path)
            .map_err(|e| e.context(format!("loading the component {}", path.display())))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let pre = ResiliencePre::new(linker.instantiate_pre(&component)?)?;
        Ok(Runtime { pre })
    }

    /// A new instance with an engine built from `config` (the filter's JSON) at `now`. The
    /// outer error is a trap; the inner one the configuration's problems, each with its path.
    pub fn engine(
        &self,
        config: &str,
        now: u64,
    ) -> wasmtime::Result<Result<Breakwater, ConfigError>> {
        let state = State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        let bindings = self.pre.instantiate(&mut store)?;
        let api = bindings.breakwater_resilience_engine().engine();
        let engine = match api.call_constructor(&mut store, config, now, None)? {
            Ok(engine) => engine,
            Err(problems) => return Ok(Err(problems)),
        };
        // Fixed for the engine's lifetime: fetch once, then a `proceed` names its list by number.
        let header_sets = api.call_header_sets(&mut store, engine)?;
        Ok(Ok(Breakwater {
            store,
            bindings,
            engine,
            header_sets,
        }))
    }
}

/// One `engine` resource in its own store: the driving loop's calls, as plain methods.
pub struct Breakwater {
    store: Store<State>,
    bindings: Resilience,
    engine: ResourceAny,
    header_sets: Vec<Vec<Header>>,
}

impl std::fmt::Debug for Breakwater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breakwater").finish_non_exhaustive()
    }
}

impl Breakwater {
    /// The headers to add toward the upstream for a `proceed`'s header set.
    pub fn headers(&self, set: u32) -> &[Header] {
        self.header_sets
            .get(set as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// `on-request`: what to do with a new request.
    pub fn on_request(&mut self, now: u64, request: &Request) -> wasmtime::Result<Decision> {
        api(&self.bindings).call_on_request(&mut self.store, self.engine, now, request)
    }

    /// `on-response`: reports a proceeding request's outcome; returns how many actions wait.
    pub fn on_response(
        &mut self,
        now: u64,
        ticket: u64,
        outcome: Outcome,
    ) -> wasmtime::Result<u32> {
        api(&self.bindings).call_on_response(&mut self.store, self.engine, now, ticket, outcome, 1)
    }

    /// `cancel`: ends a request whose caller went away; returns how many actions wait.
    pub fn cancel(&mut self, now: u64, ticket: u64) -> wasmtime::Result<u32> {
        api(&self.bindings).call_cancel(&mut self.store, self.engine, now, ticket)
    }

    /// `poll-timeout`: when [`Breakwater::handle_timeout`] is next due.
    pub fn poll_timeout(&mut self) -> wasmtime::Result<u64> {
        api(&self.bindings).call_poll_timeout(&mut self.store, self.engine)
    }

    /// `handle-timeout`: does what is due at `now`.
    pub fn handle_timeout(&mut self, now: u64) -> wasmtime::Result<()> {
        api(&self.bindings).call_handle_timeout(&mut self.store, self.engine, now)
    }

    /// `poll-action`, drained: what to do with held requests, oldest first.
    pub fn actions(&mut self) -> wasmtime::Result<Vec<Action>> {
        let mut actions = Vec::new();
        loop {
            match api(&self.bindings).call_poll_action(&mut self.store, self.engine)? {
                Some(action) => actions.push(action),
                None => return Ok(actions),
            }
        }
    }

    /// `poll-event`, drained: breaker transitions, oldest first.
    pub fn transitions(&mut self) -> wasmtime::Result<Vec<Transition>> {
        let mut events = Vec::new();
        loop {
            match api(&self.bindings).call_poll_event(&mut self.store, self.engine)? {
                Some(event) => events.push(event),
                None => return Ok(events),
            }
        }
    }

    /// `status-json`: every policy's state and counters as JSON.
    pub fn status_json(&mut self, now: u64) -> wasmtime::Result<String> {
        api(&self.bindings).call_status_json(&mut self.store, self.engine, now)
    }
}

fn api(bindings: &Resilience) -> GuestEngine<'_> {
    bindings.breakwater_resilience_engine().engine()
}

/// A WIT request from a method's text and a path (no cluster, route or headers: this
/// example's policies match on the path only, which `request-needs` would confirm).
pub fn request(method: &str, path: &str) -> Request {
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    };
    Request {
        method,
        path: path.to_owned(),
        cluster: None,
        route: None,
        headers: Vec::new(),
    }
}
