//! Fallback when breakwater would refuse (sources 003 and 004: "fall back to cache or
//! defaults", "fallback handlers"): a policy's `fallback` section turns the refusal of an open
//! breaker (or a full bulkhead) into a degraded answer instead of an error.
//!
//! Two kinds, one per policy:
//!
//! - **A static reply** (`reply`): status, headers and body as configured, e.g. an empty list
//!   or a cached default. For a gRPC client it is a trailers-only answer with the configured
//!   `grpc_status` (gRPC clients read no body); without a `grpc_status`, gRPC requests get the
//!   usual refusal, since an HTTP body means nothing to them.
//! - **A reroute** (`reroute`): the request goes on with one request header set
//!   (`x-breakwater-fallback: <policy>` by default) that the route configuration matches to
//!   send it to a fallback cluster; Envoy picks the route again after a filter changes the
//!   headers. The rerouted request is not breakwater's any more: it holds no permit, gets no
//!   retries from the policy, and its outcome never reaches the open breaker.
//!
//! Both are marked for the operator (`x-breakwater: fallback` on a reply, the fallback header on
//! a rerouted request, the `fallbacks_total` counter, a log line) and never carry
//! `x-envoy-overloaded`: a fallback is an answer, not a refusal to retry around.

use std::collections::BTreeMap;

use crate::reply::{LocalReply, RejectReason, encode_grpc_message};
use crate::validate::{Problems, join, quoted};

/// The default name of the reroute header.
pub const DEFAULT_REROUTE_HEADER: &str = "x-breakwater-fallback";

/// The value of `x-breakwater` on a fallback reply.
pub const FALLBACK_MARK: &str = "fallback";

/// The refusals a fallback can replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The breaker is open (or half-open with every probe leased, or forced open).
    CircuitOpen,
    /// The bulkhead and its queue are full.
    BulkheadFull,
}

impl Trigger {
    /// The trigger for a refusal, if a fallback can replace it.
    pub fn of(reason: RejectReason) -> Option<Trigger> {
        match reason {
            RejectReason::BreakerOpen => Some(Trigger::CircuitOpen),
            RejectReason::BulkheadFull => Some(Trigger::BulkheadFull),
            _ => None,
        }
    }
}

/// A static fallback reply.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct FallbackReply {
    /// HTTP status (200..=599; default 200).
    pub status: u16,
    /// Response headers; names lowercase.
    pub headers: BTreeMap<String, String>,
    /// Response body (text).
    pub body: String,
    /// The `grpc-status` answered to gRPC clients; none: gRPC requests get the usual refusal.
    pub grpc_status: Option<u32>,
    /// The `grpc-message` answered with `grpc_status` (before percent-encoding).
    pub grpc_message: Option<String>,
}

impl Default for FallbackReply {
    fn default() -> Self {
        FallbackReply {
            status: 200,
            headers: BTreeMap::new(),
            body: String::new(),
            grpc_status: None,
            grpc_message: None,
        }
    }
}

/// A reroute to a fallback route.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct Reroute {
    /// The request header set (default `x-breakwater-fallback`).
    pub header: String,
    /// Its value (default: the policy's name).
    pub value: Option<String>,
}

impl Default for Reroute {
    fn default() -> Self {
        Reroute {
            header: DEFAULT_REROUTE_HEADER.to_owned(),
            value: None,
        }
    }
}

/// The `fallback` section of a policy: exactly one of `reply` and `reroute`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct FallbackConfig {
    /// The refusals it replaces (default: `["circuit_open"]`).
    pub on: Vec<Trigger>,
    /// A static reply.
    pub reply: Option<FallbackReply>,
    /// A reroute to a fallback route.
    pub reroute: Option<Reroute>,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            on: vec![Trigger::CircuitOpen],
            reply: None,
            reroute: None,
        }
    }
}

/// Header names a fallback reply may not set: framing and pseudo-headers belong to the proxy,
/// and breakwater's own mark must stay truthful.
const RESERVED: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "x-breakwater",
    "grpc-status",
];

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7F).contains(&b))
}

impl FallbackConfig {
    /// Records every invalid value under the JSON path `at`.
    pub fn validate(&self, at: &str, p: &mut Problems) {
        match (&self.reply, &self.reroute) {
            (Some(_), Some(_)) => p.add(at, "reroute", "give either reply or reroute, not both"),
            (None, None) => p.add(at, "reply", "give one of reply or reroute"),
            _ => {}
        }
        if self.on.is_empty() {
            p.add(
                at,
                "on",
                "must name at least one of circuit_open, bulkhead_full",
            );
        }
        if let Some(r) = &self.reply {
            let at = join(at, "reply");
            if !(200..=599).contains(&r.status) {
                p.add(
                    &at,
                    "status",
                    format!("must be in [200, 599], got {}", r.status),
                );
            }
            for (name, value) in &r.headers {
                let path = join(&join(&at, "headers"), name);
                if !valid_header_name(name) || name.starts_with(':') {
                    p.at(
                        &path,
                        format!("not a lowercase header name: {}", quoted(name)),
                    );
                } else if RESERVED.contains(&name.as_str()) {
                    p.at(
                        &path,
                        "is set by the proxy or by breakwater, not by a fallback",
                    );
                }
                if !valid_header_value(value) {
                    p.at(&path, "value must be printable ASCII");
                }
            }
            if let Some(code) = r.grpc_status
                && code > crate::outcome::grpc::MAX_CODE
            {
                p.add(
                    &at,
                    "grpc_status",
                    format!("must be in [0, 16], got {code}"),
                );
            }
            if r.grpc_message.is_some() && r.grpc_status.is_none() {
                p.add(&at, "grpc_message", "needs grpc_status");
            }
        }
        if let Some(r) = &self.reroute {
            let at = join(at, "reroute");
            if !valid_header_name(&r.header) {
                p.add(
                    &at,
                    "header",
                    format!("must be a lowercase header name, got {}", quoted(&r.header)),
                );
            } else if r.header.starts_with("x-envoy-") || RESERVED.contains(&r.header.as_str()) {
                p.add(
                    &at,
                    "header",
                    format!("{} is Envoy's or breakwater's own", quoted(&r.header)),
                );
            }
            if let Some(v) = &r.value
                && (v.is_empty() || !valid_header_value(v))
            {
                p.add(&at, "value", "must be non-empty printable ASCII");
            }
        }
    }

    /// Whether it replaces a refusal for `reason`.
    pub fn covers(&self, reason: RejectReason) -> bool {
        Trigger::of(reason).is_some_and(|t| self.on.contains(&t))
    }
}

/// A fallback compiled for one policy: what an engine hands out per request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Answer with this reply (for HTTP requests) and this one (for gRPC requests, when the
    /// configuration gives a `grpc_status`).
    Reply {
        /// The reply to HTTP requests.
        http: LocalReply,
        /// The reply to gRPC requests.
        grpc: Option<LocalReply>,
    },
    /// Forward the request with this header set.
    Reroute {
        /// Header name.
        header: String,
        /// Header value.
        value: String,
    },
}

impl Fallback {
    /// Compiles the section for the policy `policy`, the refusal it replaces being `reason`.
    pub fn new(config: &FallbackConfig, policy: &str, reason: RejectReason) -> Option<Fallback> {
        if let Some(r) = &config.reroute {
            return Some(Fallback::Reroute {
                header: r.header.clone(),
                value: r.value.clone().unwrap_or_else(|| policy.to_owned()),
            });
        }
        let r = config.reply.as_ref()?;
        let mut headers: Vec<(String, String)> = Vec::with_capacity(r.headers.len() + 1);
        headers.extend(r.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        headers.push(("x-breakwater".to_owned(), FALLBACK_MARK.to_owned()));
        let http = LocalReply {
            reason,
            http_status: r.status,
            headers: headers.clone(),
            body: r.body.clone().into_bytes(),
            grpc_status: None,
            grpc_message: None,
        };
        let grpc = r.grpc_status.map(|status| {
            let message = r.grpc_message.clone().unwrap_or_default();
            let mut headers: Vec<(String, String)> = headers
                .iter()
                .filter(|(k, _)| k != "content-type")
                .cloned()
                .collect();
            headers.insert(
                0,
                ("content-type".to_owned(), "application/grpc".to_owned()),
            );
            headers.insert(1, ("grpc-status".to_owned(), status.to_string()));
            if !message.is_empty() {
                headers.insert(
                    2,
                    ("grpc-message".to_owned(), encode_grpc_message(&message)),
                );
            }
            LocalReply {
                reason,
                http_status: 200,
                headers,
                body: Vec::new(),
                grpc_status: Some(status),
                grpc_message: Some(message),
            }
        });
        Some(Fallback::Reply { http, grpc })
    }
}

#[cfg(test)]
mod tests;
