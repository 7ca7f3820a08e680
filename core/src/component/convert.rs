//! Conversions between the WIT records and core's values, in both directions.

use crate::breaker::State;
use crate::outcome::{Outcome, OutcomeKind};
use crate::reply::{LocalReply, RejectReason};
use crate::validate::ConfigError;

use super::bindings::exports::breakwater::resilience::engine;
use super::bindings::exports::breakwater::resilience::types as wit;

/// Core header pairs to WIT headers.
pub(super) fn headers(pairs: &[(String, String)]) -> Vec<wit::Header> {
    pairs
        .iter()
        .map(|(name, value)| wit::Header {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The method's text, as core matches it (case-sensitive).
pub(super) fn method(m: &engine::Method) -> &str {
    match m {
        engine::Method::Get => "GET",
        engine::Method::Head => "HEAD",
        engine::Method::Post => "POST",
        engine::Method::Put => "PUT",
        engine::Method::Delete => "DELETE",
        engine::Method::Connect => "CONNECT",
        engine::Method::Options => "OPTIONS",
        engine::Method::Trace => "TRACE",
        engine::Method::Patch => "PATCH",
        engine::Method::Other(other) => other,
    }
}

/// A core configuration error to the WIT record (same paths, same reasons).
pub(super) fn config_error(e: ConfigError) -> wit::ConfigError {
    wit::ConfigError {
        problems: e
            .problems
            .into_iter()
            .map(|p| wit::Problem {
                path: p.path,
                reason: p.reason,
            })
            .collect(),
    }
}

/// A WIT outcome to core's.
pub(super) fn outcome(o: &wit::Outcome) -> Outcome {
    Outcome {
        kind: match o.kind {
            wit::OutcomeKind::Response => OutcomeKind::Response,
            wit::OutcomeKind::Reset => OutcomeKind::Reset,
            wit::OutcomeKind::ConnectFailure => OutcomeKind::ConnectFailure,
            wit::OutcomeKind::Timeout => OutcomeKind::Timeout,
        },
        http_status: o.http_status,
        grpc_status: o.grpc_status,
    }
}

/// A core breaker state to WIT's.
pub(super) fn state(s: State) -> wit::BreakerState {
    match s {
        State::Closed => wit::BreakerState::Closed,
        State::Open => wit::BreakerState::Open,
        State::HalfOpen => wit::BreakerState::HalfOpen,
    }
}

/// The WIT reason for an `x-breakwater` value core wrote.
fn reason(name: Option<&str>) -> wit::RejectReason {
    const REASONS: [(RejectReason, wit::RejectReason); 4] = [
        (RejectReason::BreakerOpen, wit::RejectReason::CircuitOpen),
        (RejectReason::BulkheadFull, wit::RejectReason::BulkheadFull),
        (RejectReason::QueueTimeout, wit::RejectReason::QueueTimeout),
        (
            RejectReason::InjectedAbort {
                http_status: 0,
                grpc_status: 0,
            },
            wit::RejectReason::InjectedFault,
        ),
    ];
    REASONS
        .iter()
        .find(|(core, _)| Some(core.name()) == name)
        .map(|(_, wit)| *wit)
        // Core gained a reason the WIT does not know: fail loudly in the tests, not silently.
        .unwrap_or_else(|| panic!("reject reason {name:?} has no WIT case"))
}

/// A core local reply to WIT's; the `retry-after` header is also given as a number.
pub(super) fn reply(r: LocalReply) -> wit::LocalReply {
    wit::LocalReply {
        reason: reason(r.header("x-breakwater")),
        retry_after: r.header("retry-after").and_then(|v| v.parse().ok()),
        status: r.http_status,
        grpc_status: r.grpc_status,
        grpc_message: r.grpc_message,
        headers: headers(&r.headers),
        body: r.body,
    }
}
