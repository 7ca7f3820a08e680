//! breakwater as an Envoy dynamic module (`libbreakwater.so`) in the real Envoy 1.40 binary:
//! the public contract, the same as the proxy-wasm filter's. The breaker opens and answers HTTP
//! and gRPC callers with breakwater's local replies; retry headers reach the router; failure
//! injection aborts and delays; the status endpoint answers; metrics carry real labels; a bad
//! configuration is refused with every problem and its JSON path. (What both adapters must do
//! alike also runs on the module from `envoy_breaker`, `envoy_patterns` and `envoy_seeds`; the
//! tests here are the module's own: its labels, its shared budget, its access-log details.)
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

mod e2e;
mod module_kit;

use envoy_kit::client::{GrpcRequest, HttpRequest, send_all};
use envoy_kit::poll::wait_until;
use module_kit::{WAIT, breakwater, builder, start, start_with};

#[test]
fn the_breaker_opens_and_answers_http_and_grpc_with_the_contract_replies() {
    let stack = start("breaker");
    stack.upstream.always(503);
    for i in 0..5 {
        let rsp = stack.get("/pay");
        assert_eq!((rsp.status, breakwater(&rsp)), (503, None), "failure {i}");
    }
    // One engine for every worker: the very next request is rejected, whichever worker.
    let seen = stack.upstream.total();
    for _ in 0..6 {
        let rsp = stack.get("/pay");
        assert_eq!(rsp.status, 503);
        assert_eq!(breakwater(&rsp), Some("circuit_open"));
        assert!(
            matches!(rsp.header("retry-after"), Some("1" | "2")),
            "{:?}",
            rsp.headers
        );
        assert_eq!(rsp.header("content-type"), Some("application/json"));
        let body = rsp.text();
        for field in [
            r#""error":"circuit_open""#,
            r#""service":"e2e""#,
            r#""policy":"api""#,
            r#""message":"circuit breaker is open""#,
        ] {
            assert!(body.contains(field), "{body}");
        }
    }
    assert_eq!(
        stack.upstream.total(),
        seen,
        "the upstream saw rejected requests"
    );

    // A gRPC caller gets a trailers-only UNAVAILABLE with a message, not a JSON body.
    let rsp = GrpcRequest::new("/pay.Charge/Do")
        .send(stack.addr)
        .expect("grpc answer");
    assert_eq!(
        (rsp.http_status, rsp.grpc_status),
        (200, Some(14)),
        "{rsp:?}"
    );
    assert!(rsp.trailers_only, "{rsp:?}");
    let count = |name: &str| rsp.headers.iter().filter(|(k, _)| k == name).count();
    assert_eq!(
        (count("grpc-status"), count("content-type")),
        (1, 1),
        "{rsp:?}"
    );
    assert_eq!(rsp.header("x-breakwater"), Some("circuit_open"));
    let message = rsp.grpc_message.clone().unwrap_or_default();
    assert!(message.contains("circuit breaker is open"), "{message:?}");
    assert!(message.contains("policy api"), "{message:?}");

    // Envoy's access log sees the reason as the response code details.
    assert!(wait_until(WAIT, || stack.rejections("api", "circuit_open") >= 7));
    assert!(
        wait_until(WAIT, || stack
            .envoy
            .log_text()
            .contains("details=breakwater_circuit_open")),
        "no details in the access log"
    );
    assert!(
        stack.envoy.log_text().contains("from=closed to=open"),
        "no transition logged"
    );
}

#[test]
fn retry_headers_reach_the_router_and_the_budget_is_shared_by_both_workers() {
    let stack = start("retry");
    stack.upstream.alternate(503, 200);
    let rsp = stack.get("/pay");
    assert_eq!(rsp.status, 200, "the router did not retry the 503");
    assert_eq!(stack.upstream.total(), 2);
    // The floor of 3 retries per window, for the whole process (2 workers): 1 spent above; an
    // always-failing upstream spends the other 2 on one request, then requests go out once,
    // whichever worker serves them.
    stack.upstream.always(503);
    let mut attempts = Vec::new();
    for _ in 0..6 {
        let before = stack.upstream.total();
        assert_eq!(stack.get("/pay").status, 503);
        attempts.push(stack.upstream.total() - before);
    }
    assert_eq!(
        attempts,
        vec![3, 1, 1, 1, 1, 1],
        "upstream attempts per request"
    );
    let seen = stack.upstream.last_request().expect("seen");
    assert_eq!(
        seen.header("x-envoy-max-retries"),
        None,
        "router headers leak upstream"
    );
    assert!(wait_until(WAIT, || stack.stat("api", "retries_made_total") == 3));
}

#[test]
fn injection_aborts_and_delays_without_blocking_the_worker() {
    let stack = start("injection");
    let plain = HttpRequest::get("/plain")
        .header("x-failure-inject", "true")
        .send(stack.addr)
        .expect("answer");
    assert_eq!((plain.status, breakwater(&plain)), (200, None));
    for _ in 0..5 {
        let rsp = HttpRequest::get("/api")
            .header("x-failure-inject", "true")
            .send(stack.addr)
            .expect("answer");
        assert_eq!(
            (rsp.status, breakwater(&rsp)),
            (503, Some("injected_fault"))
        );
    }
    assert_eq!(
        stack.get("/api").status,
        200,
        "injected 503s tripped the breaker"
    );

    let both = send_all(
        stack.addr,
        vec![HttpRequest::get("/delayed"), HttpRequest::get("/plain")],
    );
    let delayed = both[0].as_ref().expect("delayed answer");
    let plain = both[1].as_ref().expect("plain answer");
    assert_eq!((delayed.status, plain.status), (200, 200));
    assert!(
        delayed.elapsed.as_millis() >= 400,
        "delay {:?}",
        delayed.elapsed
    );
    assert!(
        plain.elapsed < delayed.elapsed,
        "the delay blocked the worker"
    );
    assert!(wait_until(WAIT, || stack
        .stat("delayed", "injected_delays_total")
        == 1
        && stack.rejections("api", "injected_fault") == 5));
}

#[test]
fn status_endpoint_and_labelled_metrics() {
    let config = r#"{"service": "e2e", "status_path": "/breakwater/status",
        "policies": [{"name": "api", "breaker": {"failure_threshold": 2, "recovery_jitter": 0}}]}"#;
    let stack = start_with(config, 2);
    for _ in 0..3 {
        assert_eq!(stack.get("/pay").status, 200);
    }
    let status = stack.get("/breakwater/status");
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.header("content-type"), Some("application/json"));
    assert!(status.text().contains(r#""api""#), "{}", status.text());
    assert_eq!(stack.upstream.path_count("/breakwater/status"), 0);

    stack.upstream.always(500);
    for _ in 0..2 {
        assert_eq!(stack.get("/pay").status, 500);
    }
    assert_eq!(breakwater(&stack.get("/pay")), Some("circuit_open"));
    assert_eq!(
        stack.get("/breakwater/status").status,
        503,
        "an open breaker is unhealthy"
    );

    // Real labels: policy on every metric, reason on the rejections.
    let found = wait_until(WAIT, || {
        stack.envoy.prometheus_samples().is_ok_and(|samples| {
            let has = |name: &str, labels: &[(&str, &str)], at_least: f64| {
                samples.iter().any(|s| {
                    s.name == name
                        && labels.iter().all(|(k, v)| s.label(k) == Some(v))
                        && s.value >= at_least
                })
            };
            has("envoy_breakwater_requests_total", &[("policy", "api")], 6.0)
                && has(
                    "envoy_breakwater_rejections_total",
                    &[("policy", "api"), ("reason", "circuit_open")],
                    1.0,
                )
                && has("envoy_breakwater_breaker_state", &[("policy", "api")], 1.0)
        })
    });
    let text = stack.envoy.stats_prometheus().unwrap_or_default();
    let ours: Vec<_> = text.lines().filter(|l| l.contains("breakwater")).collect();
    assert!(found, "labelled metrics missing:\n{}", ours.join("\n"));
    assert_eq!(stack.engine_stat("module_hook_failures_total"), 0);
}

#[test]
fn a_bad_configuration_is_refused_with_every_problem_and_its_path() {
    let bad = r#"{"policies": [{"name": "api", "breaker": {"failure_treshold": 3}},
        {"name": "db", "bulkhead": {"max_concurrent": 0}}]}"#;
    let err = builder(bad, 1)
        .validate()
        .expect_err("envoy accepted a bad configuration");
    assert!(
        err.contains("policies[0].breaker.failure_treshold: unknown field `failure_treshold`"),
        "{err}"
    );
    assert!(err.contains("policies[1].bulkhead.max_concurrent"), "{err}");
    // Every scenario the filter's tests use is valid for the module too.
    let dir = envoy_kit::envoy::config_dir();
    for entry in std::fs::read_dir(dir.join("scenarios")).expect("scenarios") {
        let path = entry.expect("entry").path();
        let json = std::fs::read_to_string(&path).expect("read");
        assert_eq!(builder(&json, 1).validate(), Ok(()), "{}", path.display());
    }
}
