//! [`Worker`]: everything one Envoy worker VM holds, shared by its root and stream contexts.
//!
//! The root context and every stream context of a VM run on one thread, so they share one
//! `Rc<RefCell<Worker>>`. A borrow is never held across a host call that could call back into
//! the VM (local replies and resumed streams run after the callback returns, in Envoy and in
//! the test host, but [`run_actions`] copies what it needs first all the same).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use breakwater_core::random::SplitMix64;
use breakwater_core::{Action, Config, Engine, Nanos, RequestNeeds, Ticket};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel, MapType, Status};

use crate::clock::{ClockUse, now, recent};
use crate::metrics::Metrics;
use crate::request::Lookups;
use crate::send;
use crate::store::HostStore;

/// The engine type the filter runs.
pub type FilterEngine = Engine<HostStore, SplitMix64>;

/// What one worker VM holds.
#[derive(Debug)]
pub struct Worker {
    /// The engine, over Envoy's shared data.
    pub engine: FilterEngine,
    /// Paused requests: ticket (as `u64`) to the stream's context id. Context ids repeat across
    /// workers, so they never leave this VM.
    held: HashMap<u64, u32>,
    metrics: Metrics,
    /// The configured status path, if any.
    pub status_path: Option<String>,
    /// What of a request the engine looks at: only that is read from Envoy.
    pub needs: RequestNeeds,
    /// The request headers among those, and how they are read.
    pub lookups: Lookups,
    /// Whether a request's end reads the exact clock.
    clock: ClockUse,
}

/// The handle root and streams share.
pub type Shared = Rc<RefCell<Worker>>;

impl Worker {
    /// A worker for `config`, creating the shared-data keys it uses when missing.
    pub fn new(config: &Config, seed: u64, now: Nanos) -> (Worker, usize) {
        let engine = Engine::new(config, HostStore::new(), SplitMix64::new(seed), now);
        let (metrics, refused) = Metrics::define(&engine);
        let needs = config.request_needs();
        let worker = Worker {
            engine,
            held: HashMap::new(),
            metrics,
            status_path: config.status_path.clone(),
            lookups: Lookups::new(&needs, config.status_path.is_some()),
            needs,
            clock: ClockUse::new(config),
        };
        (worker, refused)
    }

    /// The time at which a request ends ([`ClockUse`]).
    pub fn end_time(&self) -> Nanos {
        if self.clock.end { now() } else { recent() }
    }

    /// Remembers that `ticket`'s stream (`context_id`) is paused.
    pub fn hold(&mut self, ticket: Ticket, context_id: u32) {
        self.held.insert(ticket.to_u64(), context_id);
    }

    /// Forgets a paused stream (it ended).
    pub fn forget(&mut self, ticket: Ticket) {
        self.held.remove(&ticket.to_u64());
    }

    /// Whether `ticket`'s stream is still paused by breakwater.
    pub fn is_held(&self, ticket: Ticket) -> bool {
        self.held.contains_key(&ticket.to_u64())
    }

    /// Paused streams on this worker.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Logs the engine's breaker transitions, one structured line each, all at warn: proxies
    /// commonly run at warning (Istio's default), and an operator who sees a dependency's
    /// breaker open must also see it probe and close.
    pub fn log_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            let policy = self.engine.policy_names().nth(event.policy).unwrap_or("?");
            let t = event.transition;
            let mut line = format!(
                "breakwater transition service={} policy={} from={} to={} reason={} at_ms={}",
                self.engine.service(),
                policy,
                t.from.name(),
                t.to.name(),
                t.reason.name(),
                t.at.as_millis(),
            );
            // A keyed breaker's key, quoted and escaped: clients choose keys.
            if let Some(key) = event
                .key
                .and_then(|k| self.engine.key_name(event.policy, k))
            {
                line.push_str(&format!(" key={key:?}"));
            }
            let _ = hostcalls::log(LogLevel::Warn, &line);
        }
    }

    /// Exports every metric (deltas since the last flush, gauges as of `now`, the durations
    /// measured since).
    pub fn flush_metrics(&mut self, now: Nanos) {
        self.metrics.flush(&mut self.engine, now);
        // A policy's metrics are defined when it first reports: a refusal shows up here.
        let refused = self.metrics.take_refused();
        if refused > 0 {
            let line = format!("breakwater: the host refused {refused} metric definitions");
            let _ = hostcalls::log(LogLevel::Warn, &line);
        }
    }
}

/// One step for a paused stream, copied out of the engine so no borrow is held while Envoy is
/// told about it.
enum Step {
    Resume(Vec<(String, String)>),
    Reply(breakwater_core::reply::LocalReply),
}

/// Carries out the engine's queued actions: resumes paused streams (with their router headers)
/// or answers them, through `set_effective_context`. A stream whose client went away
/// (`BadArgument`) is cancelled, which returns whatever it held.
pub fn run_actions(shared: &Shared, now: Nanos) {
    loop {
        let (ticket, context, step) = {
            let mut w = shared.borrow_mut();
            let Some(action) = w.engine.poll_action() else {
                break;
            };
            match action {
                Action::Resume { ticket } => {
                    let headers = w.engine.request_headers(ticket).to_vec();
                    let context = w.held.remove(&ticket.to_u64());
                    (ticket, context, Step::Resume(headers))
                }
                Action::Reply { ticket, reply } => {
                    let context = w.held.remove(&ticket.to_u64());
                    (ticket, context, Step::Reply(reply))
                }
            }
        };
        let entered = context.is_some_and(|id| hostcalls::set_effective_context(id).is_ok());
        match step {
            Step::Resume(headers) if entered => {
                let added = headers.iter().all(|(k, v)| {
                    hostcalls::set_map_value(MapType::HttpRequestHeaders, k, Some(v)).is_ok()
                });
                if !added || hostcalls::resume_http_request().is_err() {
                    shared.borrow_mut().engine.cancel(now, ticket);
                }
            }
            // The stream is gone: give back the permit it was about to use.
            Step::Resume(_) => shared.borrow_mut().engine.cancel(now, ticket),
            Step::Reply(reply) if entered => send::local_reply(&reply),
            // Nobody to answer; the engine already finished the ticket.
            Step::Reply(_) => {}
        }
    }
}

/// Reads a property as bytes (`None` when missing or refused).
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    match hostcalls::get_property(path.to_vec()) {
        Ok(v) => v,
        Err(Status::NotFound) | Err(_) => None,
    }
}
