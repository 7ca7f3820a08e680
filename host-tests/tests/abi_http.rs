//! Header maps, properties, bodies, trailers and local replies, through abi-probe.

use artifacts::ABI_PROBE;
use proxywasm_host::{Envoy, HostError, World};

fn probe() -> Result<Envoy, HostError> {
    Envoy::start(&ABI_PROBE, 1, "{}")
}

#[test]
fn filter_adds_request_headers_and_edits_the_response() -> Result<(), HostError> {
    let envoy = probe()?;
    let req = envoy
        .worker(0)
        .get("/hello")
        .header("X-Mixed-Case", "kept")
        .send()?;
    req.expect_continued()
        .expect_request_header("x-probe-count", "1")
        .expect_request_header("x-mixed-case", "kept");
    let added: Vec<String> = req
        .stream()
        .added_request_headers()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        added,
        [
            "x-probe-cluster",
            "x-probe-attempts",
            "x-probe-now-ms",
            "x-probe-wasi-ms",
            "x-probe-count"
        ]
    );
    req.upstream(200)?
        .expect_status(200)
        .expect_response_header("x-probe-seen", "200")
        .expect_finished();
    assert!(
        envoy
            .worker(0)
            .log_text()
            .contains("on_log path=/hello status=200")
    );
    Ok(())
}

#[test]
fn properties_come_from_the_stream_then_the_worker() -> Result<(), HostError> {
    let envoy = probe()?;
    envoy
        .worker(0)
        .get("/")
        .send()?
        .expect_request_header("x-probe-cluster", "none");

    envoy
        .worker(0)
        .with(|w| w.set_property("xds.cluster_name", "default-cluster"));
    envoy
        .worker(0)
        .get("/")
        .send()?
        .expect_request_header("x-probe-cluster", "default-cluster");

    envoy
        .worker(0)
        .get("/")
        .cluster("backend")
        .property_u64("upstream.request_attempt_count", 3)
        .send()?
        .expect_request_header("x-probe-cluster", "backend")
        .expect_request_header("x-probe-attempts", "3");
    Ok(())
}

#[test]
fn both_guest_clocks_read_the_scripted_clock() -> Result<(), HostError> {
    let envoy = probe()?;
    let start_ms = (World::START_NANOS / 1_000_000).to_string();
    envoy
        .worker(0)
        .get("/")
        .send()?
        .expect_request_header("x-probe-now-ms", &start_ms)
        .expect_request_header("x-probe-wasi-ms", &start_ms);

    envoy.advance_secs(30)?;
    let later_ms = (World::START_NANOS / 1_000_000 + 30_000).to_string();
    envoy
        .worker(0)
        .get("/")
        .send()?
        .expect_request_header("x-probe-now-ms", &later_ms)
        .expect_request_header("x-probe-wasi-ms", &later_ms);
    Ok(())
}

#[test]
fn local_reply_passes_through_the_filters_response_path() -> Result<(), HostError> {
    let envoy = probe()?;
    let req = envoy
        .worker(0)
        .get("/x")
        .header("x-probe-reply", "503")
        .send()?;
    req.expect_local_reply(503)
        .header("retry-after", "30")
        .header("x-probe", "local")
        .header("x-probe-seen", "503")
        .header("content-type", "text/plain")
        .body_contains("probe reply");
    req.expect_finished();
    assert!(req.log_text().contains("on_log path=/x status=503"));
    Ok(())
}

#[test]
fn grpc_local_reply_is_trailers_only_http_200() -> Result<(), HostError> {
    let envoy = probe()?;
    let req = envoy
        .worker(0)
        .post("/pkg.Service/Call")
        .grpc()
        .header("x-probe-grpc", "14")
        .send()?;
    // The SDK's send_grpc_response passes its message as the body argument;
    // Envoy turns that body into grpc-message and sends no body.
    let check = req
        .expect_local_reply(200)
        .grpc_status(14)
        .body_contains("probe says no")
        .header(":status", "200")
        .header("grpc-status", "14")
        .header("grpc-message", "probe says no")
        .header("content-type", "application/grpc")
        .header("x-probe", "grpc");
    assert!(req.stream().response_body().is_empty());
    assert_eq!(check.reply().details, "");
    Ok(())
}

#[test]
fn request_body_and_response_trailers_reach_the_filter() -> Result<(), HostError> {
    let envoy = probe()?;
    let req = envoy.worker(0).post("/upload").body("hello").send()?;
    req.expect_continued();
    assert!(req.log_text().contains("request body 5 bytes"));

    req.upstream_grpc(14)?.expect_status(200).expect_finished();
    assert_eq!(
        req.stream().response_trailers(),
        &[("grpc-status".to_owned(), "14".to_owned())]
    );
    assert!(req.log_text().contains("grpc-status=14"));
    assert_eq!(envoy.metric("probe.grpc_trailers"), Some(1));
    Ok(())
}
