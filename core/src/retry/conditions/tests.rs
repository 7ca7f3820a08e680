//! The router conditions derived from a retry section and explicit outcome treatments.

use super::*;
use crate::config::read::from_str;

fn derive(retry: &str, outcomes: &str) -> Conditions {
    let r: RetryConfig = from_str(retry).unwrap();
    let o: OutcomesConfig = from_str(outcomes).unwrap();
    Conditions::new(&r, &o)
}

fn strs<'a>(v: &[&'a str]) -> Vec<&'a str> {
    v.to_vec()
}

#[test]
fn defaults_pass_the_conditions_through() {
    let c = derive("{}", "{}");
    assert_eq!(
        strs(&c.http),
        ["5xx", "reset", "connect-failure", "refused-stream"]
    );
    assert!(c.status_codes.is_empty());
    assert_eq!(strs(&c.grpc), ["unavailable", "cancelled"]);
    assert_eq!(
        strs(&c.early_http),
        ["connect-failure", "refused-stream", "reset-before-request"]
    );
    assert_eq!(strs(&c.early_grpc), ["unavailable"]);
    assert!(c.notes.is_empty());
}

#[test]
fn a_status_list_turns_its_condition_on() {
    let c = derive(
        r#"{"retry_on": "connect-failure", "retriable_status_codes": [429, 503]}"#,
        "{}",
    );
    assert_eq!(strs(&c.http), ["connect-failure", "retriable-status-codes"]);
    assert_eq!(c.status_codes, [429, 503]);
    assert_eq!(
        strs(&c.early_http),
        ["connect-failure"],
        "statuses are not retried early"
    );
}

#[test]
fn retryable_treatments_widen_and_others_narrow() {
    // 429 retryable: not covered by 5xx, so it joins the status list.
    let c = derive("{}", r#"{"http": {"429": "retryable"}}"#);
    assert_eq!(
        strs(&c.http),
        [
            "5xx",
            "reset",
            "connect-failure",
            "refused-stream",
            "retriable-status-codes"
        ]
    );
    assert_eq!(c.status_codes, [429]);

    // 503 not retried: 5xx is spelt out without it.
    let c = derive("{}", r#"{"http": {"503": "failure_no_retry"}}"#);
    assert!(!c.http.contains(&"5xx"));
    assert!(c.http.contains(&"retriable-status-codes"));
    assert_eq!(c.status_codes.len(), 99);
    assert!(!c.status_codes.contains(&503));
    assert!(c.status_codes.contains(&500) && c.status_codes.contains(&599));
    assert_eq!(
        strs(&c.early_http),
        ["connect-failure", "refused-stream", "reset-before-request"],
        "the spelt-out parts still allow the safe retries"
    );

    // A whole class ignored, one status of it retryable.
    let c = derive("{}", r#"{"http": {"5xx": "ignore", "502": "retryable"}}"#);
    assert_eq!(c.status_codes, [502]);

    // Resets not retried: neither `reset` nor `5xx`'s resets.
    let c = derive("{}", r#"{"reset": "failure_no_retry"}"#);
    assert_eq!(
        strs(&c.http),
        [
            "connect-failure",
            "refused-stream",
            "retriable-status-codes"
        ]
    );
    assert_eq!(c.status_codes.len(), 100);
    assert_eq!(strs(&c.early_http), ["connect-failure", "refused-stream"]);
}

#[test]
fn grpc_treatments_govern_grpc_conditions() {
    let c = derive(
        "{}",
        r#"{"grpc": {"UNAVAILABLE": "failure_no_retry", "RESOURCE_EXHAUSTED": "retryable",
                     "UNKNOWN": "retryable"}}"#,
    );
    assert_eq!(strs(&c.grpc), ["cancelled", "resource-exhausted"]);
    assert!(
        c.early_grpc.is_empty(),
        "UNAVAILABLE is no longer retried at all"
    );
    assert_eq!(c.notes.len(), 1);
    assert_eq!(c.notes[0].0, "outcomes.grpc.UNKNOWN");
    assert!(
        c.notes[0].1.contains("no retry condition for UNKNOWN"),
        "{:?}",
        c.notes
    );
}

#[test]
fn a_retryable_timeout_without_5xx_is_noted() {
    let c = derive(
        r#"{"retry_on": "connect-failure"}"#,
        r#"{"timeout": "retryable"}"#,
    );
    assert_eq!(c.notes.len(), 1);
    assert_eq!(c.notes[0].0, "outcomes.timeout");
}
