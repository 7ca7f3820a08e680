//! Keeps `make bench` from rotting: the load generator and one measurement, ~2 s against the
//! no-wasm Envoy, must report sane numbers. Timing figures themselves are not checked (that is
//! the benchmark's job, and this machine is shared); only their shape is.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test, it never skips.

use std::time::Duration;

use host_tests::bench::{self, Load, setups};
use host_tests::envoy::Envoy;

#[test]
fn load_generator_reports_sane_numbers_against_envoy() {
    let upstream = Envoy::from_template("bench-upstream.yaml")
        .concurrency(1)
        .log_level("warn")
        .start()
        .unwrap_or_else(|e| panic!("bench upstream starts: {e}"));
    let port = upstream.listener("upstream").expect("listener").port();
    let no_wasm = setups::all()
        .into_iter()
        .find(|s| s.name == "no-wasm")
        .expect("the no-wasm setup");
    let load = Load {
        warmup: Duration::from_millis(200),
        closed: Duration::from_millis(800),
        connections: 4,
        open: Duration::from_millis(500),
        rate: 200.0,
        open_connections: 2,
    };
    let sample = bench::setups::measure(&no_wasm, 1, port, &load)
        .unwrap_or_else(|e| panic!("measurement: {e}"));

    for (what, r) in [("closed", &sample.closed), ("open", &sample.open)] {
        assert!(r.ok > 0 && r.rps() > 0.0, "{what}: no throughput: {r:?}");
        assert_eq!(r.errors, 0, "{what}: errors: {r:?}");
        let [p50, p99, p999, max] = r.latency_us;
        assert!(
            0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
            "{what}: latencies out of order: {r:?}"
        );
    }
    // The open loop sends on a schedule: about rate × duration requests, no more.
    assert!(
        sample.open.ok <= 110,
        "open loop overshot: {:?}",
        sample.open
    );
    assert!(sample.cpu_us_closed > 0.0, "no Envoy CPU seen: {sample:?}");
    assert!(sample.rss > 1 << 20, "no Envoy RSS seen: {sample:?}");
    assert_eq!(
        sample.shared_data_per_request, None,
        "no breakwater, no count"
    );
}
