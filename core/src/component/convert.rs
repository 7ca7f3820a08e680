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

/// A breaker snapshot's statistics to WIT's (source 003's names).
pub(super) fn statistics(s: crate::breaker::Stats) -> wit::BreakerStatistics {
    wit::BreakerStatistics {
        total_calls: s.calls,
        successful_calls: s.successes,
        failed_calls: s.failures,
        rejected_calls: s.rejected,
        state_changes: s.transitions,
    }
}

/// A health view to WIT's.
pub(super) fn health(h: crate::breaker::Health) -> wit::HealthView {
    let v = crate::engine::HealthView::from(h);
    wit::HealthView {
        healthy: v.healthy,
        score: v.score,
        consecutive_failures: v.consecutive_failures,
        consecutive_successes: v.consecutive_successes,
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

/// The WIT reason for a core reason (a fallback reply carries the reason of the refusal it
/// replaces; its `x-breakwater: fallback` header says it is a fallback).
fn reason(reason: RejectReason) -> wit::RejectReason {
    match reason {
        RejectReason::BreakerOpen => wit::RejectReason::CircuitOpen,
        RejectReason::BulkheadFull => wit::RejectReason::BulkheadFull,
        RejectReason::QueueTimeout => wit::RejectReason::QueueTimeout,
        RejectReason::InjectedAbort { .. } => wit::RejectReason::InjectedFault,
        // Replies to an upstream failure are never a decision's: they come out of
        // `on-response-headers` as an `upstream-reply`, whose reason is its name. Listed so
        // that a reason added to core must be placed here.
        RejectReason::RetriesExhausted { .. }
        | RejectReason::NetworkError
        | RejectReason::UpstreamTimeout => wit::RejectReason::CircuitOpen,
    }
}

/// A core local reply to WIT's; the `retry-after` header is also given as a number.
pub(super) fn reply(r: LocalReply) -> wit::LocalReply {
    wit::LocalReply {
        reason: reason(r.reason),
        retry_after: r.header("retry-after").and_then(|v| v.parse().ok()),
        status: r.http_status,
        grpc_status: r.grpc_status,
        grpc_message: r.grpc_message,
        headers: headers(&r.headers),
        body: r.body,
    }
}
