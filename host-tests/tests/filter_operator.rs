//! The real filter across worker VMs (issue 18): the health view, breaker statistics and the
//! reset endpoint, fallbacks (a static reply and a reroute), and the plain-text status report.
//! Every state here is shared through the host's shared data, so each test checks what one
//! worker did from another.

mod filter;

use filter::{call, fail, metric, start};
use proxywasm_host::HostError;

/// A breaker that trips on 5 consecutive failures (the health view marks unhealthy at 3), with
/// the status and reset endpoints served.
const OPERATED: &str = r#"{
  "service": "checkout",
  "status_path": "/breakwater/status",
  "reset_path": "/breakwater/reset",
  "policies": [{
    "name": "api",
    "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 30000, "recovery_jitter": 0,
                "minimum_calls": 100}
  }]
}"#;

fn status_json(
    envoy: &proxywasm_host::Envoy,
    worker: usize,
) -> Result<serde_json::Value, HostError> {
    let req = envoy.worker(worker).get("/breakwater/status").send()?;
    let reply = req.stream().local_reply().cloned().expect("a status reply");
    Ok(serde_json::from_slice(&reply.body).expect("JSON"))
}

#[test]
fn three_failures_on_one_worker_mark_the_dependency_unhealthy_for_every_worker()
-> Result<(), HostError> {
    let envoy = start(2, OPERATED)?;
    fail(&envoy, 0, 3)?;
    assert!(
        envoy
            .worker(0)
            .log_text()
            .contains("breakwater unhealthy service=checkout policy=api score=0.00"),
        "{}",
        envoy.worker(0).log_text()
    );
    envoy.advance_millis(100)?;
    let doc = status_json(&envoy, 1)?;
    let health = &doc["policies"][0]["health"];
    assert_eq!(health["healthy"], false, "{doc}");
    assert_eq!(health["consecutive_failures"], 3);
    assert_eq!(
        doc["policies"][0]["state"], "closed",
        "the breaker has not tripped"
    );
    assert_eq!(
        doc["healthy"], true,
        "the endpoint's 200/503 is about open breakers"
    );
    // Traffic worker 1 routes there is warned about.
    call(&envoy, 1, 200)?;
    assert!(
        envoy
            .worker(1)
            .log_text()
            .contains("breakwater routed_to_unhealthy service=checkout policy=api requests=1"),
        "{}",
        envoy.worker(1).log_text()
    );
    call(&envoy, 1, 200)?;
    envoy.advance_millis(100)?;
    assert_eq!(
        metric(&envoy, "api", "healthy"),
        Some(1),
        "two successes heal"
    );
    assert_eq!(metric(&envoy, "api", "health_score_percent"), Some(20));
    // Both were routed while it was marked unhealthy (the second success heals it).
    assert_eq!(metric(&envoy, "api", "unhealthy_requests_total"), Some(2));
    Ok(())
}

#[test]
fn a_reset_on_one_worker_closes_the_breaker_for_all_and_clears_the_statistics()
-> Result<(), HostError> {
    let envoy = start(2, OPERATED)?;
    call(&envoy, 1, 200)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_millis(100)?;
    let refused = envoy.worker(1).get("/pay").send()?;
    refused.expect_local_reply(503);
    envoy.advance_millis(100)?;
    let stats = &status_json(&envoy, 0)?["policies"][0]["statistics"];
    assert_eq!(
        (
            &stats["total_calls"],
            &stats["failed_calls"],
            &stats["rejected_calls"]
        ),
        (&6.into(), &5.into(), &1.into()),
        "{stats}"
    );
    assert_eq!(stats["state_changes"], 1);

    let get = envoy.worker(1).get("/breakwater/reset?policy=api").send()?;
    get.expect_local_reply(405).header("allow", "POST");
    let unknown = envoy
        .worker(1)
        .post("/breakwater/reset?policy=nope")
        .send()?;
    unknown.expect_local_reply(404);
    let reset = envoy
        .worker(1)
        .post("/breakwater/reset?policy=api")
        .send()?;
    reset
        .expect_local_reply(200)
        .body_contains(r#""from":"open""#)
        .body_contains(r#""reset":true"#);
    assert!(
        envoy
            .worker(1)
            .log_text()
            .contains("breakwater reset service=checkout policy=api from=open to=closed"),
        "{}",
        envoy.worker(1).log_text()
    );
    // Worker 0 admits at its next sync.
    envoy.advance_millis(100)?;
    call(&envoy, 0, 200)?;
    let stats = &status_json(&envoy, 0)?["policies"][0]["statistics"];
    assert_eq!(stats["total_calls"], 1, "cleared by the reset: {stats}");
    assert_eq!(metric(&envoy, "api", "breaker_resets_total"), Some(1));
    Ok(())
}

#[test]
fn an_open_breaker_falls_back_to_the_static_reply_on_every_worker() -> Result<(), HostError> {
    let config = OPERATED.replace(
        r#""minimum_calls": 100}"#,
        r#""minimum_calls": 100},
    "fallback": {"reply": {"status": 200, "headers": {"content-type": "application/json"},
                           "body": "{\"items\":[],\"degraded\":true}"}}"#,
    );
    let envoy = start(2, &config)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_millis(100)?;
    for w in [0, 1] {
        let req = envoy.worker(w).get("/pay").send()?;
        req.expect_local_reply(200)
            .header("x-breakwater", "fallback")
            .header("content-type", "application/json")
            .details("breakwater_fallback")
            .body_contains(r#""degraded":true"#);
        let headers = req.stream().local_reply().unwrap().headers.clone();
        assert!(
            !headers.iter().any(|(k, _)| k == "x-envoy-overloaded"),
            "a fallback is an answer: {headers:?}"
        );
    }
    envoy.advance_millis(100)?;
    assert_eq!(metric(&envoy, "api", "fallbacks_total"), Some(2));
    assert!(envoy.worker(1).log_text().contains(
        "breakwater fallback service=checkout policy=api reason=circuit_open kind=reply"
    ));
    Ok(())
}

#[test]
fn a_rerouted_request_carries_the_header_and_its_failure_does_not_count() -> Result<(), HostError> {
    let config = OPERATED.replace(
        r#""minimum_calls": 100}"#,
        r#""minimum_calls": 100}, "fallback": {"reroute": {}}"#,
    );
    let envoy = start(2, &config)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_millis(100)?;
    let req = envoy.worker(1).get("/pay").send()?;
    req.expect_continued()
        .expect_request_header("x-breakwater-fallback", "api");
    req.upstream(503)?.expect_finished();
    envoy.advance_millis(100)?;
    assert_eq!(
        metric(&envoy, "api", "failures_total"),
        Some(5),
        "not the breaker's"
    );
    assert_eq!(metric(&envoy, "api", "fallbacks_total"), Some(1));
    Ok(())
}

#[test]
fn the_status_endpoint_answers_a_plain_text_report_when_asked() -> Result<(), HostError> {
    let envoy = start(1, OPERATED)?;
    fail(&envoy, 0, 5)?;
    for req in [
        envoy
            .worker(0)
            .get("/breakwater/status?format=text")
            .send()?,
        envoy
            .worker(0)
            .get("/breakwater/status")
            .header("accept", "text/plain")
            .send()?,
    ] {
        req.expect_local_reply(503)
            .header("content-type", "text/plain; charset=utf-8")
            .body_contains("breakwater checkout: UNHEALTHY (1 breaker open)")
            .body_contains("policy api: breaker open (probes in 30 s), UNHEALTHY")
            .body_contains("calls: 5 total, 0 successful, 5 failed");
    }
    Ok(())
}
