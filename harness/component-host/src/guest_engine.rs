//! One `engine` resource in its own instance, with plain methods: what the conformance runner,
//! the example and the benchmark drive. Each call returns `wasmtime::Result` (a trap) around
//! the WIT result, so callers still see the two apart.
//!
//! It keeps the engine's `header-sets`, fetched once after the constructor as the WIT asks a
//! host to, so [`GuestEngine::headers`] turns a `proceed`'s number into its list without a call.

use wasmtime::component::ResourceAny;

use super::bindings::exports::breakwater::resilience::engine::GuestEngine as Api;
use super::{Action, ConfigError, Decision, EngineStatus, Guest, Header, Method, Outcome, Request};
use super::{BreakerState, BreakerStatistics, HealthView, Notice, ResetError, ResponseVerdict};
use super::{RequestNeeds, StoreLink, Transition, bindings};

/// An `engine` resource and the instance that owns it.
pub struct GuestEngine {
    guest: Guest,
    engine: ResourceAny,
    header_sets: Vec<Vec<Header>>,
}

impl std::fmt::Debug for GuestEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestEngine").finish_non_exhaustive()
    }
}

impl GuestEngine {
    /// A fresh instance and an engine built from `config` (the plugin JSON) at `now`.
    pub fn new(
        config: &str,
        now: u64,
        seed: Option<u64>,
    ) -> wasmtime::Result<Result<GuestEngine, ConfigError>> {
        Self::in_guest(Guest::new()?, config, now, seed)
    }

    /// A fresh instance of the shared-state component and an engine built from `config` at
    /// `now`, keeping its state in `link`'s store (engines over one store share it).
    pub fn shared(
        link: StoreLink,
        config: &str,
        now: u64,
        seed: Option<u64>,
    ) -> wasmtime::Result<Result<GuestEngine, ConfigError>> {
        Self::in_guest(Guest::shared(link)?, config, now, seed)
    }

    /// An engine built from `config` at `now` in `guest`.
    fn in_guest(
        mut guest: Guest,
        config: &str,
        now: u64,
        seed: Option<u64>,
    ) -> wasmtime::Result<Result<GuestEngine, ConfigError>> {
        let created = api(&guest.bindings).call_constructor(&mut guest.store, config, now, seed)?;
        let engine = match created {
            Ok(engine) => engine,
            Err(e) => return Ok(Err(e)),
        };
        let header_sets = api(&guest.bindings).call_header_sets(&mut guest.store, engine)?;
        Ok(Ok(GuestEngine {
            guest,
            engine,
            header_sets,
        }))
    }

    /// The headers a `proceed` names (`header-sets()[set]`, kept since construction); empty
    /// for a number the engine never gave.
    pub fn headers(&self, set: u32) -> &[Header] {
        self.header_sets
            .get(set as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The kept `header-sets`.
    pub fn header_sets(&self) -> &[Vec<Header>] {
        &self.header_sets
    }

    /// `on-request`.
    pub fn on_request(&mut self, now: u64, request: &Request) -> wasmtime::Result<Decision> {
        let g = &mut self.guest;
        api(&g.bindings).call_on_request(&mut g.store, self.engine, now, request)
    }

    /// `on-response`: how many actions are now waiting in `poll-action`.
    pub fn on_response(
        &mut self,
        now: u64,
        ticket: u64,
        outcome: Outcome,
        attempts: u32,
    ) -> wasmtime::Result<u32> {
        let g = &mut self.guest;
        api(&g.bindings).call_on_response(&mut g.store, self.engine, now, ticket, outcome, attempts)
    }

    /// `cancel`: how many actions are now waiting in `poll-action`.
    pub fn cancel(&mut self, now: u64, ticket: u64) -> wasmtime::Result<u32> {
        let g = &mut self.guest;
        api(&g.bindings).call_cancel(&mut g.store, self.engine, now, ticket)
    }

    /// `poll-timeout`.
    pub fn poll_timeout(&mut self) -> wasmtime::Result<u64> {
        let g = &mut self.guest;
        api(&g.bindings).call_poll_timeout(&mut g.store, self.engine)
    }

    /// `handle-timeout`.
    pub fn handle_timeout(&mut self, now: u64) -> wasmtime::Result<()> {
        let g = &mut self.guest;
        api(&g.bindings).call_handle_timeout(&mut g.store, self.engine, now)
    }

    /// `poll-action`.
    pub fn poll_action(&mut self) -> wasmtime::Result<Option<Action>> {
        let g = &mut self.guest;
        api(&g.bindings).call_poll_action(&mut g.store, self.engine)
    }

    /// `poll-event`.
    pub fn poll_event(&mut self) -> wasmtime::Result<Option<Transition>> {
        let g = &mut self.guest;
        api(&g.bindings).call_poll_event(&mut g.store, self.engine)
    }

    /// `request-needs`.
    pub fn request_needs(&mut self) -> wasmtime::Result<RequestNeeds> {
        let g = &mut self.guest;
        api(&g.bindings).call_request_needs(&mut g.store, self.engine)
    }

    /// `header-sets`, called again (the kept copy is [`GuestEngine::header_sets`]).
    pub fn fetch_header_sets(&mut self) -> wasmtime::Result<Vec<Vec<Header>>> {
        let g = &mut self.guest;
        api(&g.bindings).call_header_sets(&mut g.store, self.engine)
    }

    /// `request-headers`.
    pub fn request_headers(&mut self, ticket: u64) -> wasmtime::Result<Vec<Header>> {
        let g = &mut self.guest;
        api(&g.bindings).call_request_headers(&mut g.store, self.engine, ticket)
    }

    /// `status`.
    pub fn status(&mut self, now: u64) -> wasmtime::Result<EngineStatus> {
        let g = &mut self.guest;
        api(&g.bindings).call_status(&mut g.store, self.engine, now)
    }

    /// `status-json`.
    pub fn status_json(&mut self, now: u64) -> wasmtime::Result<String> {
        let g = &mut self.guest;
        api(&g.bindings).call_status_json(&mut g.store, self.engine, now)
    }

    /// `status-text`.
    pub fn status_text(&mut self, now: u64) -> wasmtime::Result<String> {
        let g = &mut self.guest;
        api(&g.bindings).call_status_text(&mut g.store, self.engine, now)
    }

    /// `reset`.
    pub fn reset(
        &mut self,
        now: u64,
        policy: &str,
    ) -> wasmtime::Result<Result<BreakerState, ResetError>> {
        let g = &mut self.guest;
        api(&g.bindings).call_reset(&mut g.store, self.engine, now, policy)
    }

    /// `breaker-statistics`.
    pub fn breaker_statistics(
        &mut self,
        policy: &str,
    ) -> wasmtime::Result<Option<BreakerStatistics>> {
        let g = &mut self.guest;
        api(&g.bindings).call_breaker_statistics(&mut g.store, self.engine, policy)
    }

    /// `health`.
    pub fn health(&mut self, policy: &str) -> wasmtime::Result<Option<HealthView>> {
        let g = &mut self.guest;
        api(&g.bindings).call_health(&mut g.store, self.engine, policy)
    }

    /// `poll-notice`.
    pub fn poll_notice(&mut self) -> wasmtime::Result<Option<Notice>> {
        let g = &mut self.guest;
        api(&g.bindings).call_poll_notice(&mut g.store, self.engine)
    }

    /// `on-response-headers`.
    pub fn on_response_headers(
        &mut self,
        now: u64,
        ticket: u64,
        outcome: Outcome,
        attempts: u32,
    ) -> wasmtime::Result<ResponseVerdict> {
        let g = &mut self.guest;
        api(&g.bindings).call_on_response_headers(
            &mut g.store,
            self.engine,
            now,
            ticket,
            outcome,
            attempts,
        )
    }

    /// `rerouted`.
    pub fn rerouted(&mut self, ticket: u64) -> wasmtime::Result<bool> {
        let g = &mut self.guest;
        api(&g.bindings).call_rerouted(&mut g.store, self.engine, ticket)
    }

    /// `tracked`.
    pub fn tracked(&mut self) -> wasmtime::Result<u32> {
        let g = &mut self.guest;
        api(&g.bindings).call_tracked(&mut g.store, self.engine)
    }

    /// The instance, for calls into the other exports.
    pub fn guest(&mut self) -> &mut Guest {
        &mut self.guest
    }
}

fn api(bindings: &bindings::Resilience) -> Api<'_> {
    bindings.breakwater_resilience_engine().engine()
}

/// A request with no cluster, route or headers.
pub fn request(method: &str, path: &str) -> Request {
    Request {
        method: http_method(method),
        path: path.to_owned(),
        cluster: None,
        route: None,
        headers: Vec::new(),
    }
}

/// The WIT method for a method's text (case-sensitive: `get` is an extension method).
pub fn http_method(text: &str) -> Method {
    match text {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}
