//! The test upstream on its own (no Envoy): behaviours, per-request
//! overrides, `/_control` endpoints, counters, gRPC replies, shutdown.

use std::time::Duration;

use envoy_kit::client::{GrpcRequest, HttpRequest, get, send_all};
use envoy_kit::upstream::{GrpcReply, UpstreamServer};

fn statuses(up: &UpstreamServer, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| get(up.addr(), "/s").expect("response").status)
        .collect()
}

#[test]
fn behaviours_switch_through_the_handle_and_control_endpoints() {
    let up = UpstreamServer::start().expect("upstream starts");
    assert_eq!(statuses(&up, 2), [200, 200]);

    up.alternate(503, 200);
    assert_eq!(statuses(&up, 4), [503, 200, 503, 200]);

    // The same switch over HTTP; control requests are not counted.
    let before = up.total();
    let rsp = get(up.addr(), "/_control/status/502").expect("control");
    assert_eq!(rsp.status, 200, "{}", rsp.text());
    assert!(rsp.text().contains("502"), "{}", rsp.text());
    assert_eq!(statuses(&up, 1), [502]);
    assert_eq!(up.total(), before + 1);

    // A seeded fraction repeats exactly after re-seeding.
    up.fail_fraction(0.5, 503, 42);
    let first = statuses(&up, 20);
    get(up.addr(), "/_control/fail?fraction=0.5&status=503&seed=42").expect("control");
    assert_eq!(statuses(&up, 20), first);
    assert!(first.contains(&503) && first.contains(&200), "{first:?}");

    // Bad control values are 400s that say why; the behaviour is unchanged.
    let bad = get(up.addr(), "/_control/fail?fraction=2").expect("control");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("fraction"), "{}", bad.text());
    assert_eq!(
        get(up.addr(), "/_control/nope").expect("control").status,
        404
    );

    get(up.addr(), "/_control/reset").expect("control");
    assert_eq!(up.total(), 0);
    assert_eq!(statuses(&up, 1), [200]);
}

#[test]
fn per_request_headers_override_the_behaviour() {
    let up = UpstreamServer::start().expect("upstream starts");
    up.always(503);
    let rsp = HttpRequest::get("/teapot")
        .header("x-upstream-status", "418")
        .header("x-upstream-delay-ms", "50")
        .send(up.addr())
        .expect("response");
    assert_eq!(rsp.status, 418);
    assert!(
        rsp.elapsed >= Duration::from_millis(50),
        "{:?}",
        rsp.elapsed
    );
    let bad = HttpRequest::get("/x")
        .header("x-upstream-status", "abc")
        .send(up.addr())
        .expect("response");
    assert_eq!(bad.status, 400);
}

#[test]
fn grpc_replies_in_trailers_or_trailers_only_over_h2c() {
    let up = UpstreamServer::start().expect("upstream starts");
    let call = || GrpcRequest::new("/t.S/M").message("m");
    let ok = call().send(up.addr()).expect("grpc");
    assert_eq!(
        (ok.http_status, ok.grpc_status, ok.trailers_only),
        (200, Some(0), false)
    );
    assert!(ok.message_text().contains("\"path\":\"/t.S/M\""), "{ok:?}");

    // Auto: an HTTP failure decision becomes the gRPC spec's code.
    up.always(503);
    assert_eq!(call().send(up.addr()).expect("grpc").grpc_status, Some(14));

    up.set_grpc(GrpcReply::TrailersOnly(8));
    let only = call().send(up.addr()).expect("grpc");
    assert_eq!((only.grpc_status, only.trailers_only), (Some(8), true));
    assert!(
        only.messages.is_empty() && only.trailers.is_empty(),
        "{only:?}"
    );

    let overridden = call()
        .metadata("x-upstream-grpc-status", "4")
        .metadata("x-upstream-grpc-trailers-only", "false")
        .send(up.addr())
        .expect("grpc");
    assert_eq!(
        (overridden.grpc_status, overridden.trailers_only),
        (Some(4), false)
    );
    assert_eq!(up.last_request().expect("seen").version, "HTTP/2.0");
}

#[test]
fn counters_track_inflight_arrivals_and_paths() {
    let up = UpstreamServer::start().expect("upstream starts");
    up.set_delay_ms(150);
    let reqs = (0..3)
        .map(|i| HttpRequest::get(format!("/p{}", i % 2)).header("x-seq", i.to_string()))
        .collect();
    let results = send_all(up.addr(), reqs);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status == 200))
    );
    let stats = up.stats();
    assert_eq!((stats.total, stats.inflight, stats.max_inflight), (3, 0, 3));
    assert_eq!((up.path_count("/p0"), up.path_count("/p1")), (2, 1));
    assert_eq!(stats.arrivals.len(), 3);

    up.reset_counters();
    assert_eq!((up.total(), up.max_inflight()), (0, 0));
    assert!(up.requests().is_empty() && up.arrivals().is_empty());
}

#[test]
fn a_client_that_gives_up_frees_its_inflight_slot_and_drop_stops_the_server() {
    let up = UpstreamServer::start().expect("upstream starts");
    up.set_delay_ms(5_000);
    let err = HttpRequest::get("/slow")
        .timeout(Duration::from_millis(100))
        .send(up.addr())
        .expect_err("times out");
    assert!(err.to_string().contains("100ms"), "{err}");
    assert!(envoy_kit::poll::wait_until(Duration::from_secs(5), || up
        .inflight()
        == 0));

    let addr = up.addr();
    drop(up);
    assert!(get(addr, "/").is_err(), "server still answers after drop");
}
