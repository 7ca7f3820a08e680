//! The router headers a policy grants: retry conditions per request kind and scope, timeouts,
//! and the lists the engine precomputes.

use super::Scope::{BeforeProcessing, Full};
use super::*;
use crate::outcome::OutcomesConfig;

fn h(list: &[Header]) -> Vec<(&str, &str)> {
    list.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn headers(c: &RetryConfig, timeout: Option<u64>) -> RetryHeaders {
    RetryHeaders::new(c, &Conditions::new(c, &OutcomesConfig::default()), timeout)
}

#[test]
fn numbered_lists_are_the_lists_with_retries_names() {
    let r = headers(&RetryConfig::default(), Some(1500));
    let lists: Vec<&[Header]> = r.lists().collect();
    assert_eq!(lists.len(), r.list_count());
    assert_eq!(
        r.list_count(),
        12,
        "0..=2 retries, gRPC and not, both scopes"
    );
    for scope in [Full, BeforeProcessing] {
        for grpc in [true, false] {
            for n in 0..5 {
                assert_eq!(
                    lists[r.list_index(n, grpc, scope)],
                    r.with_retries(n, grpc, scope),
                    "{n} {grpc} {scope:?}"
                );
            }
        }
    }
    assert_ne!(r.list_index(2, true, Full), r.list_index(2, false, Full));
    assert_ne!(
        r.list_index(2, true, Full),
        r.list_index(2, true, BeforeProcessing)
    );
    assert_eq!(
        r.list_index(9, false, Full),
        r.list_index(2, false, Full),
        "capped like with_retries"
    );
}

#[test]
fn default_policy_lists() {
    let r = headers(&RetryConfig::default(), Some(1500));
    assert_eq!(r.max_retries(), 2);
    assert_eq!(
        h(r.no_retries()),
        [
            ("x-envoy-max-retries", "0"),
            ("x-envoy-upstream-rq-timeout-ms", "1500"),
        ]
    );
    assert_eq!(r.with_retries(0, true, Full), r.no_retries());
    assert_eq!(r.with_retries(0, false, BeforeProcessing), r.no_retries());
    assert_eq!(
        h(r.with_retries(2, true, Full)),
        [
            ("x-envoy-max-retries", "2"),
            (
                "x-envoy-retry-on",
                "5xx,reset,connect-failure,refused-stream"
            ),
            ("x-envoy-retry-grpc-on", "unavailable,cancelled"),
            ("x-envoy-upstream-rq-timeout-ms", "1500"),
        ]
    );
    assert_eq!(
        h(r.with_retries(2, false, Full)),
        [
            ("x-envoy-max-retries", "2"),
            (
                "x-envoy-retry-on",
                "5xx,reset,connect-failure,refused-stream"
            ),
            ("x-envoy-upstream-rq-timeout-ms", "1500"),
        ],
        "gRPC conditions go on gRPC requests only"
    );
    // A POST without a key: only what proves the upstream never saw it.
    assert_eq!(
        h(r.with_retries(2, true, BeforeProcessing)),
        [
            ("x-envoy-max-retries", "2"),
            (
                "x-envoy-retry-on",
                "connect-failure,refused-stream,reset-before-request"
            ),
            ("x-envoy-retry-grpc-on", "unavailable"),
            ("x-envoy-upstream-rq-timeout-ms", "1500"),
        ]
    );
    assert_eq!(
        h(r.with_retries(1, false, Full))[0],
        ("x-envoy-max-retries", "1")
    );
    assert_eq!(
        r.with_retries(7, true, Full),
        r.with_retries(2, true, Full),
        "capped at max_retries"
    );
}

#[test]
fn per_try_timeout_normalised_lists_and_missing_timeouts() {
    let c = RetryConfig {
        max_retries: 1,
        retry_on: " gateway-error , reset ".to_owned(),
        grpc_retry_on: String::new(),
        per_try_timeout_ms: Some(250),
        ..RetryConfig::default()
    };
    let r = headers(&c, None);
    assert_eq!(
        h(r.with_retries(1, true, Full)),
        [
            ("x-envoy-max-retries", "1"),
            ("x-envoy-retry-on", "gateway-error,reset"),
            ("x-envoy-upstream-rq-per-try-timeout-ms", "250"),
        ]
    );
    assert_eq!(
        h(r.no_retries()),
        [
            ("x-envoy-max-retries", "0"),
            ("x-envoy-upstream-rq-per-try-timeout-ms", "250"),
        ]
    );
}

#[test]
fn zero_and_oversized_max_retries() {
    let c = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    let r = headers(&c, None);
    assert_eq!(r.max_retries(), 0);
    assert_eq!(
        h(r.with_retries(3, true, Full)),
        [("x-envoy-max-retries", "0")]
    );
    let c = RetryConfig {
        max_retries: u32::MAX,
        ..RetryConfig::default()
    };
    let r = headers(&c, None);
    assert_eq!(r.max_retries(), MAX_RETRIES_LIMIT);
    assert_eq!(
        h(r.with_retries(u32::MAX, false, Full))[0],
        ("x-envoy-max-retries", "10")
    );
}

#[test]
fn idempotency_decides_the_scope() {
    let r = headers(&RetryConfig::default(), Some(1000));
    for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
        assert_eq!(r.scope(m.as_bytes(), false), Full, "{m}");
    }
    for m in ["POST", "PATCH", "CONNECT", "get", "", "PURGE"] {
        assert_eq!(r.scope(m.as_bytes(), false), BeforeProcessing, "{m}");
    }
    assert_eq!(r.scope(b"POST", true), Full);
    assert_eq!(r.scope(b"PATCH", true), Full);
    assert_eq!(r.idempotency_header(), "idempotency-key");
    assert!(r.can_retry(false, BeforeProcessing));

    let lax = RetryConfig {
        retry_non_idempotent: true,
        ..RetryConfig::default()
    };
    let r = headers(&lax, None);
    assert_eq!(r.scope(b"POST", false), Full);
    assert_eq!(r.scope(b"PATCH", false), Full);

    // Retrying only on statuses leaves a POST without a key nothing to retry on.
    let statuses = RetryConfig {
        retry_on: "retriable-4xx".to_owned(),
        grpc_retry_on: String::new(),
        ..RetryConfig::default()
    };
    let r = headers(&statuses, None);
    assert!(r.can_retry(false, Full));
    assert!(!r.can_retry(false, BeforeProcessing));
    assert!(!r.can_retry(true, BeforeProcessing));
}

#[test]
fn hedging_goes_with_granted_retries_in_the_full_scope_only() {
    let c = RetryConfig {
        max_retries: 2,
        retry_on: "5xx".to_owned(),
        grpc_retry_on: String::new(),
        per_try_timeout_ms: Some(100),
        hedge_on_per_try_timeout: true,
        ..RetryConfig::default()
    };
    let r = headers(&c, None);
    assert_eq!(
        h(r.with_retries(2, false, Full)),
        [
            ("x-envoy-max-retries", "2"),
            ("x-envoy-retry-on", "5xx"),
            ("x-envoy-hedge-on-per-try-timeout", "true"),
            ("x-envoy-upstream-rq-per-try-timeout-ms", "100"),
        ]
    );
    let hedged = |l: &[Header]| l.iter().any(|(k, _)| k == HEDGE_HEADER);
    assert!(!hedged(r.no_retries()), "no retry granted, no hedge");
    assert!(!hedged(r.with_retries(0, false, Full)));
    assert!(
        !hedged(r.with_retries(2, false, BeforeProcessing)),
        "a request that is not idempotent is never sent twice at once"
    );
    let plain = headers(
        &RetryConfig {
            hedge_on_per_try_timeout: false,
            ..c
        },
        None,
    );
    assert!(!hedged(plain.with_retries(2, false, Full)));
}
