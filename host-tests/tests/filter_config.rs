//! The real filter's configuration handling, status endpoint, metrics and robustness against
//! malformed input.

mod filter;

use filter::{BREAKER, fail, filter_metric, metric, rejections, start};
use proxywasm_host::HostError;

fn rejected_log(config: &str) -> String {
    match start(1, config) {
        Err(HostError::ConfigRejected { logs, .. }) => logs,
        Err(other) => panic!("expected a refused configuration, got {other}"),
        Ok(_) => panic!("configuration accepted: {config}"),
    }
}

#[test]
fn bad_configurations_are_refused_with_every_path_in_the_log() {
    let log = rejected_log(
        r#"{ "policies": [
            { "name": "a", "breaker": { "failure_treshold": 3 } },
            { "name": "b", "breaker": { "failure_rate_threshold": 1.5 } }
        ] }"#,
    );
    assert!(
        log.contains("policies[0].breaker.failure_treshold: unknown field `failure_treshold`"),
        "{log}"
    );
    assert!(
        log.contains("policies[1].breaker.failure_rate_threshold: must be in (0, 1], got 1.5"),
        "{log}"
    );
    assert!(log.contains("breakwater: invalid configuration"), "{log}");
}

#[test]
fn empty_garbage_and_structurally_wrong_configurations_are_refused() {
    assert!(rejected_log("").contains("no plugin configuration"));
    assert!(rejected_log("{not json").contains("invalid configuration"));
    assert!(rejected_log(r#"{"policies": {}}"#).contains("policies"));
    assert!(rejected_log(r#"{"policies": [{"name": "a b"}]}"#).contains("policies[0].name"));
    assert!(rejected_log(r#"{"policies": [], "colour": 1}"#).contains("colour"));
}

#[test]
fn requests_no_policy_matches_pass_untouched() -> Result<(), HostError> {
    let config = r#"{ "policies": [{ "name": "api", "match": { "path_prefix": "/api/" },
        "retry": {} }] }"#;
    let envoy = start(1, config)?;
    let other = envoy.worker(0).get("/static/x").send()?;
    other.expect_continued();
    assert!(other.stream().added_request_headers().is_empty());
    other.upstream(503)?.expect_finished();
    let api = envoy.worker(0).get("/api/x").send()?;
    api.expect_request_header("x-envoy-max-retries", "2");
    Ok(())
}

#[test]
fn policies_match_on_cluster_route_method_and_header() -> Result<(), HostError> {
    let config = r#"{ "policies": [
        { "name": "by_cluster", "match": { "cluster": "payments" }, "retry": { "max_retries": 1 } },
        { "name": "by_route", "match": { "route": "r2" }, "retry": { "max_retries": 2 } },
        { "name": "by_header", "match": { "methods": ["GET"], "headers": { "x-tier": "gold" } },
          "retry": { "max_retries": 3 } }
    ] }"#;
    let envoy = start(1, config)?;
    let w = envoy.worker(0);
    w.get("/")
        .cluster("payments")
        .send()?
        .expect_request_header("x-envoy-max-retries", "1");
    w.get("/")
        .property("xds.route_name", "r2")
        .send()?
        .expect_request_header("x-envoy-max-retries", "2");
    w.get("/")
        .header("x-tier", "gold")
        .send()?
        .expect_request_header("x-envoy-max-retries", "3");
    let none = w.post("/").header("x-tier", "gold").send()?;
    assert!(none.stream().added_request_headers().is_empty());
    Ok(())
}

#[test]
fn the_status_endpoint_reports_every_policy_and_turns_503_when_open() -> Result<(), HostError> {
    let config = BREAKER.replace(
        r#""service": "checkout","#,
        r#""service": "checkout", "status_path": "/breakwater/status","#,
    );
    let envoy = start(1, &config)?;
    let ok = envoy.worker(0).get("/breakwater/status").send()?;
    ok.expect_local_reply(200)
        .header("content-type", "application/json")
        .body_contains(r#""healthy":true"#)
        .body_contains(r#""name":"api""#)
        .body_contains(r#""state":"closed""#);
    fail(&envoy, 0, 5)?;
    let open = envoy.worker(0).get("/breakwater/status?x=1").send()?;
    open.expect_local_reply(503)
        .body_contains(r#""healthy":false"#)
        .body_contains(r#""state":"open""#)
        .body_contains(r#""retry_after":30"#);
    // Off unless configured: the same path is an ordinary request otherwise.
    let envoy = start(1, BREAKER)?;
    envoy
        .worker(0)
        .get("/breakwater/status")
        .send()?
        .expect_continued();
    Ok(())
}

#[test]
fn metrics_of_the_contract_are_defined_and_summed_over_workers() -> Result<(), HostError> {
    let envoy = start(2, BREAKER)?;
    fail(&envoy, 0, 2)?;
    fail(&envoy, 1, 1)?;
    envoy.advance_millis(100)?;
    assert_eq!(metric(&envoy, "api", "requests_total"), Some(3));
    assert_eq!(metric(&envoy, "api", "failures_total"), Some(3));
    assert_eq!(metric(&envoy, "api", "breaker_state"), Some(0));
    assert_eq!(metric(&envoy, "api", "responses_total"), Some(3));
    for name in [
        "cancelled_total",
        "retries_granted_total",
        "retries_made_total",
        "injected_delays_total",
        "shadow_rejections_total",
        "breaker_opened_total",
    ] {
        assert_eq!(metric(&envoy, "api", name), Some(0), "{name}");
    }
    for reason in [
        "circuit_open",
        "bulkhead_full",
        "queue_timeout",
        "injected_fault",
    ] {
        assert_eq!(rejections(&envoy, "api", reason), Some(0), "{reason}");
    }
    // Gauges only for the parts the policy has: a breaker, no bulkhead.
    for name in [
        "bulkhead_inflight",
        "bulkhead_queued",
        "bulkhead_max_concurrent",
    ] {
        assert_eq!(metric(&envoy, "api", name), None, "{name}");
    }
    // Every answered request is one sample of the duration histogram; no queue, no wait.
    let durations = envoy
        .world()
        .histogram("envoy.breakwater.request_duration_milliseconds.policy.api");
    assert_eq!(durations.map(|d| d.len()), Some(3));
    assert_eq!(
        envoy
            .world()
            .histogram("envoy.breakwater.queue_wait_milliseconds.policy.api"),
        None
    );
    assert_eq!(filter_metric(&envoy, "cas_give_ups_total"), Some(0));
    assert!(filter_metric(&envoy, "shared_data_calls_total").unwrap_or(0) > 0);
    Ok(())
}

#[test]
fn malformed_grpc_statuses_never_trap_and_count_as_unknown() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    for grpc in ["x", "-1", "99999999999999999999", "14 14", ""] {
        let req = envoy.worker(0).get("/svc/M").grpc().send()?;
        req.expect_continued().upstream_with(
            200,
            &[("retry-after", "999999999999999999999")],
            b"",
            &[("grpc-status", grpc)],
        )?;
    }
    // Unparseable statuses are UNKNOWN, a failure by default: five of them opened the breaker.
    let req = envoy.worker(0).get("/svc/M").grpc().send()?;
    req.expect_local_reply(200).grpc_status(14);
    Ok(())
}

#[test]
fn malformed_http_statuses_never_trap_and_count_as_bad_gateway() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    for status in ["abc", "999", "", "5xx", "20"] {
        let req = envoy.worker(0).get("/x").send()?;
        req.expect_continued();
        let _ = envoy
            .worker(0)
            .with(|w| w.response_headers(req.id(), &[(":status", status)], true))?;
        req.expect_finished();
    }
    let req = envoy.worker(0).get("/x").send()?;
    req.expect_local_reply(503);
    Ok(())
}

#[test]
fn odd_request_headers_never_trap() -> Result<(), HostError> {
    let config = r#"{ "policies": [{ "name": "api", "retry": {},
        "injection": { "enabled": true, "header_trigger": true } }] }"#;
    let envoy = start(1, config)?;
    for (k, v) in [
        ("x-failure-inject", "TRUE"),
        ("x-failure-inject", "yes"),
        ("content-type", "application/grpc+proto"),
        ("idempotency-key", ""),
        (":method", ""),
        (":path", ""),
    ] {
        let req = envoy.worker(0).get("/").header(k, v).send()?;
        if req.stream().local_reply().is_none() {
            req.upstream(200)?;
        }
    }
    Ok(())
}

#[test]
fn shared_data_keys_come_from_the_configuration_only() -> Result<(), HostError> {
    let config = r#"{ "service": "shop", "policies": [
        { "name": "api", "match": { "path_prefix": "/api" }, "breaker": {},
          "bulkhead": { "max_concurrent": 8 } },
        { "name": "rest", "breaker": {} } ] }"#;
    let envoy = start(2, config)?;
    let expected = [
        "breakwater/shop/api/breaker",
        "breakwater/shop/api/bulkhead",
        "breakwater/shop/rest/breaker",
    ];
    assert_eq!(envoy.world().shared_keys(), expected);
    // Whatever clients send (paths, methods, headers, clusters) adds no key.
    for i in 0..50 {
        let path = format!("/api/{i}?x={i}");
        let req = envoy
            .worker(i % 2)
            .request(if i % 3 == 0 { "POST" } else { "GET" }, &path)
            .header("x-tenant", &i.to_string())
            .header("x-failure-inject", "true")
            .cluster(&format!("c{i}"))
            .send()?;
        if req.stream().local_reply().is_none() {
            req.upstream(if i % 4 == 0 { 503 } else { 200 })?;
        }
    }
    envoy.advance_secs(1)?;
    assert_eq!(envoy.world().shared_keys(), expected);
    Ok(())
}

#[test]
fn settings_the_router_cannot_honour_are_logged_once_as_warnings() -> Result<(), HostError> {
    use proxywasm_host::LogLevel;
    let config = r#"{ "policies": [{ "name": "api", "retry": { "backoff": "adaptive" },
        "outcomes": { "grpc": { "UNKNOWN": "retryable" } } }] }"#;
    let envoy = start(1, config)?;
    let warnings: Vec<String> = envoy
        .worker(0)
        .logs()
        .iter()
        .filter(|r| r.level == LogLevel::Warn && r.message.contains("configuration:"))
        .map(|r| r.message.clone())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].contains("policies[0].retry.backoff: has no effect in Envoy"),
        "{warnings:#?}"
    );
    assert!(
        warnings[1].contains("policies[0].outcomes.grpc.UNKNOWN"),
        "{warnings:#?}"
    );
    // A duplicate key and a number out of range are refused with their paths.
    let log = rejected_log(
        r#"{"policies": [{"name": "a", "breaker": {"failure_threshold": 1,
            "failure_threshold": 2, "failure_rate_threshold": 1e400}}]}"#,
    );
    assert!(
        log.contains(
            "policies[0].breaker.failure_rate_threshold: invalid JSON: number out of range"
        ),
        "{log}"
    );
    Ok(())
}
