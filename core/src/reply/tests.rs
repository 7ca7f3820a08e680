//! The local replies as clients see them: HTTP JSON bodies and headers, gRPC trailers-only
//! answers, and the retry-after they carry.

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
    // (reason, name, HTTP, gRPC, marked overloaded: breakwater's own refusals only)
    let table = [
        (RejectReason::BreakerOpen, "circuit_open", 503, 14, true),
        (RejectReason::BulkheadFull, "bulkhead_full", 429, 8, true),
        (RejectReason::QueueTimeout, "queue_timeout", 429, 8, true),
        (ABORT, "injected_fault", 500, 13, false),
        (
            RejectReason::RetriesExhausted { attempts: 3 },
            "retries_exhausted",
            503,
            14,
            false,
        ),
        (RejectReason::NetworkError, "network_error", 502, 14, false),
        (
            RejectReason::UpstreamTimeout,
            "upstream_timeout",
            504,
            14,
            false,
        ),
    ];
    for (reason, name, http, code, overloaded) in table {
        assert_eq!(reason.name(), name);
        assert_eq!(reason.http_status(), http, "{name}");
        assert_eq!(reason.grpc_status(), code, "{name}");
        let reply = LocalReply::new(reason, ctx(false, None));
        assert_eq!(reply.http_status, http);
        assert_eq!(reply.header("x-breakwater"), Some(name));
        assert_eq!(
            reply.header("x-envoy-overloaded"),
            overloaded.then_some("true"),
            "{name}"
        );
        assert_eq!(json(&reply)["error"], name);
        let reply = LocalReply::new(reason, ctx(true, None));
        assert_eq!(
            reply.header("x-envoy-overloaded"),
            overloaded.then_some("true"),
            "{name} (gRPC)"
        );
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
            ("x-envoy-overloaded", "true"),
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
            ("x-envoy-overloaded", "true"),
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

#[test]
fn exhausted_retries_say_how_many_attempts_were_made() {
    let reason = RejectReason::RetriesExhausted { attempts: 3 };
    let body = json(&LocalReply::new(
        reason,
        ctx(false, Some(Nanos::from_millis(1500))),
    ));
    assert_eq!(body["error"], "retries_exhausted");
    assert_eq!(body["message"], "all retry attempts exhausted");
    assert_eq!(body["max_attempts"], 3);
    assert_eq!(body["retry_after"], 2, "rounded up");
    assert_eq!(body["policy"], "payments");
    // The other reasons keep their body as it was: no max_attempts key at all.
    let body = json(&LocalReply::new(
        RejectReason::NetworkError,
        ctx(false, None),
    ));
    assert!(body.get("max_attempts").is_none(), "{body}");
    assert_eq!(body["retry_after"], Value::Null);
    let grpc = LocalReply::new(reason, ctx(true, None));
    assert_eq!(
        grpc.grpc_message.as_deref(),
        Some("all retry attempts exhausted (service checkout, policy payments)")
    );
    assert!(grpc.body.is_empty());
}
