//! What a client and an operator see in real Envoy 1.40 (issue 18), on both adapters: the
//! health view and breaker statistics in the status endpoint (JSON and the plain-text report),
//! the metrics and the log; the reset endpoint behind the RBAC filter the templates ship; and
//! fallbacks, a static reply and a reroute that Envoy routes to the fallback route.

mod e2e;

use std::time::{Duration, Instant};

use e2e::{Adapter, WAIT, breakwater, on_both_adapters, start_on};
use envoy_kit::client::{HttpRequest, HttpResponse};
use envoy_kit::poll::{poll_for, wait_until};

/// Two policies: `static` answers from its fallback reply, `api` (everything else) reroutes;
/// both trip on 5 consecutive failures and stay open 60 s.
const CONFIG: &str = r#"{
  "service": "checkout",
  "status_path": "/breakwater/status",
  "reset_path": "/breakwater/reset",
  "policies": [
    {"name": "static", "match": {"path_prefix": "/static"},
     "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 60000, "recovery_jitter": 0},
     "fallback": {"reply": {"status": 200, "headers": {"content-type": "application/json"},
                            "body": "{\"items\":[],\"degraded\":true}"}}},
    {"name": "api",
     "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 60000, "recovery_jitter": 0},
     "fallback": {"reroute": {}}}
  ]
}"#;

fn status(stack: &e2e::Stack, query: &str) -> envoy_kit::client::HttpResponse {
    stack.get(&format!("/breakwater/status{query}"))
}

fn policy<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["policies"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no policy {name} in {doc}"))
}

/// Opens the breaker of `path`'s policy: 5 failures in a row (the upstream answers 503), then
/// lets the upstream answer 200 again and polls until every worker falls back: the filter's
/// workers read shared data up to `sync_interval_ms` (100) late, so until 150 ms have passed
/// and six requests in a row are answered by the fallback, as `fell_back` tells (six in a row
/// alone can all land on the worker that saw the opening).
fn open(stack: &e2e::Stack, path: &str, fell_back: impl Fn(&HttpResponse) -> bool) {
    stack.upstream.always(503);
    for _ in 0..5 {
        assert_eq!(stack.get(path).status, 503);
    }
    let opened = Instant::now();
    stack.upstream.always(200);
    assert!(
        wait_until(WAIT, || opened.elapsed() >= SYNCED
            && (0..6).all(|_| fell_back(&stack.get(path)))),
        "every worker falls back for {path}"
    );
}

/// Longer than the configurations' `sync_interval_ms` (100, the default).
const SYNCED: Duration = Duration::from_millis(150);

/// Whether a response came through the fallback route (the upstream echoes nothing, so ask it).
fn rerouted(stack: &e2e::Stack) -> impl Fn(&HttpResponse) -> bool + '_ {
    move |_| {
        stack
            .upstream
            .last_request()
            .is_some_and(|r| r.path.starts_with("/fallback/"))
    }
}

fn health_and_statistics_reach_the_status_metrics_and_log(adapter: Adapter) {
    // A breaker that does not trip while the test keeps the dependency failing.
    let config = CONFIG.replace(
        r#""failure_threshold": 5, "recovery_timeout_ms": 60000, "recovery_jitter": 0},
     "fallback": {"reroute""#,
        r#""failure_threshold": 100, "recovery_timeout_ms": 60000, "recovery_jitter": 0},
     "fallback": {"reroute""#,
    );
    assert_ne!(config, CONFIG);
    let stack = start_on(adapter, &config, 2);
    stack.upstream.always(503);
    for _ in 0..3 {
        assert_eq!(stack.get("/pay").status, 503);
    }
    // Source 004: 3 failures in a row mark the dependency unhealthy, before the breaker trips.
    let doc = poll_for(WAIT, || {
        let doc: serde_json::Value = serde_json::from_str(&status(&stack, "").text()).ok()?;
        (policy(&doc, "api")["health"]["healthy"] == false).then_some(doc)
    })
    .expect("the status shows the unhealthy mark");
    let api = policy(&doc, "api");
    assert_eq!(api["state"], "closed");
    assert_eq!(api["statistics"]["failed_calls"], 3, "{api}");
    assert!(
        wait_until(WAIT, || stack.stat("api", "healthy") == 0
            && stack
                .envoy
                .log_text()
                .contains("breakwater unhealthy service=checkout policy=api")),
        "metric healthy=0 and the warning: {}",
        stack.envoy.log_tail()
    );
    // Traffic to it is warned about, and counted: by a worker whose view shows the mark (the
    // filter's other worker sees it within `sync_interval_ms`), so keep it failing meanwhile.
    assert!(
        wait_until(WAIT, || {
            assert_eq!(stack.get("/pay").status, 503);
            stack
                .envoy
                .log_text()
                .contains("breakwater routed_to_unhealthy service=checkout policy=api")
        }),
        "{}",
        stack.envoy.log_tail()
    );
    assert!(wait_until(WAIT, || stack
        .stat("api", "unhealthy_requests_total")
        >= 1));
    stack.upstream.always(200);
    assert_eq!(stack.get("/pay").status, 200);
    // Two successes heal it; the score recovers gradually (0.2 after two).
    assert_eq!(stack.get("/pay").status, 200);
    assert!(
        wait_until(WAIT, || stack.stat("api", "healthy") == 1
            && stack.stat("api", "health_score_percent") == 20),
        "healthy again, score 20%: {} {}",
        stack.stat("api", "healthy"),
        stack.stat("api", "health_score_percent")
    );
    // The plain-text report, for a human at a terminal.
    let text = status(&stack, "?format=text");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let body = text.text();
    assert!(body.starts_with("breakwater checkout: healthy\n"), "{body}");
    assert!(
        body.contains("policy api: breaker closed, healthy (score 0.20)"),
        "{body}"
    );
    assert!(body.contains(" total, 2 successful, "), "{body}");
    let by_accept = HttpRequest::get("/breakwater/status")
        .header("accept", "text/plain")
        .header("connection", "close")
        .send(stack.addr)
        .expect("status");
    assert!(by_accept.text().starts_with("breakwater checkout:"));
}

fn the_reset_endpoint_is_guarded_and_closes_the_breaker(adapter: Adapter) {
    let stack = start_on(adapter, CONFIG, 2);
    open(&stack, "/pay", rerouted(&stack));
    let reset = |operator: bool| {
        let mut req =
            HttpRequest::post("/breakwater/reset?policy=api").header("connection", "close");
        if operator {
            req = req.header("x-breakwater-operator", "demo-operator");
        }
        req.send(stack.addr).expect("reset answers")
    };
    // Without the operator's identity, Envoy's RBAC filter refuses before breakwater sees it.
    let denied = reset(false);
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(breakwater(&denied), None);
    assert_eq!(stack.stat("api", "breaker_resets_total"), 0);
    // Still open: rerouted to the fallback route.
    let before = stack.upstream.path_count("/fallback/pay");
    assert_eq!(stack.get("/pay").status, 200);
    assert_eq!(stack.upstream.path_count("/fallback/pay"), before + 1);
    let ok = reset(true);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.text().contains(r#""from":"open""#), "{}", ok.text());
    // Closed for every worker within the sync interval: requests reach the upstream again.
    assert!(
        wait_until(WAIT, || (0..4).all(|_| stack.get("/pay").status == 200)
            && stack.upstream.path_count("/pay") >= 4),
        "traffic flows again"
    );
    assert!(
        wait_until(WAIT, || stack.stat("api", "breaker_resets_total") == 1
            && stack.envoy.log_text().contains(
                "breakwater reset service=checkout policy=api from=open to=closed"
            )),
        "counted and logged: {}",
        stack.envoy.log_tail()
    );
}

fn an_open_breaker_falls_back_to_a_reply_or_to_the_fallback_route(adapter: Adapter) {
    let stack = start_on(adapter, CONFIG, 2);
    open(&stack, "/static/items", |r| {
        breakwater(r) == Some("fallback")
    });
    open(&stack, "/pay", rerouted(&stack));
    let before = stack.upstream.total();
    // The static reply: a degraded answer, marked, and not overload.
    for _ in 0..4 {
        let rsp = stack.get("/static/items");
        assert_eq!(rsp.status, 200);
        assert_eq!(breakwater(&rsp), Some("fallback"));
        assert_eq!(rsp.header("x-envoy-overloaded"), None);
        assert_eq!(rsp.text(), r#"{"items":[],"degraded":true}"#);
    }
    assert_eq!(
        stack.upstream.total(),
        before,
        "the reply is breakwater's own"
    );
    // The reroute: Envoy picks the fallback route, which the upstream sees under /fallback/.
    let (fallback, direct) = (
        stack.upstream.path_count("/fallback/pay"),
        stack.upstream.path_count("/pay"),
    );
    for _ in 0..3 {
        assert_eq!(stack.get("/pay").status, 200);
    }
    assert_eq!(stack.upstream.path_count("/fallback/pay"), fallback + 3);
    assert_eq!(
        stack.upstream.path_count("/pay"),
        direct,
        "none reached the open upstream"
    );
    let record = stack.upstream.last_request().expect("a request");
    assert_eq!(record.header("x-breakwater-fallback"), Some("api"));
    assert!(
        wait_until(WAIT, || stack.stat("static", "fallbacks_total") >= 4 + 6
            && stack.stat("api", "fallbacks_total") >= 3 + 6),
        "counted: {} {}",
        stack.stat("static", "fallbacks_total"),
        stack.stat("api", "fallbacks_total")
    );
    assert!(
        wait_until(WAIT, || {
            let log = stack.envoy.log_text();
            log.contains(
                "breakwater fallback service=checkout policy=static reason=circuit_open kind=reply",
            ) && log.contains(
                "breakwater fallback service=checkout policy=api reason=circuit_open kind=reroute",
            ) && log.contains("details=breakwater_fallback")
        }),
        "logged: {}",
        stack.envoy.log_tail()
    );
}

on_both_adapters!(
    health_and_statistics_reach_the_status_metrics_and_log,
    the_reset_endpoint_is_guarded_and_closes_the_breaker,
    an_open_breaker_falls_back_to_a_reply_or_to_the_fallback_route,
);
