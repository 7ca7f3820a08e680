//! Issue 18's WIT functions through the generated bindings, on wasmtime: what an embedding host
//! gets that the Envoy adapters serve on their endpoints and logs (the engine's statistics,
//! health, reset, notices, plain-text report, fallback reroute and response verdict; the
//! standalone breaker's statistics, health and reset).

use component_host::bindings::exports::breakwater::resilience::circuit_breaker::Admission;
use component_host::{
    BreakerState, Decision, Guest, GuestEngine, Header, LogLevel, Outcome, OutcomeKind, ResetError,
    ResponseVerdict, request,
};

const MS: u64 = 1_000_000;

/// `api`: a breaker (2 failures open it for 60 s) that reroutes when open, and retries.
const CONFIG: &str = r#"{
  "service": "shop",
  "policies": [
    {"name": "api",
     "breaker": {"failure_threshold": 2, "recovery_timeout_ms": 60000, "recovery_jitter": 0,
                 "health": {"unhealthy_after": 2}},
     "retry": {"max_retries": 2, "rewrite_upstream_errors": true},
     "fallback": {"reroute": {}}},
    {"name": "plain", "match": {"path_prefix": "/plain"}, "retry": {}}
  ]
}"#;

fn outcome(kind: OutcomeKind, status: Option<u16>) -> Outcome {
    Outcome {
        kind,
        http_status: status,
        grpc_status: None,
    }
}

fn engine() -> GuestEngine {
    GuestEngine::new(CONFIG, 0, Some(1))
        .expect("no trap")
        .expect("no error")
}

fn proceed(e: &mut GuestEngine, now: u64) -> u64 {
    match e.on_request(now, &request("GET", "/pay")).expect("no trap") {
        Decision::Proceed(p) => p.ticket,
        other => panic!("expected proceed, got {other:?}"),
    }
}

#[test]
fn statistics_health_notices_and_reset_come_through_the_wit() {
    let mut e = engine();
    for i in 0..2 {
        let t = proceed(&mut e, i * MS);
        e.on_response(i * MS, t, outcome(OutcomeKind::Response, Some(503)), 1)
            .expect("no trap");
    }
    let stats = e.breaker_statistics("api").unwrap().expect("a breaker");
    assert_eq!(
        (stats.total_calls, stats.failed_calls, stats.state_changes),
        (2, 2, 1)
    );
    assert_eq!(e.breaker_statistics("plain").unwrap(), None, "no breaker");
    assert_eq!(e.breaker_statistics("nope").unwrap(), None);
    let health = e.health("api").unwrap().expect("a breaker");
    assert!(!health.healthy && health.score == 0.0, "{health:?}");
    assert_eq!(health.consecutive_failures, 2);
    let notice = e.poll_notice().unwrap().expect("the health change");
    assert_eq!(
        (notice.policy.as_str(), notice.level),
        ("api", LogLevel::Warn)
    );
    assert_eq!(
        notice.line,
        "breakwater unhealthy service=shop policy=api score=0.00"
    );
    let text = e.status_text(3 * MS).unwrap();
    assert!(
        text.starts_with("breakwater shop: UNHEALTHY (1 breaker open)\n"),
        "{text}"
    );

    // Open: the request is rerouted, with the header set its `proceed` names.
    let sets = e.fetch_header_sets().unwrap();
    let Decision::Proceed(p) = e.on_request(4 * MS, &request("GET", "/pay")).unwrap() else {
        panic!("rerouted")
    };
    assert!(e.rerouted(p.ticket).unwrap());
    let header = Header {
        name: "x-breakwater-fallback".into(),
        value: "api".into(),
    };
    assert_eq!(sets[p.headers as usize], [header]);
    e.cancel(4 * MS, p.ticket).unwrap();

    assert_eq!(e.reset(5 * MS, "api").unwrap(), Ok(BreakerState::Open));
    assert_eq!(
        e.reset(5 * MS, "plain").unwrap(),
        Err(ResetError::NoBreaker)
    );
    assert_eq!(
        e.reset(5 * MS, "nope").unwrap(),
        Err(ResetError::UnknownPolicy)
    );
    let lines: Vec<String> = std::iter::from_fn(|| e.poll_notice().unwrap())
        .map(|n| n.line)
        .collect();
    assert!(
        lines.contains(&"breakwater reset service=shop policy=api from=open to=closed".into()),
        "{lines:?}"
    );
    let stats = e.breaker_statistics("api").unwrap().unwrap();
    assert_eq!((stats.total_calls, stats.state_changes), (0, 0));
    let t = proceed(&mut e, 6 * MS);
    assert!(
        !e.rerouted(t).unwrap(),
        "closed again: the request is the policy's"
    );
}

#[test]
fn the_response_verdict_marks_or_replaces_an_answer_after_retries() {
    let mut e = engine();
    let t = proceed(&mut e, 0);
    let failed = outcome(OutcomeKind::Response, Some(503));
    assert_eq!(
        e.on_response_headers(MS, t, failed, 1).unwrap(),
        ResponseVerdict::Pass,
        "not retried"
    );
    let ResponseVerdict::Mark(h) = e.on_response_headers(MS, t, failed, 3).unwrap() else {
        panic!("marked")
    };
    assert_eq!(
        (h.name.as_str(), h.value.as_str()),
        ("x-breakwater", "retries_exhausted")
    );
    let reset = outcome(OutcomeKind::Reset, None);
    let ResponseVerdict::Replace(r) = e.on_response_headers(MS, t, reset, 3).unwrap() else {
        panic!("replaced")
    };
    assert_eq!((r.reason.as_str(), r.status), ("retries_exhausted", 503));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["max_attempts"], 3);
    let ResponseVerdict::Replace(r) = e.on_response_headers(MS, t, reset, 1).unwrap() else {
        panic!("replaced")
    };
    assert_eq!((r.reason.as_str(), r.status), ("network_error", 502));
}

#[test]
fn the_standalone_breaker_keeps_statistics_and_health_and_resets() {
    let mut g = Guest::new().expect("instantiates");
    let api = g
        .bindings
        .breakwater_resilience_circuit_breaker()
        .circuit_breaker();
    let s = &mut g.store;
    let b = api
        .call_constructor(
            &mut *s,
            r#"{"failure_threshold": 3, "recovery_timeout_ms": 1000}"#,
            Some(3),
        )
        .unwrap()
        .expect("valid");
    api.call_record_outcome(&mut *s, b, 0, false, false)
        .unwrap();
    for i in 1..4 {
        api.call_record_outcome(&mut *s, b, i * MS, true, false)
            .unwrap();
    }
    assert!(matches!(
        api.call_acquire(&mut *s, b, 5 * MS).unwrap(),
        Admission::Reject(_)
    ));
    let st = api.call_statistics(&mut *s, b).unwrap();
    assert_eq!(
        (
            st.total_calls,
            st.successful_calls,
            st.failed_calls,
            st.rejected_calls,
            st.state_changes
        ),
        (4, 1, 3, 1, 1)
    );
    let h = api.call_health(&mut *s, b).unwrap();
    assert!(!h.healthy && h.consecutive_failures == 3, "{h:?}");
    api.call_reset(&mut *s, b, 6 * MS).unwrap();
    assert_eq!(
        api.call_state(&mut *s, b, 6 * MS).unwrap(),
        BreakerState::Closed
    );
    assert_eq!(
        api.call_acquire(&mut *s, b, 6 * MS).unwrap(),
        Admission::Admit
    );
    let st = api.call_statistics(&mut *s, b).unwrap();
    assert_eq!(
        (st.total_calls, st.rejected_calls, st.state_changes),
        (0, 0, 0)
    );
    assert!(api.call_health(&mut *s, b).unwrap().healthy);
}
