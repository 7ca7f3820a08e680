//! Router retry headers, the retry budget, and failure injection through the engine.

use super::*;
use crate::breaker::State;
use crate::outcome::Outcome;

const RETRY: &str = r#"{"policies":[{"name":"api","timeout_ms":2000,
    "breaker":{"failure_threshold":2,"recovery_timeout_ms":1000,"recovery_jitter":0,"half_open_max_calls":1,"half_open_success_threshold":1},
    "retry":{"max_retries":3,"per_try_timeout_ms":500,"budget":{"budget_percent":20,"min_retry_concurrency":3,"window_ms":10000}}}]}"#;

fn header<'a>(e: &'a TestEngine, t: Ticket, name: &str) -> Option<&'a str> {
    e.request_headers(t)
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn router_headers_carry_retries_and_timeouts() {
    let mut e = one(RETRY);
    let t = proceed(&mut e, ms(0));
    assert_eq!(header(&e, t, "x-envoy-max-retries"), Some("3"));
    assert_eq!(
        header(&e, t, "x-envoy-retry-on"),
        Some("5xx,reset,connect-failure,refused-stream")
    );
    assert_eq!(
        header(&e, t, "x-envoy-retry-grpc-on"),
        None,
        "gRPC conditions go on gRPC requests only"
    );
    assert_eq!(
        header(&e, t, "x-envoy-upstream-rq-timeout-ms"),
        Some("2000")
    );
    assert_eq!(
        header(&e, t, "x-envoy-upstream-rq-per-try-timeout-ms"),
        Some("500")
    );
    e.on_response(ms(1), t, &Outcome::http(200), 1);
    let grpc = [
        ("content-type", "application/grpc+proto"),
        ("idempotency-key", "k1"),
    ];
    let call = RequestInfo {
        headers: &grpc,
        ..RequestInfo::new("POST", "/pkg.Svc/Call")
    };
    let Decision::Proceed { ticket: g } = e.on_request(ms(1), &call) else {
        panic!("the gRPC call should proceed");
    };
    assert_eq!(
        header(&e, g, "x-envoy-retry-grpc-on"),
        Some("unavailable,cancelled")
    );
}

#[test]
fn a_post_without_a_key_is_retried_only_where_the_upstream_never_saw_it() {
    let mut e = one(RETRY);
    let Decision::Proceed { ticket } = e.on_request(ms(0), &RequestInfo::new("POST", "/")) else {
        panic!()
    };
    assert_eq!(header(&e, ticket, "x-envoy-max-retries"), Some("3"));
    assert_eq!(
        header(&e, ticket, "x-envoy-retry-on"),
        Some("connect-failure,refused-stream,reset-before-request")
    );
    e.on_response(ms(0), ticket, &Outcome::http(200), 1);
    let keyed = [("idempotency-key", "k1")];
    let req = RequestInfo {
        headers: &keyed,
        ..RequestInfo::new("POST", "/")
    };
    let Decision::Proceed { ticket } = e.on_request(ms(0), &req) else {
        panic!()
    };
    assert_eq!(header(&e, ticket, "x-envoy-max-retries"), Some("3"));
    assert_eq!(
        header(&e, ticket, "x-envoy-retry-on"),
        Some("5xx,reset,connect-failure,refused-stream")
    );
}

#[test]
fn the_grpc_preset_retries_a_grpc_call_on_unavailable() {
    // Every gRPC call is a POST: the preset's 3 retries must still apply to UNAVAILABLE.
    let mut e = one(r#"{"policies":[{"name":"api","preset":"grpc"}]}"#);
    let grpc = [("content-type", "application/grpc")];
    let call = RequestInfo {
        headers: &grpc,
        ..RequestInfo::new("POST", "/pkg.Svc/Call")
    };
    let Decision::Proceed { ticket } = e.on_request(ms(0), &call) else {
        panic!("proceeds")
    };
    assert_eq!(header(&e, ticket, "x-envoy-max-retries"), Some("3"));
    assert_eq!(
        header(&e, ticket, "x-envoy-retry-grpc-on"),
        Some("unavailable")
    );
    assert_eq!(
        header(&e, ticket, "x-envoy-upstream-rq-timeout-ms"),
        Some("30000"),
        "the preset's request timeout (source 002)"
    );
}

#[test]
fn concurrent_requests_share_the_budget_instead_of_each_taking_it_whole() {
    // Floor 3, max_retries 3, nothing seen yet: before this fix three concurrent requests
    // were each granted 3 (9 in all).
    let mut e = one(RETRY);
    let tickets: Vec<Ticket> = (0..3).map(|_| proceed(&mut e, ms(0))).collect();
    let granted: Vec<&str> = tickets
        .iter()
        .map(|t| header(&e, *t, "x-envoy-max-retries").unwrap())
        .collect();
    assert_eq!(granted, ["3", "0", "0"]);
    // The first made one retry: two of its three come back.
    e.on_response(ms(1), tickets[0], &Outcome::http(200), 2);
    let t = proceed(&mut e, ms(1));
    assert_eq!(header(&e, t, "x-envoy-max-retries"), Some("2"));
    // A request that ends without reaching the upstream returns its whole grant.
    e.cancel(ms(2), t);
    let t = proceed(&mut e, ms(2));
    assert_eq!(header(&e, t, "x-envoy-max-retries"), Some("2"));
}

#[test]
fn the_budget_limits_retries_once_spent() {
    let mut e = one(RETRY);
    // 2 requests made 3 retries each: far over 20% of 2 and over the floor of 3.
    for _ in 0..2 {
        let t = proceed(&mut e, ms(0));
        e.on_response(ms(1), t, &Outcome::http(200), 4);
    }
    let t = proceed(&mut e, ms(2));
    assert_eq!(header(&e, t, "x-envoy-max-retries"), Some("0"));
    assert_eq!(e.stats(0).unwrap().retries_made, 6);
    // The window passes: retries are allowed again.
    let t = proceed(&mut e, ms(20_000));
    assert_eq!(header(&e, t, "x-envoy-max-retries"), Some("3"));
}

#[test]
fn no_retries_while_half_open() {
    let mut e = one(RETRY);
    call(&mut e, ms(0), 503);
    call(&mut e, ms(0), 503);
    assert_eq!(e.breaker_state(0), Some(State::Open));
    let probe = proceed(&mut e, ms(1_000));
    assert_eq!(e.breaker_state(0), Some(State::HalfOpen));
    assert_eq!(header(&e, probe, "x-envoy-max-retries"), Some("0"));
}

const INJECT: &str = r#"{"environment":"testing","policies":[{"name":"api",
    "breaker":{"failure_threshold":2},
    "injection":{"enabled":true,"abort_http_status":418,"abort_grpc_status":13}}]}"#;

fn forced() -> [(&'static str, &'static str); 1] {
    [("x-failure-inject", "true")]
}

#[test]
fn the_header_forces_an_abort_only_when_injection_is_enabled() {
    let mut e = one(INJECT);
    let h = forced();
    let req = RequestInfo {
        headers: &h,
        ..RequestInfo::new("GET", "/")
    };
    let Decision::Reject { reply } = e.on_request(ms(0), &req) else {
        panic!()
    };
    assert_eq!(
        (reply.http_status, reply.header("x-breakwater")),
        (418, Some("injected_fault"))
    );
    assert_eq!(e.stats(0).unwrap().injected_aborts, 1);
    // Injected aborts do not trip the breaker by default.
    for _ in 0..5 {
        let _ = e.on_request(ms(1), &req);
    }
    assert_eq!(e.breaker_state(0), Some(State::Closed));

    let mut off = one(&INJECT.replace(r#""enabled":true"#, r#""enabled":false"#));
    assert!(matches!(
        off.on_request(ms(0), &req),
        Decision::Proceed { .. }
    ));
    // In production the header is ignored unless the policy turns it on.
    let mut prod = one(&INJECT.replace("testing", "production"));
    assert!(matches!(
        prod.on_request(ms(0), &req),
        Decision::Proceed { .. }
    ));
}

#[test]
fn counted_injections_trip_the_breaker() {
    let mut e = one(&INJECT
        .replace(
            r#""enabled":true"#,
            r#""enabled":true,"abort_http_status":503,"count_injected":true"#,
        )
        .replace(r#","abort_http_status":418"#, ""));
    let h = forced();
    let req = RequestInfo {
        headers: &h,
        ..RequestInfo::new("GET", "/")
    };
    let _ = e.on_request(ms(0), &req);
    let _ = e.on_request(ms(1), &req);
    assert_eq!(e.breaker_state(0), Some(State::Open));
}

#[test]
fn an_injected_delay_holds_then_resumes() {
    let mut e = one(
        r#"{"policies":[{"name":"api","injection":{"enabled":true,"delay_rate":1.0,"delay_ms":250}}]}"#,
    );
    let Decision::Delay { ticket, until } = get(&mut e, ms(10)) else {
        panic!()
    };
    assert_eq!(until, ms(260));
    e.handle_timeout(ms(100)); // the sync tick, not the delay
    assert!(actions(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), ms(200));
    e.handle_timeout(ms(260));
    assert!(matches!(actions(&mut e).as_slice(), [Action::Resume { ticket: t }] if *t == ticket));
    e.on_response(ms(300), ticket, &Outcome::http(200), 1);
    assert_eq!(e.tracked(), 0);
    assert_eq!(e.stats(0).unwrap().injected_delays, 1);
}

#[test]
fn an_abort_rate_lands_within_statistical_bounds() {
    let mut e =
        one(r#"{"policies":[{"name":"api","injection":{"enabled":true,"abort_rate":0.5}}]}"#);
    let mut aborts = 0;
    for i in 0..2_000 {
        match get(&mut e, ms(i)) {
            Decision::Reject { .. } => aborts += 1,
            Decision::Proceed { ticket } => e.on_response(ms(i), ticket, &Outcome::http(200), 1),
            other => panic!("{other:?}"),
        }
    }
    // Binomial(2000, 0.5): sd ~ 22; ±150 is ~6.7 sd.
    assert!((850..=1150).contains(&aborts), "aborts = {aborts}");
}

#[test]
fn a_delayed_request_s_real_outcome_reaches_the_breaker() {
    // Every request is delayed; count_injected is off (the default). The upstream fails them
    // all after their delays: the breaker must still open at its threshold.
    let mut e = one(
        r#"{"policies":[{"name":"api","breaker":{"failure_threshold":3},
            "injection":{"enabled":true,"delay_rate":1.0,"delay_ms":10}}]}"#,
    );
    for i in 0..3u64 {
        let t = ms(i * 100);
        let Decision::Delay { ticket, until } = get(&mut e, t) else {
            panic!("delayed")
        };
        e.handle_timeout(until);
        assert!(matches!(
            actions(&mut e).as_slice(),
            [Action::Resume { .. }]
        ));
        e.on_response(until + ms(1), ticket, &Outcome::http(503), 1);
    }
    assert_eq!(e.breaker_state(0), Some(State::Open));
    assert_eq!(e.stats(0).unwrap().failures, 3);
    assert_eq!(
        rejected(&mut e, ms(400)).header("x-breakwater"),
        Some("circuit_open")
    );
}

#[test]
fn status_lists_and_retryable_treatments_reach_the_router() {
    let listed = r#"{"policies":[{"name":"api","retry":{"retry_on":"connect-failure",
        "retriable_status_codes":[429]}}]}"#;
    let treated = r#"{"policies":[{"name":"api","retry":{},
        "outcomes":{"http":{"429":"retryable","503":"failure_no_retry"}}}]}"#;
    let mut e = one(listed);
    let t = proceed(&mut e, ms(0));
    assert_eq!(
        header(&e, t, "x-envoy-retry-on"),
        Some("connect-failure,retriable-status-codes")
    );
    assert_eq!(header(&e, t, "x-envoy-retriable-status-codes"), Some("429"));

    let mut e = one(treated);
    let t = proceed(&mut e, ms(0));
    let on = header(&e, t, "x-envoy-retry-on").unwrap();
    assert!(!on.split(',').any(|c| c == "5xx"), "{on}");
    let codes = header(&e, t, "x-envoy-retriable-status-codes").unwrap();
    let codes: Vec<&str> = codes.split(',').collect();
    assert!(codes.contains(&"429") && codes.contains(&"500") && !codes.contains(&"503"));
}
