//! Bulkhead, retries, failure injection, config validation and metrics in real Envoy 1.40.
//!
//! The bulkhead, retry and injection tests run on both Envoy adapters (`filter::…`,
//! `module::…`); validation and the stats-tag label are the wasm filter's own. Needs Envoy
//! (`make envoy-install`); a missing Envoy fails the test.

mod e2e;

e2e::on_both_adapters!(
    the_bulkhead_caps_the_upstream_across_workers_and_nothing_hangs,
    retry_headers_reach_the_router_and_the_budget_stops_retries,
    injection_aborts_delays_and_never_trips_the_breaker,
);

use artifacts::BREAKWATER_FILTER;
use e2e::{Adapter, WAIT, breakwater, scenario, start, start_on};
use envoy_kit::client::{HttpRequest, send_all};
use envoy_kit::envoy::Envoy;
use envoy_kit::poll::wait_until;

fn the_bulkhead_caps_the_upstream_across_workers_and_nothing_hangs(adapter: Adapter) {
    let stack = start_on(adapter, &scenario("bulkhead"), 2);
    stack.upstream.set_delay_ms(300);
    let requests = (0..32)
        .map(|i| {
            // Half carry a body, which must wait in the queue with its headers.
            let request = if i % 2 == 0 {
                HttpRequest::get("/q")
            } else {
                HttpRequest::post("/q").body(vec![b'x'; 2048])
            };
            request
                .header("connection", "close")
                .header("x-seq", i.to_string())
        })
        .collect();
    let results = send_all(stack.addr, requests);
    let mut ok = 0;
    let mut shed = 0;
    for r in &results {
        let r = r.as_ref().expect("every request got an answer");
        match (r.status, breakwater(r)) {
            (200, None) => ok += 1,
            (429, Some("bulkhead_full" | "queue_timeout")) => shed += 1,
            other => panic!("unexpected answer {other:?}: {}", r.text()),
        }
    }
    assert_eq!(ok + shed, 32);
    assert!(
        stack.upstream.max_inflight() <= 4,
        "upstream saw {} at once",
        stack.upstream.max_inflight()
    );
    // 4 ran at once and the queued ones (4) took their places when permits came back.
    assert!(
        ok >= 8,
        "only {ok} succeeded: queued requests did not proceed"
    );
    assert!(shed >= 1, "nothing was shed");
    // Every permit and queue place came back.
    assert!(wait_until(WAIT, || stack.stat("db", "bulkhead_inflight")
        == 0
        && stack.stat("db", "bulkhead_queued") == 0));
    assert_eq!(
        stack.rejections("db", "bulkhead_full") + stack.rejections("db", "queue_timeout"),
        shed
    );
}

fn retry_headers_reach_the_router_and_the_budget_stops_retries(adapter: Adapter) {
    // One worker: the budget is per worker, so this keeps the count exact.
    let stack = start_on(adapter, &scenario("retry"), 1);
    stack.upstream.alternate(503, 200);
    let rsp = stack.get("/pay");
    assert_eq!(rsp.status, 200, "the router did not retry the 503");
    assert_eq!(stack.upstream.total(), 2);
    // The floor of 3 retries per window: 1 spent above; an always-failing upstream spends the
    // rest, then requests go out once.
    stack.upstream.always(503);
    let mut attempts = Vec::new();
    for _ in 0..5 {
        let before = stack.upstream.total();
        assert_eq!(stack.get("/pay").status, 503);
        attempts.push(stack.upstream.total() - before);
    }
    assert_eq!(
        attempts,
        vec![3, 1, 1, 1, 1],
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

fn injection_aborts_delays_and_never_trips_the_breaker(adapter: Adapter) {
    let stack = start_on(adapter, &scenario("injection"), 2);
    // The header is honoured only where injection is enabled.
    let plain = HttpRequest::get("/plain")
        .header("x-failure-inject", "true")
        .send(stack.addr)
        .expect("answer");
    assert_eq!((plain.status, breakwater(&plain)), (200, None));
    for _ in 0..10 {
        let rsp = HttpRequest::get("/api")
            .header("x-failure-inject", "true")
            .send(stack.addr)
            .expect("answer");
        assert_eq!(
            (rsp.status, breakwater(&rsp)),
            (503, Some("injected_fault"))
        );
    }
    // Ten injected 503s did not open the breaker (threshold 3).
    assert_eq!(stack.get("/api").status, 200);

    // A delay holds only its own request: a plain one sent alongside finishes first.
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

    // A 0.5 abort rate over 200 requests: sd ~ 7, so 60..=140 is more than 5 sd.
    let aborted = (0..200)
        .filter(|_| breakwater(&stack.get("/half")) == Some("injected_fault"))
        .count();
    assert!((60..=140).contains(&aborted), "aborted {aborted} of 200");
}

#[test]
fn a_bad_field_fails_envoy_validate_with_its_path() {
    let bad = r#"{"policies": [{"name": "api", "breaker": {"failure_treshold": 3}}]}"#;
    let err = Envoy::from_template("demo.yaml")
        .upstream_port(1)
        .filter_wasm(BREAKWATER_FILTER.path())
        .plugin_config(bad)
        .validate()
        .expect_err("envoy accepted a bad configuration");
    assert!(
        err.contains("policies[0].breaker.failure_treshold: unknown field `failure_treshold`"),
        "{err}"
    );
    // The demo's configuration and every scenario's pass.
    let dir = envoy_kit::envoy::config_dir();
    let mut configs = vec![dir.join("demo.json")];
    for entry in std::fs::read_dir(dir.join("scenarios")).expect("scenarios") {
        configs.push(entry.expect("entry").path());
    }
    for path in configs {
        let json = std::fs::read_to_string(&path).expect("read");
        let result = Envoy::from_template("demo.yaml")
            .upstream_port(1)
            .filter_wasm(BREAKWATER_FILTER.path())
            .plugin_config(&json)
            .validate();
        assert_eq!(result, Ok(()), "{}", path.display());
    }
}

#[test]
fn prometheus_shows_the_metrics_with_the_policy_label() {
    let stack = start("breaker");
    for _ in 0..3 {
        assert_eq!(stack.get("/pay").status, 200);
    }
    let found = wait_until(WAIT, || {
        stack.envoy.prometheus_samples().is_ok_and(|samples| {
            samples.iter().any(|s| {
                s.name == "envoy_breakwater_requests_total"
                    && s.label("policy") == Some("api")
                    && s.value >= 3.0
            })
        })
    });
    let text = stack.envoy.stats_prometheus().unwrap_or_default();
    let ours: Vec<_> = text.lines().filter(|l| l.contains("breakwater")).collect();
    assert!(
        found,
        "no envoy_breakwater_requests_total{{policy=\"api\"}} >= 3:\n{}",
        ours.join("\n")
    );
    for name in [
        "envoy_breakwater_breaker_state{policy=\"api\"}",
        "envoy_breakwater_rejections_total{policy=\"api\",reason=\"circuit_open\"}",
        "envoy_breakwater_request_duration_milliseconds_count{policy=\"api\"}",
    ] {
        assert!(ours.iter().any(|l| l.starts_with(name)), "{name}");
    }
    assert!(
        ours.iter()
            .any(|l| l.starts_with("envoy_breakwater_shared_data_calls_total"))
    );
}
