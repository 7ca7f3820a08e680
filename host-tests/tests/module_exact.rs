//! Exact across workers: one engine behind one lock serves both of Envoy's workers, so the
//! breaker opens after exactly `failure_threshold` failures whichever workers saw them, and the
//! very next request is rejected on the other worker. (The proxy-wasm filter caches the shared
//! snapshot and is up to `sync_interval_ms` late on the other worker.)
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

mod e2e;
mod module_kit;

use module_kit::{one_connection_per_worker, start_with};

#[test]
fn failures_alternating_between_two_workers_open_the_breaker_at_exactly_the_threshold() {
    for threshold in [3u64, 5, 8] {
        let config = format!(
            r#"{{"service": "e2e", "environment": "testing", "policies": [
                {{"name": "warmup", "match": {{"path_prefix": "/warmup"}}}},
                {{"name": "api", "breaker": {{"failure_threshold": {threshold},
                  "window_size": 100, "minimum_calls": 100, "recovery_timeout_ms": 60000,
                  "max_recovery_timeout_ms": 60000, "recovery_jitter": 0}}}}]}}"#
        );
        let stack = start_with(&config, 2);
        let mut workers = one_connection_per_worker(&stack);
        // (`minimum_calls` 100 keeps the failure-rate rule out: this counts consecutive
        // failures; the warm-up requests that found each worker match another policy.)
        stack.upstream.reset_counters();
        stack.upstream.always(503);
        for i in 0..threshold {
            let (status, reason) = workers[(i % 2) as usize].get("/pay");
            assert_eq!((status, reason), (503, None), "failure {i} of {threshold}");
        }
        // The next request, on either worker, meets the open breaker: no request in between.
        for (w, c) in workers.iter_mut().enumerate() {
            let (status, reason) = c.get("/pay");
            assert_eq!(
                (status, reason.as_deref()),
                (503, Some("circuit_open")),
                "worker {w} after {threshold} failures"
            );
        }
        assert_eq!(stack.upstream.total(), threshold, "upstream calls");
    }
}
