//! Smoke test of the real-Envoy tooling: real Envoy 1.40 (2 workers) in front
//! of the test upstream, driven by the real HTTP/1.1 and gRPC clients.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test, it never skips.

use std::time::Duration;

use envoy_kit::client::{GrpcRequest, HttpRequest};
use envoy_kit::envoy::{self, Envoy, EnvoyError};
use envoy_kit::poll::wait_until;
use envoy_kit::upstream::{GrpcReply, UpstreamServer};

const WAIT: Duration = Duration::from_secs(10);

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn http_and_grpc_through_real_envoy() {
    let upstream = UpstreamServer::start().expect("upstream starts");
    let envoy = Envoy::from_template("smoke.yaml")
        .upstream_port(upstream.port())
        .concurrency(2)
        .start()
        .unwrap_or_else(|e| panic!("envoy starts: {e}"));
    let pid = envoy.pid();
    let main = envoy.listener("main").expect("listener `main`");

    // HTTP/1.1 GET, 200 from the upstream through Envoy.
    let rsp = HttpRequest::get("/hello")
        .header("x-seq", "1")
        .send(main)
        .expect("http response");
    assert_eq!(rsp.status, 200, "{}", rsp.text());
    assert!(rsp.text().contains("\"path\":\"/hello\""), "{}", rsp.text());
    let seen = upstream.last_request().expect("upstream saw the request");
    assert_eq!(seen.version, "HTTP/1.1");
    assert!(
        seen.header("x-request-id").is_some(),
        "Envoy adds x-request-id"
    );

    // gRPC unary: status 0 in trailers, then 14 in trailers (per-request override).
    let ok = GrpcRequest::new("/smoke.Echo/Say")
        .message("hi")
        .send(main)
        .expect("grpc response");
    assert_eq!((ok.http_status, ok.grpc_status), (200, Some(0)), "{ok:?}");
    assert!(!ok.trailers_only, "{ok:?}");
    assert!(ok.message_text().contains("/smoke.Echo/Say"), "{ok:?}");
    assert_eq!(
        upstream.last_request().expect("grpc seen").version,
        "HTTP/2.0"
    );

    let unavailable = GrpcRequest::new("/smoke.Echo/Say")
        .metadata("x-upstream-grpc-status", "14")
        .send(main)
        .expect("grpc response");
    assert_eq!(unavailable.grpc_status, Some(14), "{unavailable:?}");
    assert!(!unavailable.trailers_only, "{unavailable:?}");
    assert_eq!(
        unavailable.grpc_message.as_deref(),
        Some("breakwater test upstream says so")
    );

    // Trailers-only answers are told apart.
    upstream.set_grpc(GrpcReply::TrailersOnly(8));
    let exhausted = GrpcRequest::new("/smoke.Echo/Say")
        .send(main)
        .expect("grpc response");
    assert_eq!(exhausted.grpc_status, Some(8), "{exhausted:?}");
    assert!(exhausted.trailers_only, "{exhausted:?}");

    // Switching the upstream to 503 is seen through Envoy.
    upstream.always(503);
    let rsp = HttpRequest::get("/hello")
        .send(main)
        .expect("http response");
    assert_eq!(rsp.status, 503);
    assert_eq!(rsp.header("x-upstream-request"), Some("5"));
    assert_eq!(upstream.path_count("/hello"), 2);
    assert_eq!(upstream.total(), 5);

    // Admin helpers: stats JSON, Prometheus, log.
    assert!(
        wait_until(WAIT, || envoy
            .counter("cluster.backend.upstream_rq_503")
            .is_ok_and(|n| n == 1)),
        "upstream_rq_503 should reach 1"
    );
    assert!(envoy.counter("cluster.backend.no_such_stat").is_err());
    let prom = envoy.prometheus_samples().expect("prometheus");
    assert!(
        prom.iter()
            .any(|s| s.name == "envoy_cluster_upstream_rq_total"
                && s.label("envoy_cluster_name") == Some("backend"))
    );
    assert!(envoy.log_text().contains("starting main dispatch loop"));

    // No process left behind.
    drop(envoy);
    assert!(!pid_alive(pid), "envoy pid {pid} still alive after drop");
}

#[test]
fn validate_rejects_a_broken_config_and_accepts_the_smoke_config() {
    let broken = "static_resources:\n  clusters:\n  - name: x\n    type: NOT_A_TYPE\n";
    let err = envoy::validate(broken).expect_err("broken config is rejected");
    assert!(err.contains("NOT_A_TYPE"), "{err}");
    Envoy::from_template("smoke.yaml")
        .upstream_port(9)
        .validate()
        .expect("smoke config is valid");
}

#[test]
fn a_failed_start_carries_the_log_and_leaves_no_process() {
    let err = Envoy::from_yaml("admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}\nstatic_resources: {clusters: [{name: x, type: NOT_A_TYPE}]}\n")
        .start()
        .expect_err("broken config does not start");
    assert!(err.to_string().contains("NOT_A_TYPE"), "{err}");
    // `Exited` means the process ended and was reaped before `start` returned.
    assert!(matches!(err, EnvoyError::Exited { .. }), "{err}");

    let err = Envoy::from_template("smoke.yaml")
        .start()
        .expect_err("a placeholder without value is an error");
    assert!(err.to_string().contains("UPSTREAM_PORT"), "{err}");
}

#[test]
fn concurrent_requests_reach_the_upstream_at_once() {
    let upstream = UpstreamServer::start().expect("upstream starts");
    upstream.set_delay_ms(200);
    let envoy = Envoy::from_template("smoke.yaml")
        .upstream_port(upstream.port())
        .start()
        .unwrap_or_else(|e| panic!("envoy starts: {e}"));
    let main = envoy.listener("main").expect("listener");
    let requests = (0..4)
        .map(|i| HttpRequest::get("/slow").header("x-seq", i.to_string()))
        .collect();
    let results = envoy_kit::client::send_all(main, requests);
    for r in &results {
        let r = r.as_ref().expect("response");
        assert_eq!(r.status, 200);
        assert!(r.elapsed >= Duration::from_millis(200), "{:?}", r.elapsed);
    }
    assert_eq!(upstream.max_inflight(), 4);
    assert_eq!(upstream.inflight(), 0);
    let mut seqs = upstream.arrivals();
    seqs.sort();
    assert_eq!(seqs, ["0", "1", "2", "3"]);
}
