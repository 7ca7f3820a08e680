//! Requests the upstream holds until the test says how they end.
//!
//! A conformance scenario interleaves requests and their answers: request `a`, request `b`,
//! then `a` fails. In real Envoy a request reaches the upstream at once, so the upstream must
//! be able to keep it until the scenario's answer comes. A request carrying
//! `x-upstream-hold: <token>` is held (bounded by [`MAX_HOLD`], then answered 504) until
//! [`super::UpstreamServer::release`] names its token; [`super::UpstreamServer::arrived`] tells
//! whether a held request has reached the upstream at all (a request Envoy's filter holds, or
//! answers itself, never does).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

/// The request header that asks the upstream to hold a request under a token.
pub const HOLD_HEADER: &str = "x-upstream-hold";

/// The longest the upstream holds a request before answering 504 by itself.
pub const MAX_HOLD: Duration = Duration::from_secs(30);

/// How a held request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// An HTTP answer with this status (a gRPC request gets the status mapped to a
    /// `grpc-status`, as when not held).
    Status(u16),
    /// A gRPC answer: HTTP 200, a message, then trailers with this `grpc-status`, or no
    /// `grpc-status` at all (`None`).
    Grpc(Option<u32>),
    /// The connection is closed before any answer: Envoy sees an upstream reset.
    Reset,
}

/// The held requests, the tokens that arrived, and how released tokens end.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    waiting: Mutex<HashMap<String, oneshot::Sender<Release>>>,
    arrived: Mutex<HashSet<String>>,
    /// A token's answer once released: the router's retries of that request, which carry the
    /// same token, get it at once (a scenario's answer is the answer to every attempt).
    released: Mutex<HashMap<String, Release>>,
}

impl Holds {
    /// Registers an arriving held request; its answer comes through the receiver (at once
    /// when the token was released already).
    pub(crate) fn hold(&self, token: &str) -> oneshot::Receiver<Release> {
        let (tx, rx) = oneshot::channel();
        lock(&self.arrived).insert(token.to_owned());
        match lock(&self.released).get(token) {
            Some(how) => {
                let _ = tx.send(*how);
            }
            None => {
                lock(&self.waiting).insert(token.to_owned(), tx);
            }
        }
        rx
    }

    /// Ends the held request `token`, and every later attempt of it; false when no request
    /// was waiting under it.
    pub(crate) fn release(&self, token: &str, how: Release) -> bool {
        lock(&self.released).insert(token.to_owned(), how);
        match lock(&self.waiting).remove(token) {
            Some(tx) => tx.send(how).is_ok(),
            None => false,
        }
    }

    /// Whether a request held under `token` has arrived (and may since have been released).
    pub(crate) fn arrived(&self, token: &str) -> bool {
        lock(&self.arrived).contains(token)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
