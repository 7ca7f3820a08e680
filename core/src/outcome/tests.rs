//! Classifier tests: every default, overrides, and precedence.

use super::grpc::*;
use super::*;

fn classifier(json: &str) -> Classifier {
    Classifier::new(&crate::config::read::from_str(json).unwrap())
}

#[test]
fn every_http_default() {
    let c = Classifier::default();
    for status in 100..=599u16 {
        let expected = if status >= 500 && status != 501 {
            Verdict::FAILURE
        } else {
            Verdict::IGNORE
        };
        assert_eq!(c.classify(&Outcome::http(status)), expected, "{status}");
    }
}

#[test]
fn every_grpc_default() {
    let c = Classifier::default();
    let failures = [UNAVAILABLE, INTERNAL, UNKNOWN, DEADLINE_EXCEEDED, DATA_LOSS];
    for code in 0..=MAX_CODE {
        let expected = if failures.contains(&code) {
            Verdict::FAILURE
        } else {
            Verdict::IGNORE
        };
        assert_eq!(c.classify(&Outcome::grpc(code)), expected, "{code}");
    }
    // Codes the specification does not define count as UNKNOWN.
    assert_eq!(c.classify(&Outcome::grpc(17)), Verdict::FAILURE);
    assert_eq!(c.classify(&Outcome::grpc(u32::MAX)), Verdict::FAILURE);
}

#[test]
fn connection_level_defaults_are_failures() {
    let c = Classifier::default();
    for kind in [
        OutcomeKind::Reset,
        OutcomeKind::ConnectFailure,
        OutcomeKind::Timeout,
    ] {
        assert_eq!(c.classify(&Outcome::without_answer(kind)), Verdict::FAILURE);
    }
}

#[test]
fn grpc_status_beats_http_status() {
    let c = Classifier::default();
    // An HTTP 200 carrying UNAVAILABLE is a failure...
    assert_eq!(c.classify(&Outcome::grpc(UNAVAILABLE)), Verdict::FAILURE);
    // ...and a 503 carrying OK is not.
    let ok_on_503 = Outcome {
        grpc_status: Some(OK),
        ..Outcome::http(503)
    };
    assert_eq!(c.classify(&ok_on_503), Verdict::IGNORE);
}

#[test]
fn odd_responses_never_panic() {
    let c = Classifier::default();
    for status in [0, 1, 99, 600, 999, u16::MAX] {
        assert_eq!(
            c.classify(&Outcome::http(status)),
            Verdict::FAILURE,
            "{status}"
        );
    }
    let nothing = Outcome::without_answer(OutcomeKind::Response);
    assert_eq!(c.classify(&nothing), Verdict::IGNORE);
    // Out-of-range statuses follow whatever 500 is configured to.
    let c = classifier(r#"{"http": {"500": "retryable"}}"#);
    assert_eq!(c.classify(&Outcome::http(700)), Verdict::RETRYABLE);
}

#[test]
fn overrides_replace_defaults() {
    let c = classifier(
        r#"{"http": {"502": "retryable", "404": "failure_no_retry", "429": "retryable"},
            "grpc": {"UNAVAILABLE": "failure_no_retry", "resource_exhausted": "retryable", "2": "ignore"},
            "reset": "ignore", "connect_failure": "retryable", "timeout": "failure_no_retry"}"#,
    );
    assert_eq!(c.classify(&Outcome::http(502)), Verdict::RETRYABLE);
    assert_eq!(c.classify(&Outcome::http(404)), Verdict::FAILURE_NO_RETRY);
    assert_eq!(c.classify(&Outcome::http(429)), Verdict::RETRYABLE);
    assert_eq!(c.classify(&Outcome::http(503)), Verdict::FAILURE);
    assert_eq!(
        c.classify(&Outcome::grpc(UNAVAILABLE)),
        Verdict::FAILURE_NO_RETRY
    );
    assert_eq!(
        c.classify(&Outcome::grpc(RESOURCE_EXHAUSTED)),
        Verdict::RETRYABLE
    );
    assert_eq!(c.classify(&Outcome::grpc(UNKNOWN)), Verdict::IGNORE);
    // Unknown codes follow the UNKNOWN override.
    assert_eq!(c.classify(&Outcome::grpc(42)), Verdict::IGNORE);
    assert_eq!(c.classify(&Outcome::grpc(INTERNAL)), Verdict::FAILURE);
    let reset = Outcome::without_answer(OutcomeKind::Reset);
    let connect = Outcome::without_answer(OutcomeKind::ConnectFailure);
    let timeout = Outcome::without_answer(OutcomeKind::Timeout);
    assert_eq!(c.classify(&reset), Verdict::IGNORE);
    assert_eq!(c.classify(&connect), Verdict::RETRYABLE);
    assert_eq!(c.classify(&timeout), Verdict::FAILURE_NO_RETRY);
}

#[test]
fn exact_status_beats_class_whatever_the_order() {
    // "503" sorts before "5xx" and "5XX" after it: neither order matters.
    for json in [
        r#"{"http": {"5xx": "ignore", "503": "failure_no_retry"}}"#,
        r#"{"http": {"503": "failure_no_retry", "5XX": "ignore"}}"#,
    ] {
        let c = classifier(json);
        assert_eq!(
            c.classify(&Outcome::http(503)),
            Verdict::FAILURE_NO_RETRY,
            "{json}"
        );
        assert_eq!(c.classify(&Outcome::http(500)), Verdict::IGNORE, "{json}");
        assert_eq!(c.classify(&Outcome::http(599)), Verdict::IGNORE, "{json}");
        assert_eq!(c.classify(&Outcome::http(404)), Verdict::IGNORE, "{json}");
    }
}

#[test]
fn configured_class_beats_default_exact() {
    let c = classifier(r#"{"http": {"5xx": "failure_no_retry", "4xx": "retryable"}}"#);
    assert_eq!(c.classify(&Outcome::http(501)), Verdict::FAILURE_NO_RETRY);
    assert_eq!(c.classify(&Outcome::http(500)), Verdict::FAILURE_NO_RETRY);
    assert_eq!(c.classify(&Outcome::http(400)), Verdict::RETRYABLE);
    assert_eq!(c.classify(&Outcome::http(499)), Verdict::RETRYABLE);
    assert_eq!(c.classify(&Outcome::http(399)), Verdict::IGNORE);
    let c = classifier(r#"{"http": {"2xx": "failure", "1xx": "failure", "3xx": "retryable"}}"#);
    assert_eq!(c.classify(&Outcome::http(100)), Verdict::FAILURE);
    assert_eq!(c.classify(&Outcome::http(204)), Verdict::FAILURE);
    assert_eq!(c.classify(&Outcome::http(302)), Verdict::RETRYABLE);
}

#[test]
fn invalid_keys_are_skipped_when_compiling() {
    let c =
        classifier(r#"{"http": {"6xx": "ignore", "abc": "ignore"}, "grpc": {"NOPE": "ignore"}}"#);
    assert_eq!(c, Classifier::default());
}

#[test]
fn treatments_map_to_verdicts() {
    assert_eq!(
        Treatment::Failure.verdict(),
        Verdict {
            failure: true,
            retryable: true
        }
    );
    assert_eq!(
        Treatment::FailureNoRetry.verdict(),
        Verdict {
            failure: true,
            retryable: false
        }
    );
    assert_eq!(
        Treatment::Retryable.verdict(),
        Verdict {
            failure: false,
            retryable: true
        }
    );
    assert_eq!(
        Treatment::Ignore.verdict(),
        Verdict {
            failure: false,
            retryable: false
        }
    );
}

#[test]
fn outcome_categories() {
    assert_eq!(Outcome::http(200).category(), None);
    assert_eq!(
        Outcome::http(503).category(),
        Some(ErrorCategory::Transient)
    );
    assert_eq!(Outcome::grpc(OK).category(), None);
    assert_eq!(
        Outcome::grpc(NOT_FOUND).category(),
        Some(ErrorCategory::NotFound)
    );
    let reset = Outcome::without_answer(OutcomeKind::Reset);
    assert_eq!(reset.category(), Some(ErrorCategory::Transient));
    let timeout = Outcome::without_answer(OutcomeKind::Timeout);
    assert_eq!(timeout.category(), Some(ErrorCategory::Timeout));
}

#[test]
fn debug_is_compact() {
    let s = format!("{:?}", Classifier::default());
    assert!(s.contains("failing_grpc: [\"UNKNOWN\", \"DEADLINE_EXCEEDED\", \"INTERNAL\", \"UNAVAILABLE\", \"DATA_LOSS\"]"), "{s}");
    assert!(s.len() < 2_000, "{}", s.len());
}
