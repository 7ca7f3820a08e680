//! The two operator endpoints an Envoy adapter serves from the data path, answered here so both
//! adapters answer alike:
//!
//! - **status** (`status_path`): every policy's state as JSON, or as a plain-text report a
//!   human reads in a terminal (source 001's "plain-text health report") when the request asks
//!   for it with `?format=text` or an `Accept` header that prefers `text/plain`; 200 when no
//!   breaker is open, 503 otherwise.
//! - **reset** (`reset_path`, off unless configured): `POST <reset_path>?policy=NAME` resets that
//!   policy's breaker for every worker ([`Engine::reset`]). It changes what the proxy does, so it
//!   must be guarded like Envoy's own admin: envoy/README.md gives the RBAC filter that must come
//!   before breakwater. Every answer says what happened in JSON; every reset is counted and
//!   logged by the engine's notices.

use std::fmt::Write as _;

use rand_core::RngCore;

use crate::store::SharedStore;
use crate::time::Nanos;

use super::Engine;
use super::log_lines::TwoDecimals;
use super::operator::ResetError;
use super::status::PolicyStatus;

/// A reply to an operator request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminReply {
    /// HTTP status.
    pub status: u16,
    /// Response headers (`content-type`, `cache-control`, and `allow` on a 405).
    pub headers: Vec<(&'static str, &'static str)>,
    /// The body.
    pub body: String,
}

impl AdminReply {
    fn json(status: u16, body: String) -> AdminReply {
        AdminReply {
            status,
            headers: vec![
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
            ],
            body,
        }
    }
}

/// Whether a status request asks for the plain-text report: `format=text` in the query, or
/// an `Accept` header naming `text/plain` and not `application/json` (a browser's `*/*` gets
/// JSON, as does a request that names both).
pub fn wants_text(query: &str, accept: Option<&str>) -> bool {
    if let Some(format) = query_value(query, "format") {
        return format.eq_ignore_ascii_case("text");
    }
    accept.is_some_and(|a| {
        let a = a.to_ascii_lowercase();
        a.contains("text/plain") && !a.contains("application/json")
    })
}

/// The value of `key` in a query string (no percent-decoding: policy names and formats are
/// plain ASCII by validation).
pub fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Splits a `:path` into path and query.
pub fn split_path(path: &str) -> (&str, &str) {
    path.split_once('?').unwrap_or((path, ""))
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// Answers the status endpoint at `now`: JSON, or the plain-text report when the request
    /// asks for it ([`wants_text`]).
    pub fn status_reply(&mut self, now: Nanos, query: &str, accept: Option<&str>) -> AdminReply {
        let (healthy, body, content_type) = if wants_text(query, accept) {
            let (healthy, text) = self.status_text(now);
            (healthy, text, "text/plain; charset=utf-8")
        } else {
            let (healthy, json) = self.status_json(now);
            (healthy, json, "application/json")
        };
        AdminReply {
            status: if healthy { 200 } else { 503 },
            headers: vec![
                ("content-type", content_type),
                ("cache-control", "no-store"),
            ],
            body,
        }
    }

    /// Answers the reset endpoint at `now` for a request with `method` and `query`.
    pub fn reset_reply(&mut self, now: Nanos, method: &str, query: &str) -> AdminReply {
        if method != "POST" {
            let mut r = AdminReply::json(
                405,
                serde_json::json!({"error": "method_not_allowed", "message": "use POST"})
                    .to_string(),
            );
            r.headers.push(("allow", "POST"));
            return r;
        }
        let Some(name) = query_value(query, "policy").filter(|n| !n.is_empty()) else {
            return AdminReply::json(
                400,
                serde_json::json!({
                    "error": "bad_request",
                    "message": "name the policy: ?policy=NAME",
                })
                .to_string(),
            );
        };
        let result = match self.policy_index(name) {
            Some(i) => self.reset(now, i),
            None => Err(ResetError::UnknownPolicy),
        };
        match result {
            Ok(from) => AdminReply::json(
                200,
                serde_json::json!({
                    "policy": name,
                    "reset": true,
                    "from": from.name(),
                    "state": "closed",
                })
                .to_string(),
            ),
            Err(e) => {
                let status = match e {
                    ResetError::UnknownPolicy => 404,
                    ResetError::NoBreaker => 409,
                    ResetError::StoreUnavailable => 503,
                };
                AdminReply::json(
                    status,
                    serde_json::json!({
                        "policy": name,
                        "reset": false,
                        "message": e.message(),
                    })
                    .to_string(),
                )
            }
        }
    }

    /// The status as a plain-text report: one paragraph per policy, what an operator reads
    /// first (state, health) on its first line.
    pub fn status_text(&mut self, now: Nanos) -> (bool, String) {
        let (healthy, policies) = self.status(now);
        let mut out = String::new();
        let open = policies.iter().filter(|p| p.state == "open").count();
        let _ = writeln!(
            out,
            "breakwater {}: {}",
            self.service,
            if healthy {
                "healthy".to_owned()
            } else {
                format!(
                    "UNHEALTHY ({open} breaker{} open)",
                    if open == 1 { "" } else { "s" }
                )
            }
        );
        for p in &policies {
            out.push('\n');
            write_policy(&mut out, p);
        }
        (healthy, out)
    }
}

/// One policy's paragraph of the plain-text report.
fn write_policy(out: &mut String, p: &PolicyStatus) {
    let _ = write!(out, "policy {}: ", p.name);
    match p.state {
        "none" => out.push_str("no breaker"),
        state => {
            let _ = write!(out, "breaker {state}");
            if let Some(s) = p.retry_after {
                let _ = write!(out, " (probes in {s} s)");
            }
        }
    }
    if let Some(h) = &p.health {
        let _ = write!(
            out,
            ", {} (score {}",
            if h.healthy { "healthy" } else { "UNHEALTHY" },
            TwoDecimals(h.score)
        );
        if h.consecutive_failures > 0 {
            let _ = write!(out, ", {} failures in a row", h.consecutive_failures);
        }
        out.push(')');
    }
    out.push('\n');
    if let Some(s) = &p.statistics {
        let _ = writeln!(
            out,
            "  calls: {} total, {} successful, {} failed; {} rejected; {} state changes",
            s.total_calls, s.successful_calls, s.failed_calls, s.rejected_calls, s.state_changes
        );
    }
    if let (Some(inflight), Some(max)) = (p.inflight, p.max_concurrent) {
        let _ = writeln!(
            out,
            "  bulkhead: {inflight} of {max} in use, {} queued",
            p.queued.unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "  this worker: {} requests, {} rejected by the breaker, {} by the bulkhead, {} fallbacks",
        p.requests, p.rejected_open, p.rejected_bulkhead, p.fallbacks
    );
}
