//! The real filter's response side of retries in the proxy-wasm host, over several worker VMs:
//! the `retries_exhausted` mark, the contract's reply in place of Envoy's own upstream-failure
//! reply, the attempt metrics each VM exports (Envoy sums them), and the warning line.

mod filter;

use filter::{metric, start};
use proxywasm_host::HostError;

const POLICY: &str = r#"{
  "service": "checkout",
  "policies": [{
    "name": "api",
    "retry": {
      "max_retries": 2, "rewrite_upstream_errors": REWRITE,
      "budget": { "budget_percent": 100, "min_retry_concurrency": 100, "window_ms": 10000 }
    }
  }]
}"#;

fn config(rewrite: bool) -> String {
    POLICY.replace("REWRITE", if rewrite { "true" } else { "false" })
}

const RESET: &str = "upstream_reset_before_response_started{remote_reset}";

fn attempts(envoy: &proxywasm_host::Envoy, name: &str, n: u32) -> Option<i64> {
    envoy.metric(&format!("envoy.breakwater.{name}.policy.api.attempt.{n}"))
}

#[test]
fn a_failure_after_retries_is_marked_on_whichever_worker() -> Result<(), HostError> {
    let envoy = start(2, &config(false))?;
    for worker in 0..2 {
        let req = envoy
            .worker(worker)
            .get("/pay")
            .property_u64("upstream.request_attempt_count", 3)
            .send()?;
        req.expect_continued().upstream(503)?.expect_finished();
        let stream = req.stream();
        assert_eq!(stream.response_status(), Some(503), "the upstream's answer");
        assert_eq!(
            stream.response_header("x-breakwater"),
            Some("retries_exhausted"),
            "worker {worker}"
        );
        assert!(stream.local_reply().is_none(), "marked, not replaced");
    }
    // Not retried, or saved by a retry: no mark.
    let once = envoy.worker(0).get("/pay").send()?;
    once.upstream(503)?;
    assert_eq!(once.stream().response_header("x-breakwater"), None);
    let saved = envoy
        .worker(1)
        .get("/pay")
        .property_u64("upstream.request_attempt_count", 2)
        .send()?;
    saved.upstream(200)?;
    assert_eq!(saved.stream().response_header("x-breakwater"), None);
    // Envoy's own reply passes unchanged while the policy does not rewrite (marked only).
    let own = envoy
        .worker(0)
        .get("/pay")
        .property_u64("upstream.request_attempt_count", 3)
        .property("response.code_details", RESET)
        .send()?;
    own.upstream_with(503, &[], b"upstream connect error", &[])?;
    assert!(own.stream().local_reply().is_none());
    assert_eq!(own.stream().response_body(), b"upstream connect error");
    assert_eq!(
        own.stream().response_header("x-breakwater"),
        Some("retries_exhausted")
    );

    envoy.advance_secs(1)?;
    // Summed over both VMs: 3 exhausted (two 503s, one reset), 5 answered requests.
    assert_eq!(metric(&envoy, "api", "retries_exhausted_total"), Some(3));
    assert_eq!(attempts(&envoy, "retry_attempts_total", 1), Some(5));
    assert_eq!(attempts(&envoy, "retry_attempts_total", 2), Some(4));
    assert_eq!(attempts(&envoy, "retry_attempts_total", 3), Some(3));
    assert_eq!(attempts(&envoy, "retry_successes_total", 2), Some(1));
    assert_eq!(attempts(&envoy, "retry_successes_total", 1), Some(0));
    assert_eq!(
        attempts(&envoy, "retry_attempts_total", 4),
        None,
        "labels stop at max_retries + 1"
    );
    let logs = envoy.worker(0).log_text() + &envoy.worker(1).log_text();
    assert_eq!(
        logs.matches("breakwater retries_exhausted service=checkout policy=api attempts=3")
            .count(),
        3,
        "{logs}"
    );
    Ok(())
}

#[test]
fn envoy_failure_replies_are_replaced_by_the_contract() -> Result<(), HostError> {
    let envoy = start(2, &config(true))?;
    let req = envoy
        .worker(1)
        .get("/pay")
        .property_u64("upstream.request_attempt_count", 3)
        .property("response.code_details", RESET)
        .send()?;
    // The headers of Envoy's reply (its body never comes: breakwater answered instead).
    req.upstream_with(503, &[("content-length", "22")], b"", &[])?;
    let stream = req.stream();
    let reply = stream.local_reply().expect("the contract's reply");
    assert_eq!(reply.status, 503);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert_eq!(body["error"], "retries_exhausted");
    assert_eq!(body["max_attempts"], 3);
    assert_eq!(
        stream.response_header("x-breakwater"),
        Some("retries_exhausted")
    );
    assert!(stream.is_finished());
    // Not retried: a connect failure is a network error (502), a timeout 504.
    for (details, status, reason) in [
        (
            "upstream_reset_before_response_started{connection_failure}",
            502,
            "network_error",
        ),
        ("upstream_response_timeout", 504, "upstream_timeout"),
    ] {
        let req = envoy
            .worker(0)
            .get("/pay")
            .property("response.code_details", details)
            .send()?;
        req.upstream(if status == 504 { 504 } else { 503 })?;
        let reply = req.stream().local_reply().cloned().expect("replaced");
        assert_eq!(reply.status, status, "{reason}");
        assert_eq!(
            req.stream().response_header("x-breakwater"),
            Some(reason),
            "{reason}"
        );
    }
    // An upstream's own 503 is never replaced.
    let upstream = envoy.worker(0).get("/pay").send()?;
    upstream.upstream(503)?;
    assert!(upstream.stream().local_reply().is_none());
    // The breaker side saw failures, not breakwater's replies.
    envoy.advance_secs(1)?;
    assert_eq!(metric(&envoy, "api", "failures_total"), Some(4));
    assert_eq!(metric(&envoy, "api", "responses_total"), Some(4));
    Ok(())
}

#[test]
fn a_grpc_client_gets_trailers_only_unavailable() -> Result<(), HostError> {
    let envoy = start(1, &config(true))?;
    let call = envoy
        .worker(0)
        .post("/pkg.Svc/Call")
        .grpc()
        .property("response.code_details", RESET)
        .send()?;
    // Envoy's own reply to a gRPC client: trailers-only UNAVAILABLE.
    call.upstream_with(
        200,
        &[("content-type", "application/grpc"), ("grpc-status", "14")],
        b"",
        &[],
    )?;
    let reply = call.stream().local_reply().cloned().expect("replaced");
    assert_eq!(reply.grpc_status, Some(14));
    assert_eq!(
        call.stream().response_header("x-breakwater"),
        Some("network_error")
    );
    assert_eq!(call.stream().response_header("grpc-status"), Some("14"));
    Ok(())
}
