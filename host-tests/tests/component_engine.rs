//! The `engine` resource through the generated bindings: construction (and its errors, with
//! their JSON paths), every method, and agreement with core on the same inputs.

use breakwater_core::Config;
use component_host::{
    Action, BreakerState, Decision, Guest, GuestEngine, Header, Method, Outcome, OutcomeKind,
    RejectReason, request,
};

const MS: u64 = 1_000_000;

const CONFIG: &str = r#"{
  "service": "checkout",
  "policies": [
    {"name": "payments", "match": {"cluster": "payments"},
     "breaker": {"failure_threshold": 2, "recovery_timeout_ms": 1000,
                 "half_open_max_calls": 1, "half_open_success_threshold": 1},
     "retry": {"max_retries": 1}},
    {"name": "db", "match": {"path_prefix": "/db"},
     "bulkhead": {"max_concurrent": 1, "queue_size": 1, "queue_timeout_ms": 100}}
  ]
}"#;

fn http(status: u16) -> Outcome {
    Outcome {
        kind: OutcomeKind::Response,
        http_status: Some(status),
        grpc_status: None,
    }
}

fn engine() -> GuestEngine {
    GuestEngine::new(CONFIG, 0, Some(1))
        .expect("no trap")
        .expect("no error")
}

fn to(cluster: &str) -> component_host::Request {
    let mut r = request("GET", "/pay");
    r.cluster = Some(cluster.to_owned());
    r
}

#[test]
fn bad_configuration_returns_every_problem_with_its_json_path() {
    let bad = r#"{"policies": [
        {"name": "a", "breaker": {"failure_treshold": 3}},
        {"name": "b", "breaker": {"failure_rate_threshold": 1.5}, "retry": {"max_retries": 12}}
    ]}"#;
    let mut guest = Guest::new().expect("instantiates");
    let err = guest
        .bindings
        .breakwater_resilience_engine()
        .engine()
        .call_constructor(&mut guest.store, bad, 0, None)
        .expect("no trap")
        .expect_err("a config error");
    let paths: Vec<&str> = err.problems.iter().map(|p| p.path.as_str()).collect();
    assert!(
        paths.contains(&"policies[0].breaker.failure_treshold"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"policies[1].breaker.failure_rate_threshold"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"policies[1].retry.max_retries"),
        "{paths:?}"
    );
    // Exactly core's problems, in core's order.
    let native = Config::from_json(bad).expect_err("core refuses it too");
    let native: Vec<(String, String)> = native
        .problems
        .into_iter()
        .map(|p| (p.path, p.reason))
        .collect();
    let wit: Vec<(String, String)> = err
        .problems
        .into_iter()
        .map(|p| (p.path, p.reason))
        .collect();
    assert_eq!(wit, native);
}

#[test]
fn invalid_json_and_empty_policies_are_errors_not_traps() {
    for (text, path, reason) in [
        ("{not json", "", "invalid JSON"),
        (r#"{"policies": []}"#, "policies", "at least one policy"),
        (
            r#"{"policies": [{"name": "a"}], "nope": 1}"#,
            "nope",
            "unknown field `nope`",
        ),
    ] {
        let err = GuestEngine::new(text, 0, None)
            .expect("no trap")
            .expect_err("a config error");
        let p = &err.problems[0];
        assert_eq!(p.path, path, "{text}: {err:?}");
        assert!(p.reason.contains(reason), "{text}: {err:?}");
    }
}

#[test]
fn unmatched_requests_pass_and_matched_ones_proceed_with_router_headers() {
    let mut e = engine();
    let d = e.on_request(0, &to("elsewhere")).expect("no trap");
    assert!(matches!(d, Decision::Pass), "{d:?}");
    let Decision::Proceed(p) = e.on_request(0, &to("payments")).expect("no trap") else {
        panic!("expected proceed");
    };
    let headers = e.headers(p.headers).to_vec();
    let retries = headers.iter().find(|h| h.name == "x-envoy-max-retries");
    assert_eq!(retries.map(|h| h.value.as_str()), Some("1"));
    assert_eq!(e.request_headers(p.ticket).expect("no trap"), headers);
    assert_eq!(e.tracked().expect("no trap"), 1);
    assert_eq!(
        e.on_response(MS, p.ticket, http(200), 1).expect("no trap"),
        0
    );
    assert_eq!(e.tracked().expect("no trap"), 0);
    // A finished ticket is ignored, not a trap.
    assert!(e.request_headers(p.ticket).expect("no trap").is_empty());
    e.on_response(MS, p.ticket, http(200), 1).expect("no trap");
}

#[test]
fn request_needs_name_what_the_configuration_reads() {
    let mut e = engine();
    let needs = e.request_needs().expect("no trap");
    // payments matches the cluster and grants retries (method, idempotency key); db matches a
    // path prefix; nothing matches a route.
    assert_eq!(
        (needs.method, needs.path, needs.cluster, needs.route),
        (true, true, true, false)
    );
    assert_eq!(needs.headers, ["content-type", "idempotency-key"]);
    // A request without the cluster it needs does not match.
    let mut no_cluster = to("payments");
    no_cluster.cluster = None;
    let d = e.on_request(0, &no_cluster).expect("no trap");
    assert!(matches!(d, Decision::Pass), "{d:?}");
}

#[test]
fn methods_cross_as_cases_and_extension_methods_as_text() {
    let mut e = engine();
    // What a request may be retried on: every condition, or (not idempotent, no key) only
    // those proving the upstream never processed it.
    let mut retry_on = |method: Method| {
        let mut r = to("payments");
        r.method = method;
        let Decision::Proceed(p) = e.on_request(0, &r).expect("no trap") else {
            panic!("expected proceed");
        };
        let headers = e.headers(p.headers).to_vec();
        e.on_response(0, p.ticket, http(200), 1).expect("no trap");
        assert_eq!(headers[0].name, "x-envoy-max-retries");
        assert_eq!(headers[0].value, "1");
        headers
            .iter()
            .find(|h| h.name == "x-envoy-retry-on")
            .map(|h| h.value.clone())
            .unwrap_or_default()
    };
    let every = "5xx,reset,connect-failure,refused-stream";
    let early = "connect-failure,refused-stream,reset-before-request";
    assert_eq!(retry_on(Method::Get), every);
    assert_eq!(retry_on(Method::Delete), every, "idempotent");
    assert_eq!(retry_on(Method::Post), early, "not idempotent, no key");
    assert_eq!(
        retry_on(Method::Other("GET".into())),
        every,
        "the same text"
    );
    assert_eq!(
        retry_on(Method::Other("get".into())),
        early,
        "methods are case-sensitive"
    );
}

#[test]
fn header_sets_are_fixed_numbered_lists_covering_every_proceed() {
    let mut e = engine();
    let sets = e.header_sets().to_vec();
    // payments: retries 0..=1, gRPC and not, every condition or before processing only (8
    // lists); db: no retry section, no timeout (1).
    assert_eq!(sets.len(), 9);
    assert!(sets[8].is_empty(), "db adds nothing: {sets:?}");
    assert_eq!(
        e.fetch_header_sets().expect("no trap"),
        sets,
        "the same lists on every call"
    );
    let mut grpc = to("payments");
    grpc.headers.push(Header {
        name: "content-type".into(),
        value: "application/grpc".into(),
    });
    let mut named = Vec::new();
    for req in [to("payments"), grpc, request("GET", "/db/q")] {
        let Decision::Proceed(p) = e.on_request(0, &req).expect("no trap") else {
            panic!("expected proceed");
        };
        let by_ticket = e.request_headers(p.ticket).expect("no trap");
        assert_eq!(e.headers(p.headers), by_ticket, "{req:?}");
        named.push(p.headers);
    }
    assert_eq!(named.len(), 3);
    assert!(
        named[0] != named[1],
        "gRPC adds x-envoy-retry-grpc-on: {named:?}"
    );
    assert_eq!(named[2], 8);
}

#[test]
fn breaker_opens_rejects_with_a_reply_and_reports_transitions() {
    let mut e = engine();
    for i in 0..2 {
        let Decision::Proceed(p) = e.on_request(i * MS, &to("payments")).expect("no trap") else {
            panic!("expected proceed");
        };
        e.on_response(i * MS, p.ticket, http(503), 1)
            .expect("no trap");
    }
    let event = e.poll_event().expect("no trap").expect("a transition");
    assert_eq!(event.policy, "payments");
    assert_eq!(
        (event.from, event.to),
        (BreakerState::Closed, BreakerState::Open)
    );
    assert_eq!(event.reason, "consecutive_failures");
    assert!(e.poll_event().expect("no trap").is_none());

    let Decision::Reject(reply) = e.on_request(2 * MS, &to("payments")).expect("no trap") else {
        panic!("expected reject");
    };
    assert_eq!(reply.reason, RejectReason::CircuitOpen);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.retry_after, Some(1));
    assert!(reply.headers.contains(&Header {
        name: "x-breakwater".into(),
        value: "circuit_open".into()
    }));
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON body");
    assert_eq!(body["policy"], "payments");
    assert_eq!(body["service"], "checkout");

    let status = e.status(2 * MS).expect("no trap");
    assert!(!status.healthy);
    assert_eq!(status.policies[0].state, Some(BreakerState::Open));
    assert_eq!(status.policies[0].rejected_open, 1);
    assert_eq!(status.policies[1].state, None);
    assert_eq!(status.policies[1].max_concurrent, Some(1));
    let json: serde_json::Value =
        serde_json::from_str(&e.status_json(2 * MS).expect("no trap")).expect("status JSON");
    assert_eq!(json["healthy"], false);
    assert_eq!(json["policies"][0]["state"], "open");
}

#[test]
fn grpc_requests_get_trailers_only_replies() {
    let mut e = engine();
    for _ in 0..2 {
        let Decision::Proceed(p) = e.on_request(0, &to("payments")).expect("no trap") else {
            panic!("expected proceed");
        };
        e.on_response(0, p.ticket, http(500), 1).expect("no trap");
    }
    let mut req = to("payments");
    req.headers.push(Header {
        name: "content-type".into(),
        value: "application/grpc".into(),
    });
    let Decision::Reject(reply) = e.on_request(MS, &req).expect("no trap") else {
        panic!("expected reject");
    };
    assert_eq!((reply.status, reply.grpc_status), (200, Some(14)));
    assert!(
        reply
            .grpc_message
            .expect("message")
            .contains("circuit breaker is open")
    );
    assert!(reply.body.is_empty());
}

#[test]
fn queued_requests_resume_or_time_out_through_timeouts_and_actions() {
    let mut e = engine();
    let db = request("GET", "/db/q");
    let Decision::Proceed(first) = e.on_request(0, &db).expect("no trap") else {
        panic!("expected proceed");
    };
    let Decision::Queue(waiter) = e.on_request(0, &db).expect("no trap") else {
        panic!("expected queue");
    };
    assert_eq!(waiter.until, 100 * MS);
    assert!(e.poll_timeout().expect("no trap") <= 100 * MS);
    // The returned permit resumes the waiter: on-response says one action waits.
    assert_eq!(
        e.on_response(10 * MS, first.ticket, http(200), 1)
            .expect("no trap"),
        1
    );
    match e.poll_action().expect("no trap") {
        Some(Action::Resume(p)) => {
            assert_eq!(p.ticket, waiter.ticket);
            assert!(e.headers(p.headers).is_empty(), "db adds no headers");
        }
        other => panic!("expected resume, got {other:?}"),
    }
    // Now the resumed one holds the permit; the next waits and times out.
    let Decision::Queue(late) = e.on_request(20 * MS, &db).expect("no trap") else {
        panic!("expected queue");
    };
    e.handle_timeout(late.until).expect("no trap");
    match e.poll_action().expect("no trap") {
        Some(Action::Reply(r)) => {
            assert_eq!(r.ticket, late.ticket);
            assert_eq!(r.reply.reason, RejectReason::QueueTimeout);
            assert_eq!(r.reply.status, 429);
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    // Cancelling the permit holder frees the bulkhead for the next request (no one waits).
    assert_eq!(e.cancel(late.until, waiter.ticket).expect("no trap"), 0);
    let d = e.on_request(late.until, &db).expect("no trap");
    assert!(matches!(d, Decision::Proceed(_)), "{d:?}");
}

#[test]
fn an_unseeded_engine_draws_from_wasi_random() {
    let mut e = GuestEngine::new(CONFIG, 0, None)
        .expect("no trap")
        .expect("no error");
    let d = e.on_request(0, &to("payments")).expect("no trap");
    assert!(matches!(d, Decision::Proceed(_)), "{d:?}");
}

#[test]
fn instances_are_isolated() {
    let mut a = engine();
    let mut b = engine();
    for _ in 0..2 {
        let Decision::Proceed(p) = a.on_request(0, &to("payments")).expect("no trap") else {
            panic!("expected proceed");
        };
        a.on_response(0, p.ticket, http(503), 1).expect("no trap");
    }
    assert!(matches!(
        a.on_request(0, &to("payments")).expect("no trap"),
        Decision::Reject(_)
    ));
    assert!(matches!(
        b.on_request(0, &to("payments")).expect("no trap"),
        Decision::Proceed(_)
    ));
}
