//! Local replies: what a caller receives when breakwater answers instead of the upstream.
//!
//! A rejection is part of the public contract, so it must be useful to three audiences at once:
//! a *program* (a stable machine-readable reason and a `retry-after` it can honour), a *human*
//! reading logs (a sentence, plus the service and policy that said no), and a *gRPC client*,
//! which ignores HTTP bodies and statuses and reads only `grpc-status` and `grpc-message`.
//!
//! - HTTP: 503 for an open breaker, 429 for a full bulkhead or a queue timeout, the configured
//!   status for an injected abort; a JSON body
//!   `{"error", "message", "service", "policy", "retry_after"}` (written with serde_json, so any
//!   name is escaped correctly); headers `content-type: application/json`, `x-breakwater:
//!   <reason>`, `x-envoy-overloaded: true` on breakwater's own refusals (not on an injected
//!   abort) and, when known, `retry-after: <seconds>`.
//! - gRPC: HTTP 200 *trailers-only* (status in the headers, empty body), `grpc-status` 14
//!   `UNAVAILABLE` for an open breaker, 8 `RESOURCE_EXHAUSTED` for a full bulkhead or a queue
//!   timeout, the configured code for an injected abort; `grpc-message` percent-encoded as the
//!   gRPC specification requires; `x-breakwater`, `x-envoy-overloaded` and `retry-after` as
//!   for HTTP.
//!
//! The same contract answers for the upstream, when a policy sets `retry.rewrite_upstream_errors`:
//! Envoy's own plaintext replies to an upstream failure become [`RejectReason::RetriesExhausted`]
//! (503, `max_attempts`: the attempts made, the first included, as source 004 counts them) when
//! the router retried, else [`RejectReason::NetworkError`] (502, a connect failure or a reset) or
//! [`RejectReason::UpstreamTimeout`] (504); `grpc-status` 14 `UNAVAILABLE` for gRPC. These are
//! the upstream's failures, not breakwater's refusals: no `x-envoy-overloaded`.
//!
//! `retry-after` is rounded *up* to whole seconds: a client that honours it must not come back
//! before the breaker would let it through.

use serde::Serialize;

use crate::outcome::grpc;
use crate::time::Nanos;

/// Why breakwater answered locally.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The circuit breaker is open.
    BreakerOpen,
    /// The bulkhead is full and its queue too (or it has none).
    BulkheadFull,
    /// The request waited in the bulkhead queue until its deadline.
    QueueTimeout,
    /// Failure injection aborted the request.
    InjectedAbort {
        /// HTTP status to answer with (200..=599; anything else falls back to 503).
        http_status: u16,
        /// gRPC status to answer with (0..=16; anything else falls back to 14 `UNAVAILABLE`).
        grpc_status: u32,
    },
    /// The router retried and the last attempt failed too (also the `x-breakwater` mark on an
    /// upstream's own failed answer after retries).
    RetriesExhausted {
        /// Attempts the router made, the first included (the body's `max_attempts`).
        attempts: u32,
    },
    /// The upstream could not be reached or reset the stream (Envoy's connect-failure and
    /// reset replies), without retries.
    NetworkError,
    /// The upstream did not answer in time (Envoy's timeout reply), without retries.
    UpstreamTimeout,
}

/// Marks a refusal as overload: an Envoy in front reads it and does not retry the request
/// (its router never retries an answer carrying it), so clients behind a mesh of proxies do
/// not hammer an open breaker through their own retries.
pub const OVERLOADED_HEADER: &str = "x-envoy-overloaded";

impl RejectReason {
    /// An open breaker, a full bulkhead or a queue timeout: breakwater protecting the
    /// upstream, as opposed to an injected abort, which stands for an upstream failure and must
    /// look like one (retried where a real one would be).
    pub const fn is_overload(self) -> bool {
        matches!(
            self,
            RejectReason::BreakerOpen | RejectReason::BulkheadFull | RejectReason::QueueTimeout
        )
    }

    /// The stable name: the `x-breakwater` header value and the JSON `error` field.
    pub const fn name(self) -> &'static str {
        match self {
            RejectReason::BreakerOpen => "circuit_open",
            RejectReason::BulkheadFull => "bulkhead_full",
            RejectReason::QueueTimeout => "queue_timeout",
            RejectReason::InjectedAbort { .. } => "injected_fault",
            RejectReason::RetriesExhausted { .. } => "retries_exhausted",
            RejectReason::NetworkError => "network_error",
            RejectReason::UpstreamTimeout => "upstream_timeout",
        }
    }

    /// A short human sentence, lowercase.
    pub const fn message(self) -> &'static str {
        match self {
            RejectReason::BreakerOpen => "circuit breaker is open",
            RejectReason::BulkheadFull => "too many concurrent requests",
            RejectReason::QueueTimeout => "timed out waiting for a concurrency slot",
            RejectReason::InjectedAbort { .. } => "fault injected by breakwater",
            RejectReason::RetriesExhausted { .. } => "all retry attempts exhausted",
            RejectReason::NetworkError => "upstream unreachable or reset the connection",
            RejectReason::UpstreamTimeout => "upstream did not answer in time",
        }
    }

    /// The HTTP status of the reply to an HTTP request.
    pub const fn http_status(self) -> u16 {
        match self {
            RejectReason::BreakerOpen | RejectReason::RetriesExhausted { .. } => 503,
            RejectReason::BulkheadFull | RejectReason::QueueTimeout => 429,
            RejectReason::NetworkError => 502,
            RejectReason::UpstreamTimeout => 504,
            RejectReason::InjectedAbort { http_status, .. } => {
                if http_status >= 200 && http_status <= 599 {
                    http_status
                } else {
                    503
                }
            }
        }
    }

    /// The `grpc-status` of the reply to a gRPC request.
    pub const fn grpc_status(self) -> u32 {
        match self {
            RejectReason::BreakerOpen
            | RejectReason::RetriesExhausted { .. }
            | RejectReason::NetworkError
            | RejectReason::UpstreamTimeout => grpc::UNAVAILABLE,
            RejectReason::BulkheadFull | RejectReason::QueueTimeout => grpc::RESOURCE_EXHAUSTED,
            RejectReason::InjectedAbort { grpc_status, .. } => {
                if grpc_status <= grpc::MAX_CODE {
                    grpc_status
                } else {
                    grpc::UNAVAILABLE
                }
            }
        }
    }

    /// The attempts made, for the body's `max_attempts` (retries exhausted only).
    pub const fn max_attempts(self) -> Option<u32> {
        match self {
            RejectReason::RetriesExhausted { attempts } => Some(attempts),
            _ => None,
        }
    }
}

/// Who is answering, in which protocol, and when to come back.
#[derive(Clone, Copy, Debug)]
pub struct ReplyContext<'a> {
    /// The configured `service` name.
    pub service: &'a str,
    /// The name of the policy that rejected.
    pub policy: &'a str,
    /// Whether the request is gRPC (see [`is_grpc_content_type`]).
    pub grpc: bool,
    /// How long until a retry may succeed, when known (e.g. until the breaker half-opens).
    pub retry_after: Option<Nanos>,
}

/// A complete local reply, ready for the host to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    /// Why breakwater answered: the refusal, or for a fallback the refusal it replaces.
    pub reason: RejectReason,
    /// The HTTP `:status` (200 for gRPC).
    pub http_status: u16,
    /// Response headers, lowercase names, in a fixed order. For gRPC they already hold
    /// `grpc-status` and the encoded `grpc-message`.
    pub headers: Vec<(String, String)>,
    /// The body: JSON for HTTP, empty for gRPC.
    pub body: Vec<u8>,
    /// The gRPC status, for gRPC requests; for hosts whose local-reply call takes it separately.
    pub grpc_status: Option<u32>,
    /// The gRPC message *before* percent-encoding, for gRPC requests.
    pub grpc_message: Option<String>,
}

/// The JSON body of an HTTP local reply.
#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    service: &'a str,
    policy: &'a str,
    retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
}

impl LocalReply {
    /// Builds the reply to `reason` in the protocol of `ctx`.
    pub fn new(reason: RejectReason, ctx: ReplyContext<'_>) -> LocalReply {
        let retry_after = ctx.retry_after.map(Nanos::as_secs_ceil);
        let mut headers = Vec::with_capacity(5);
        if ctx.grpc {
            let message = format!(
                "{} (service {}, policy {})",
                reason.message(),
                ctx.service,
                ctx.policy
            );
            let status = reason.grpc_status();
            headers.push(("content-type".to_owned(), "application/grpc".to_owned()));
            headers.push(("grpc-status".to_owned(), status.to_string()));
            headers.push(("grpc-message".to_owned(), encode_grpc_message(&message)));
            push_common(&mut headers, reason, retry_after);
            LocalReply {
                reason,
                http_status: 200,
                headers,
                body: Vec::new(),
                grpc_status: Some(status),
                grpc_message: Some(message),
            }
        } else {
            let body = Body {
                error: reason.name(),
                message: reason.message(),
                service: ctx.service,
                policy: ctx.policy,
                retry_after,
                max_attempts: reason.max_attempts(),
            };
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            push_common(&mut headers, reason, retry_after);
            LocalReply {
                reason,
                http_status: reason.http_status(),
                headers,
                // Serialising strings and an integer into memory cannot fail.
                body: serde_json::to_vec(&body).unwrap_or_default(),
                grpc_status: None,
                grpc_message: None,
            }
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The response code details an Envoy adapter sends it with (Envoy's
    /// `%RESPONSE_CODE_DETAILS%`): `breakwater_<reason>`, the reason as in `x-breakwater`.
    pub fn response_code_details(&self) -> String {
        format!(
            "breakwater_{}",
            self.header("x-breakwater").unwrap_or("local_reply")
        )
    }
}

/// Appends `x-breakwater`, `x-envoy-overloaded` on breakwater's own refusals, and, when known,
/// `retry-after`.
fn push_common(
    headers: &mut Vec<(String, String)>,
    reason: RejectReason,
    retry_after: Option<u64>,
) {
    headers.push(("x-breakwater".to_owned(), reason.name().to_owned()));
    if reason.is_overload() {
        headers.push((OVERLOADED_HEADER.to_owned(), "true".to_owned()));
    }
    if let Some(secs) = retry_after {
        headers.push(("retry-after".to_owned(), secs.to_string()));
    }
}

/// Percent-encodes a `grpc-message` value as the gRPC specification requires: every byte of the
/// UTF-8 text outside printable ASCII (0x20..=0x7E), and `%` itself, becomes `%XX` (uppercase
/// hex). The result is always a valid header value.
pub fn encode_grpc_message(message: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7E).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// Whether a `content-type` value marks a gRPC request: `application/grpc`, optionally followed
/// by `+format` (`application/grpc+proto`), `-web...` (gRPC-Web, which accepts trailers-only
/// replies too) or `;parameters`. ASCII case-insensitive, surrounding spaces allowed;
/// `application/grpcfoo` and invalid UTF-8 around the prefix are not gRPC.
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    let start = value.iter().position(|b| *b != b' ' && *b != b'\t');
    let value = start.and_then(|s| value.get(s..)).unwrap_or(&[]);
    let Some((head, rest)) = value.split_at_checked(PREFIX.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(PREFIX) {
        return false;
    }
    match rest.first() {
        None | Some(b'+' | b';' | b' ' | b'\t') => true,
        Some(b'-') => rest
            .get(1..4)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"web")),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests;
