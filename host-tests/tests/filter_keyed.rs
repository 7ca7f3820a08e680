//! The real filter's keyed breaker (`breaker.key_by`): one breaker per gRPC method, exact across
//! worker VMs over one shared-data store, with a bound on keys no client can push past.

mod filter;

use filter::{metric, start};
use proxywasm_host::{Envoy, Exchange, HostError};

/// One breaker per gRPC method: 3 consecutive failures open a method for 30 s; at most 3
/// methods (the catch-all breaker takes the rest).
const KEYED: &str = r#"{
  "service": "checkout",
  "status_path": "/breakwater/status",
  "policies": [{
    "name": "rpc",
    "breaker": {
      "key_by": "grpc_method", "max_keys": 3, "failure_threshold": 3,
      "recovery_timeout_ms": 30000, "recovery_jitter": 0
    }
  }]
}"#;

fn grpc<'a>(envoy: &'a Envoy, worker: usize, method: &str) -> Result<Exchange<'a>, HostError> {
    envoy.worker(worker).post(method).grpc().send()
}

/// A gRPC call on `worker` that the upstream answers with `grpc_status`.
fn rpc(envoy: &Envoy, worker: usize, method: &str, grpc_status: u32) -> Result<(), HostError> {
    let call = grpc(envoy, worker, method)?;
    call.expect_continued();
    call.upstream_grpc(grpc_status)?.expect_finished();
    Ok(())
}

/// Whether breakwater answered the call itself with UNAVAILABLE (an open breaker).
fn refused(call: &Exchange<'_>) -> bool {
    let s = call.stream();
    s.local_reply()
        .is_some_and(|r| r.status == 200 && r.grpc_status == Some(14))
        && s.response_header("x-breakwater") == Some("circuit_open")
}

#[test]
fn a_failing_method_opens_alone_across_workers_and_its_key_is_logged() -> Result<(), HostError> {
    let envoy = start(3, KEYED)?;
    // Three failures of one method on three workers: the shared count reaches 3.
    for w in 0..3 {
        rpc(&envoy, w, "/pay.Ledger/Refund", 14)?;
    }
    // Every worker refuses that method within one sync interval, and serves the others.
    envoy.advance_millis(100)?;
    for w in 0..3 {
        let call = grpc(&envoy, w, "/pay.Ledger/Refund")?;
        assert!(refused(&call), "worker {w} did not refuse the open method");
        rpc(&envoy, w, "/pay.Ledger/Balance", 0)?;
    }
    let log = envoy.worker(2).log_text();
    assert!(
        log.contains(r#"key="/pay.Ledger/Refund""#)
            && log.contains("policy=rpc from=closed to=open reason=consecutive_failures at_ms="),
        "{log}"
    );
    // The status lists the keys; the policy reads as its worst key.
    let status = envoy.worker(0).get("/breakwater/status").send()?;
    status
        .expect_local_reply(503)
        .body_contains(r#""state":"open""#)
        .body_contains(r#""key":"/pay.Ledger/Refund","retry_after":30,"state":"open""#)
        .body_contains(r#""key":"/pay.Ledger/Balance","retry_after":null,"state":"closed""#)
        .body_contains(r#""key":"~other","retry_after":null,"state":"closed""#)
        .body_contains(r#""key_overflows":0"#);
    assert_eq!(metric(&envoy, "rpc", "breaker_state"), Some(1));
    Ok(())
}

#[test]
fn clients_cannot_grow_shared_state_past_max_keys() -> Result<(), HostError> {
    let envoy = start(2, KEYED)?;
    let prefix = "breakwater/checkout/rpc/";
    let keys = || {
        envoy
            .world()
            .shared_keys()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .count()
    };
    // The catch-all, the registry and 3 slots exist from the start.
    assert_eq!(keys(), 5);
    for i in 0..200 {
        rpc(&envoy, i % 2, &format!("/scan.Svc/M{i}"), 0)?;
    }
    envoy.advance_millis(200)?;
    assert_eq!(keys(), 5, "no key per method beyond max_keys");
    // Three methods got a breaker; the other 197 calls were counted as overflows.
    let overflows = metric(&envoy, "rpc", "breaker_key_overflows_total");
    assert_eq!(overflows, Some(197));
    // An admitted method still has its own breaker: failing it leaves the others alone.
    for _ in 0..3 {
        rpc(&envoy, 0, "/scan.Svc/M0", 14)?;
    }
    assert!(refused(&grpc(&envoy, 0, "/scan.Svc/M0")?));
    rpc(&envoy, 0, "/scan.Svc/M1", 0)?;
    rpc(&envoy, 0, "/scan.Svc/M150", 0)?;
    Ok(())
}
