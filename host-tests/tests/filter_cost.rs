//! What a request costs the host: the filter's host calls per request on the steady path.
//!
//! In Envoy every host call is a crossing out of V8 plus Envoy's own work: about 2–4 µs of Envoy
//! CPU each (the whole request-header map about 3 µs, a property about 4; BENCHMARKS.md). These
//! tests pin the count for the policies `make bench` measures, call by call, so a change that
//! adds one to the hot path fails here before it shows up as noise in a benchmark.

mod filter;

use artifacts::EMPTY_FILTER;
use filter::start;
use proxywasm_host::{Envoy, HostError};

/// `make bench`'s demo-like policy (`loadgen::setups::DEMO_LIKE`).
const DEMO_LIKE: &str = loadgen::setups::DEMO_LIKE;

/// Host calls one breakwater VM running `config` makes per GET answered 200 (or per gRPC call
/// answered OK), over 20 of them, the clock still (no tick falls due).
fn calls_per_get(config: &str, grpc: bool) -> Result<u64, HostError> {
    calls_per_get_of(start(1, config)?, grpc)
}

fn calls_per_get_of(envoy: Envoy, grpc: bool) -> Result<u64, HostError> {
    const N: u64 = 20;
    envoy.advance_millis(100)?;
    let calls = || envoy.worker(0).with(|w| w.host_calls());
    let before = calls();
    for _ in 0..N {
        let mut req = envoy.worker(0).get("/pay");
        if grpc {
            req = req.grpc();
        }
        let req = req.send()?;
        req.expect_continued();
        if grpc {
            req.upstream_grpc(0)?;
        } else {
            req.upstream(200)?;
        }
    }
    Ok((calls() - before) / N)
}

#[test]
fn a_request_under_the_demo_policy_makes_seven_host_calls() -> Result<(), HostError> {
    // Request: `:method` (retries depend on it) and `content-type`, one value each (the
    // idempotency header is read for a POST only), the clock, and two router headers
    // (`x-envoy-max-retries`, `x-envoy-retry-on`; `x-envoy-retry-grpc-on` goes on gRPC calls
    // only). Response: `:status`. End: `upstream.request_attempt_count` (retries were granted);
    // the clock is not read again (no breaker times calls finely). No shared-data call: the
    // bulkhead of 1000 keeps spare permits on the worker.
    assert_eq!(calls_per_get(DEMO_LIKE, false)?, 7);
    Ok(())
}

#[test]
fn a_request_under_a_plain_breaker_makes_three_host_calls() -> Result<(), HostError> {
    // `content-type` (the one header it needs, as a single value), the clock; `:status`.
    assert_eq!(calls_per_get(filter::BREAKER, false)?, 3);
    Ok(())
}

#[test]
fn a_breaker_timing_calls_finely_reads_the_clock_at_the_end_too() -> Result<(), HostError> {
    let fine = filter::BREAKER.replace(
        r#""minimum_calls": 100"#,
        r#""minimum_calls": 100, "slow_call_duration_ms": 250"#,
    );
    assert_eq!(calls_per_get(&fine, false)?, 4);
    Ok(())
}

#[test]
fn a_grpc_call_reads_its_grpc_status_once() -> Result<(), HostError> {
    // As a plain request, plus `grpc-status` from the trailers (the response headers did not
    // end the stream, so they are not searched).
    assert_eq!(calls_per_get(filter::BREAKER, true)?, 4);
    Ok(())
}

#[test]
fn the_benchmark_baselines_make_the_calls_they_claim() -> Result<(), HostError> {
    // `make bench`'s empty-wasm, floor-wasm and floor-retry-wasm (BENCHMARKS.md): none; the
    // request's `content-type`, the clock and the response's `:status`; those and two headers.
    for (config, calls) in [("", 0), ("observe", 3), ("observe-retry", 5)] {
        let envoy = Envoy::start(&EMPTY_FILTER, 1, config)?;
        assert_eq!(calls_per_get_of(envoy, false)?, calls, "config {config:?}");
    }
    Ok(())
}
