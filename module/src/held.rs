//! Requests breakwater holds (an injected delay, a bulkhead queue), and how they are woken.
//!
//! A held request's stream returned StopIteration from its request-headers hook. What happens
//! next is the engine's [`Action`], produced on whichever thread touched the engine: the timer
//! thread (a delay ended, a queue deadline passed) or any worker (a permit returned there wakes
//! the next waiter). Only the stream's own worker may touch the stream, so the action is parked
//! in the stream's [`Held`] entry and the stream's [`Scheduler`] is committed; Envoy then calls
//! `on_http_filter_scheduled` on that worker, which takes the entry back and resumes
//! (`continue_decoding`, with the router headers) or answers.
//!
//! **Ownership, so that no stream is resumed after it is gone and no scheduler is used after it
//! is deleted.** The table lives inside the engine's mutex ([`Core`]). An entry (and with it the
//! stream's only [`Scheduler`]) is inserted by the stream under the lock, in the same critical
//! section as the engine's Delay/Queue decision, and removed only by the stream itself, under
//! the lock: when it is woken, or when it ends (complete or destroyed). Commits happen only
//! under the lock, on a scheduler still in the table. So once the stream removed its entry,
//! nothing can commit on that scheduler, and dropping it (which deletes it in Envoy) is safe.
//! An event committed before the removal and delivered after finds no entry and does nothing;
//! Envoy drops events for a destroyed stream by itself.
//!
//! **Every permit returned.** A stream that ends while held cancels its ticket (core returns the
//! queue place or the delay slot); one that ends after a Resume was parked but before it ran
//! cancels too (core returns the permit it was given); a Resume for a ticket with no entry (it
//! cannot happen: decisions and entries are made together) is cancelled on the spot.

use std::collections::HashMap;

use breakwater_core::random::SplitMix64;
use breakwater_core::reply::LocalReply;
use breakwater_core::{Action, Engine, Nanos, Ticket};

use crate::abi::Scheduler;
use crate::store::LocalStore;

/// The engine the module runs: one per filter configuration.
pub(crate) type ModuleEngine = Engine<LocalStore, SplitMix64>;

/// What a woken stream does.
#[derive(Debug)]
pub(crate) enum Step {
    /// Forward the request with these router headers.
    Resume(Vec<(String, String)>),
    /// Answer it with this reply (the engine already finished the ticket).
    Reply(LocalReply),
}

/// One held request.
#[derive(Debug)]
pub(crate) struct Held {
    /// The stream's scheduler; committed only while in the table.
    scheduler: Scheduler,
    /// The engine's verdict, once there is one.
    step: Option<Step>,
}

/// Everything behind a configuration's mutex.
#[derive(Debug)]
pub(crate) struct Core {
    /// The engine.
    pub(crate) engine: ModuleEngine,
    /// Held requests by ticket.
    held: HashMap<u64, Held>,
    /// When the timer thread will next wake on its own.
    pub(crate) timer_due: Nanos,
    /// The configuration is being destroyed: the timer thread stops.
    pub(crate) shutdown: bool,
}

impl Core {
    /// A core around `engine`.
    pub(crate) fn new(engine: ModuleEngine) -> Core {
        Core {
            engine,
            held: HashMap::new(),
            timer_due: Nanos::ZERO,
            shutdown: false,
        }
    }

    /// Holds `ticket`'s stream with its scheduler.
    pub(crate) fn hold(&mut self, ticket: Ticket, scheduler: Scheduler) {
        let held = Held {
            scheduler,
            step: None,
        };
        self.held.insert(ticket.to_u64(), held);
    }

    /// The woken stream takes its entry back, if the engine has decided. The scheduler comes
    /// with it, for the caller to drop outside the lock.
    pub(crate) fn take_step(&mut self, ticket: Ticket) -> Option<(Step, Scheduler)> {
        let key = ticket.to_u64();
        self.held.get(&key)?.step.as_ref()?;
        let held = self.held.remove(&key)?;
        Some((held.step?, held.scheduler))
    }

    /// The stream ends: its entry (if any) leaves the table; the scheduler comes back to be
    /// dropped outside the lock.
    pub(crate) fn release(&mut self, ticket: Ticket) -> Option<Scheduler> {
        self.held.remove(&ticket.to_u64()).map(|h| h.scheduler)
    }

    /// Parks every queued engine action with its stream and wakes the stream. Call after every
    /// engine call that may queue actions (`on_response`, `cancel`, `handle_timeout`).
    pub(crate) fn dispatch(&mut self, now: Nanos) {
        while let Some(action) = self.engine.poll_action() {
            let (ticket, step) = match action {
                Action::Resume { ticket } => {
                    let headers = self.engine.request_headers(ticket).to_vec();
                    (ticket, Step::Resume(headers))
                }
                Action::Reply { ticket, reply } => (ticket, Step::Reply(reply)),
            };
            match self.held.get_mut(&ticket.to_u64()) {
                Some(held) => {
                    held.step = Some(step);
                    held.scheduler.commit(ticket.to_u64());
                }
                // Nobody to resume: give back what the ticket was about to use.
                None if matches!(step, Step::Resume(_)) => self.engine.cancel(now, ticket),
                // Nobody to answer; the engine already finished the ticket.
                None => {}
            }
        }
    }
}
