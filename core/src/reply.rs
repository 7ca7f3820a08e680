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
//!   <reason>` and, when known, `retry-after: <seconds>`.
//! - gRPC: HTTP 200 *trailers-only* (status in the headers, empty body), `grpc-status` 14
//!   `UNAVAILABLE` for an open breaker, 8 `RESOURCE_EXHAUSTED` for a full bulkhead or a queue
//!   timeout, the configured code for an injected abort; `grpc-message` percent-encoded as the
//!   gRPC specification requires; `x-breakwater` and `retry-after` as for HTTP.
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
}

impl RejectReason {
    /// The stable name: the `x-breakwater` header value and the JSON `error` field.
    pub const fn name(self) -> &'static str {
        match self {
            RejectReason::BreakerOpen => "circuit_open",
            RejectReason::BulkheadFull => "bulkhead_full",
            RejectReason::QueueTimeout => "queue_timeout",
            RejectReason::InjectedAbort { .. } => "injected_fault",
        }
    }

    /// A short human sentence, lowercase.
    pub const fn message(self) -> &'static str {
        match self {
            RejectReason::BreakerOpen => "circuit breaker is open",
            RejectReason::BulkheadFull => "too many concurrent requests",
            RejectReason::QueueTimeout => "timed out waiting for a concurrency slot",
            RejectReason::InjectedAbort { .. } => "fault injected by breakwater",
        }
    }

    /// The HTTP status of the reply to an HTTP request.
    pub const fn http_status(self) -> u16 {
        match self {
            RejectReason::BreakerOpen => 503,
            RejectReason::BulkheadFull | RejectReason::QueueTimeout => 429,
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
            RejectReason::BreakerOpen => grpc::UNAVAILABLE,
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
            };
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            push_common(&mut headers, reason, retry_after);
            LocalReply {
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
}

/// Appends `x-breakwater` and, when known, `retry-after`.
fn push_common(
    headers: &mut Vec<(String, String)>,
    reason: RejectReason,
    retry_after: Option<u64>,
) {
    headers.push(("x-breakwater".to_owned(), reason.name().to_owned()));
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
mod tests {
    use super::*;
    use serde_json::Value;

    fn ctx(grpc: bool, retry_after: Option<Nanos>) -> ReplyContext<'static> {
        ReplyContext {
            service: "checkout",
            policy: "payments",
            grpc,
            retry_after,
        }
    }

    fn json(reply: &LocalReply) -> Value {
        serde_json::from_slice(&reply.body).unwrap()
    }

    const ABORT: RejectReason = RejectReason::InjectedAbort {
        http_status: 500,
        grpc_status: grpc::INTERNAL,
    };

    #[test]
    fn names_and_statuses_of_every_reason() {
        let table = [
            (RejectReason::BreakerOpen, "circuit_open", 503, 14),
            (RejectReason::BulkheadFull, "bulkhead_full", 429, 8),
            (RejectReason::QueueTimeout, "queue_timeout", 429, 8),
            (ABORT, "injected_fault", 500, 13),
        ];
        for (reason, name, http, code) in table {
            assert_eq!(reason.name(), name);
            assert_eq!(reason.http_status(), http, "{name}");
            assert_eq!(reason.grpc_status(), code, "{name}");
            let reply = LocalReply::new(reason, ctx(false, None));
            assert_eq!(reply.http_status, http);
            assert_eq!(reply.header("x-breakwater"), Some(name));
            assert_eq!(json(&reply)["error"], name);
            let reply = LocalReply::new(reason, ctx(true, None));
            assert_eq!(reply.http_status, 200);
            assert_eq!(reply.grpc_status, Some(code));
            assert_eq!(reply.header("grpc-status"), Some(code.to_string().as_str()));
        }
    }

    #[test]
    fn http_reply_has_every_field_and_header() {
        let reply = LocalReply::new(
            RejectReason::BreakerOpen,
            ctx(false, Some(Nanos::from_millis(29_001))),
        );
        assert_eq!(reply.http_status, 503);
        assert_eq!(
            json(&reply),
            serde_json::json!({
                "error": "circuit_open",
                "message": "circuit breaker is open",
                "service": "checkout",
                "policy": "payments",
                "retry_after": 30,
            })
        );
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type", "application/json"),
                ("x-breakwater", "circuit_open"),
                ("retry-after", "30"),
            ]
        );
        assert_eq!((reply.grpc_status, reply.grpc_message), (None, None));
    }

    #[test]
    fn unknown_retry_after_is_null_and_has_no_header() {
        let reply = LocalReply::new(RejectReason::BulkheadFull, ctx(false, None));
        assert_eq!(json(&reply)["retry_after"], Value::Null);
        assert!(
            json(&reply)
                .as_object()
                .unwrap()
                .contains_key("retry_after")
        );
        assert_eq!(reply.header("retry-after"), None);
        assert_eq!(json(&reply)["message"], "too many concurrent requests");
        let reply = LocalReply::new(RejectReason::QueueTimeout, ctx(true, None));
        assert_eq!(reply.header("retry-after"), None);
    }

    #[test]
    fn special_characters_are_escaped() {
        let service = "a\"b\\c\nd</script>\u{0}é";
        let policy = "p\u{1F600}\t%";
        let c = ReplyContext {
            service,
            policy,
            grpc: false,
            retry_after: Some(Nanos::ZERO),
        };
        let reply = LocalReply::new(RejectReason::QueueTimeout, c);
        let body = json(&reply);
        assert_eq!(body["service"], service);
        assert_eq!(body["policy"], policy);
        assert_eq!(body["retry_after"], 0);
        assert_eq!(reply.header("retry-after"), Some("0"));
        let reply = LocalReply::new(RejectReason::QueueTimeout, ReplyContext { grpc: true, ..c });
        let encoded = reply.header("grpc-message").unwrap();
        assert!(
            encoded.bytes().all(|b| (0x20..=0x7E).contains(&b)),
            "{encoded}"
        );
        assert!(
            encoded.contains("a\"b\\c%0Ad</script>%00%C3%A9"),
            "{encoded}"
        );
        assert!(encoded.contains("p%F0%9F%98%80%09%25"), "{encoded}");
        assert_eq!(
            reply.grpc_message.as_deref(),
            Some(
                format!(
                    "timed out waiting for a concurrency slot (service {service}, policy {policy})"
                )
                .as_str()
            )
        );
    }

    #[test]
    fn grpc_reply_is_trailers_only() {
        let reply = LocalReply::new(
            RejectReason::BreakerOpen,
            ctx(true, Some(Nanos::from_secs(5))),
        );
        assert_eq!(reply.http_status, 200);
        assert!(reply.body.is_empty());
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type", "application/grpc"),
                ("grpc-status", "14"),
                (
                    "grpc-message",
                    "circuit breaker is open (service checkout, policy payments)"
                ),
                ("x-breakwater", "circuit_open"),
                ("retry-after", "5"),
            ]
        );
        assert_eq!(reply.grpc_status, Some(14));
    }

    #[test]
    fn injected_abort_out_of_range_falls_back() {
        let bad = RejectReason::InjectedAbort {
            http_status: 0,
            grpc_status: 99,
        };
        assert_eq!(LocalReply::new(bad, ctx(false, None)).http_status, 503);
        assert_eq!(LocalReply::new(bad, ctx(true, None)).grpc_status, Some(14));
        let ok = RejectReason::InjectedAbort {
            http_status: 200,
            grpc_status: 0,
        };
        assert_eq!(LocalReply::new(ok, ctx(false, None)).http_status, 200);
        assert_eq!(LocalReply::new(ok, ctx(true, None)).grpc_status, Some(0));
    }

    #[test]
    fn grpc_message_encoding() {
        assert_eq!(encode_grpc_message("plain text ~"), "plain text ~");
        assert_eq!(encode_grpc_message("100%"), "100%25");
        assert_eq!(encode_grpc_message("\r\n\x7f"), "%0D%0A%7F");
        assert_eq!(encode_grpc_message("ü"), "%C3%BC");
        assert_eq!(encode_grpc_message(""), "");
    }

    #[test]
    fn grpc_content_types() {
        for yes in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc+json",
            b"application/grpc;charset=utf-8",
            b"Application/GRPC",
            b"  application/grpc ",
            b"application/grpc-web",
            b"application/grpc-web+proto",
            b"application/grpc-web-text",
        ] {
            assert!(
                is_grpc_content_type(yes),
                "{}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b""[..],
            b"application/json",
            b"application/grp",
            b"application/grpcfoo",
            b"application/grpc-foo",
            b"application/grpc-we",
            b"text/application/grpc",
            b"application/grpc\xff",
            b"\xffapplication/grpc",
            b"   ",
        ] {
            assert!(!is_grpc_content_type(no), "{}", String::from_utf8_lossy(no));
        }
    }

    proptest::proptest! {
        #[test]
        fn replies_never_panic_and_bodies_round_trip(
            service in ".{0,40}",
            policy in ".{0,40}",
            grpc in proptest::bool::ANY,
            secs in proptest::option::of(proptest::num::u64::ANY),
            http_status in proptest::num::u16::ANY,
            grpc_status in proptest::num::u32::ANY,
            content_type in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            let _ = is_grpc_content_type(&content_type);
            let reason = RejectReason::InjectedAbort { http_status, grpc_status };
            let c = ReplyContext { service: &service, policy: &policy, grpc, retry_after: secs.map(Nanos::new) };
            let reply = LocalReply::new(reason, c);
            if grpc {
                let encoded = reply.header("grpc-message").unwrap_or_default();
                proptest::prop_assert!(encoded.bytes().all(|b| (0x20..=0x7E).contains(&b)));
            } else {
                let body: Value = serde_json::from_slice(&reply.body).unwrap();
                proptest::prop_assert_eq!(&body["service"], &Value::from(service.as_str()));
                proptest::prop_assert_eq!(&body["policy"], &Value::from(policy.as_str()));
                proptest::prop_assert!((200..=599).contains(&reply.http_status));
            }
        }
    }
}
