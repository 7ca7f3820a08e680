//! Keeps `make bench` from rotting: the load generator and one measurement, ~2 s against the
//! no-wasm Envoy, must report sane numbers. Timing figures themselves are not checked (that is
//! the benchmark's job, and this machine is shared); only their shape is.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test, it never skips.

use std::time::Duration;

use envoy_kit::envoy::Envoy;
use loadgen::{Load, setups};

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
    let sample = loadgen::setups::measure(&no_wasm, 1, port, &load)
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

#[test]
fn side_by_side_runs_the_floor_guest_and_pairs_every_slice() {
    let pick = |name: &str| {
        setups::all()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("the {name} setup"))
    };
    let plan = loadgen::ab::AbPlan {
        concurrency: 1,
        slices: 3,
        slice: Duration::from_millis(200),
        connections: 2,
    };
    let series = loadgen::ab::run(&[pick("empty-wasm"), pick("floor-wasm")], &plan)
        .unwrap_or_else(|e| panic!("ab run: {e}"));
    assert_eq!(series.len(), 2);
    for s in &series {
        assert_eq!(s.cpu_us.len(), 3, "{s:?}");
        assert!(
            s.cpu_us.iter().all(|&c| c > 0.0),
            "no Envoy CPU seen: {s:?}"
        );
        assert!(s.rps.iter().all(|&r| r > 0.0), "no throughput: {s:?}");
    }
    let table = loadgen::ab::table(&series);
    assert!(table.contains("| floor-wasm |"), "{table}");
}
