//! Deserialisation, defaults and every validation message of the `retry` section.

use super::*;

fn parse(json: &str) -> RetryConfig {
    crate::config::read::from_str(json).expect("valid retry section")
}

fn problems(c: &RetryConfig) -> Vec<String> {
    let mut p = Problems::new();
    c.validate("policies[1].retry", &mut p);
    match p.finish() {
        Ok(()) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn empty_section_is_the_default_and_valid() {
    let c = parse("{}");
    assert_eq!(c, RetryConfig::default());
    assert_eq!(c.max_retries, 2);
    assert_eq!(c.retry_on, "5xx,reset,connect-failure,refused-stream");
    assert_eq!(c.grpc_retry_on, "unavailable,cancelled");
    assert_eq!(c.idempotency_header, "idempotency-key");
    assert!(!c.retry_non_idempotent);
    assert_eq!(c.per_try_timeout_ms, None);
    assert_eq!(c.budget, BudgetConfig::default());
    assert_eq!(c.budget.budget_percent, 20.0);
    assert_eq!(c.budget.min_retry_concurrency, 3);
    assert_eq!(c.budget.window_ms, 10_000);
    assert_eq!(c.backoff(), Backoff::default());
    assert!(problems(&c).is_empty());
}

#[test]
fn every_field_deserialises() {
    let c = parse(
        r#"{
            "max_retries": 4,
            "backoff": "exponential_jitter",
            "jitter_mode": "decorrelated",
            "base_delay_ms": 50,
            "max_delay_ms": 2000,
            "jitter": 0.25,
            "retry_on": "gateway-error, reset",
            "grpc_retry_on": "",
            "per_try_timeout_ms": 300,
            "retry_non_idempotent": true,
            "idempotency_header": "x-request-key",
            "budget": {"budget_percent": 50, "min_retry_concurrency": 1, "window_ms": 1000}
        }"#,
    );
    assert!(problems(&c).is_empty(), "{:?}", problems(&c));
    assert_eq!(c.per_try_timeout_ms, Some(300));
    let b = c.backoff();
    assert_eq!(
        b.kind(),
        BackoffKind::ExponentialJitter(Jitter::Decorrelated)
    );
    assert_eq!(b.base(), Nanos::from_millis(50));
    assert_eq!(b.max(), Nanos::from_millis(2000));
    assert_eq!(b.jitter(), 0.25);
    assert_eq!(b.max_retries(), 4);
    let budget = c.budget();
    assert_eq!(budget.budget_percent(), 50.0);
    assert_eq!(budget.min_retry_concurrency(), 1);
    assert_eq!(budget.window(), Nanos::from_secs(1));
}

#[test]
fn every_strategy_name_maps_to_its_kind() {
    for (name, kind) in [
        ("fixed", BackoffKind::Fixed),
        ("linear", BackoffKind::Linear),
        ("exponential", BackoffKind::Exponential),
        ("fibonacci", BackoffKind::Fibonacci),
        ("polynomial", BackoffKind::Polynomial),
        (
            "exponential_jitter",
            BackoffKind::ExponentialJitter(Jitter::Full),
        ),
    ] {
        let c = parse(&format!(r#"{{"backoff": "{name}"}}"#));
        assert_eq!(c.backoff().kind(), kind);
    }
    let c = parse(r#"{"backoff": "exponential_jitter", "jitter_mode": "equal"}"#);
    assert_eq!(
        c.backoff().kind(),
        BackoffKind::ExponentialJitter(Jitter::Equal)
    );
}

#[test]
fn unknown_keys_and_names_are_refused_by_name() {
    let err = |json: &str| {
        crate::config::read::from_str::<RetryConfig>(json)
            .unwrap_err()
            .to_string()
    };
    assert!(err(r#"{"max_retires": 3}"#).contains("unknown field `max_retires`"));
    assert!(err(r#"{"budget": {"percent": 3}}"#).contains("unknown field `percent`"));
    assert!(err(r#"{"backoff": "cubic"}"#).contains("unknown variant `cubic`"));
    assert!(err(r#"{"jitter_mode": "Full"}"#).contains("unknown variant `Full`"));
    assert!(err(r#"{"max_retries": -1}"#).contains("invalid value"));
}

#[test]
fn each_bad_value_is_reported_with_its_path() {
    let check = |json: &str, want: &[&str]| {
        assert_eq!(problems(&parse(json)), want, "{json}");
    };
    check(
        r#"{"max_retries": 12}"#,
        &["policies[1].retry.max_retries: must be at most 10, got 12"],
    );
    check(
        r#"{"base_delay_ms": 0}"#,
        &["policies[1].retry.base_delay_ms: must be at least 1, got 0"],
    );
    check(
        r#"{"base_delay_ms": 300, "max_delay_ms": 200}"#,
        &["policies[1].retry.base_delay_ms: must be at most max_delay_ms (200), got 300"],
    );
    check(
        r#"{"jitter": 1.5}"#,
        &["policies[1].retry.jitter: must be in [0, 1], got 1.5"],
    );
    check(
        r#"{"retry_on": "5xx,boom"}"#,
        &[
            "policies[1].retry.retry_on: unknown value \"boom\"; expected one of 5xx, \
           gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, \
           retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, \
           http3-post-connect-failure",
        ],
    );
    check(
        r#"{"grpc_retry_on": "unavailable,,aborted"}"#,
        &[
            "policies[1].retry.grpc_retry_on: unknown value \"\"; expected one of cancelled, \
             deadline-exceeded, internal, resource-exhausted, unavailable",
            "policies[1].retry.grpc_retry_on: unknown value \"aborted\"; expected one of \
             cancelled, deadline-exceeded, internal, resource-exhausted, unavailable",
        ],
    );
    check(
        r#"{"retry_on": " ", "grpc_retry_on": ""}"#,
        &[
            "policies[1].retry.retry_on: must name a condition (here or in grpc_retry_on) \
           when max_retries is above 0",
        ],
    );
    check(
        r#"{"retry_on": "", "grpc_retry_on": "", "max_retries": 0}"#,
        &[],
    );
    check(
        r#"{"per_try_timeout_ms": 0}"#,
        &["policies[1].retry.per_try_timeout_ms: must be at least 1, got 0"],
    );
    check(
        r#"{"hedge_on_per_try_timeout": true}"#,
        &[
            "policies[1].retry.hedge_on_per_try_timeout: requires per_try_timeout_ms: a hedge \
           starts when an attempt outlives it",
        ],
    );
    check(
        r#"{"hedge_on_per_try_timeout": true, "per_try_timeout_ms": 100}"#,
        &[],
    );
    check(
        r#"{"idempotency_header": "Idempotency-Key"}"#,
        &[
            "policies[1].retry.idempotency_header: must be a lowercase header name, got \
           \"Idempotency-Key\"",
        ],
    );
    check(
        r#"{"idempotency_header": ""}"#,
        &["policies[1].retry.idempotency_header: must be a lowercase header name, got \"\""],
    );
    check(
        r#"{"budget": {"budget_percent": 0}}"#,
        &["policies[1].retry.budget.budget_percent: must be in (0, 100], got 0"],
    );
    check(
        r#"{"budget": {"budget_percent": 100.5}}"#,
        &["policies[1].retry.budget.budget_percent: must be in (0, 100], got 100.5"],
    );
    check(
        r#"{"budget": {"window_ms": 0}}"#,
        &["policies[1].retry.budget.window_ms: must be at least 1, got 0"],
    );
}

#[test]
fn all_problems_are_reported_at_once_in_order() {
    let c = parse(
        r#"{"max_retries": 11, "jitter": -0.5, "base_delay_ms": 0, "budget": {"window_ms": 0}}"#,
    );
    assert_eq!(
        problems(&c),
        [
            "policies[1].retry.max_retries: must be at most 10, got 11",
            "policies[1].retry.base_delay_ms: must be at least 1, got 0",
            "policies[1].retry.jitter: must be in [0, 1], got -0.5",
            "policies[1].retry.budget.window_ms: must be at least 1, got 0",
        ]
    );
}
