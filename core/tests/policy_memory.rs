//! What a policy costs in memory is bounded: an engine per Envoy worker holds every policy, so
//! a gateway with a policy per cluster multiplies this figure by policies × workers. Counted by
//! a global allocator (live bytes), not timed.
//!
//! The bound is 4 KiB per policy with a breaker and a retry section (2.3 KiB measured by
//! `cargo bench -p breakwater-core --bench scale`; 7.2 KiB before the compiled tables were
//! shared and the idle buffers made lazy).

use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Engine, MemoryStore, Nanos};

#[path = "support/live_bytes.rs"]
mod live_bytes;
use live_bytes::live;

/// `n` policies, one per cluster, each with a breaker and a retry section; `distinct` makes
/// every policy's retry timeout its own (no two compile to the same router headers).
fn per_cluster(n: usize, distinct: bool) -> String {
    let policies: Vec<String> = (0..n)
        .map(|i| {
            let timeout = if distinct { 1000 + i } else { 1000 };
            format!(
                r#"{{"name":"p{i}","match":{{"cluster":"c{i}"}},"breaker":{{}},"retry":{{"per_try_timeout_ms":{timeout}}}}}"#
            )
        })
        .collect();
    format!(r#"{{"service":"s","policies":[{}]}}"#, policies.join(","))
}

/// Live bytes held by an engine built from `doc` (the parsed configuration dropped), and the
/// engine, kept alive until then.
fn engine_bytes(doc: &str) -> i64 {
    // The test harness's other threads may allocate meanwhile: tests in this file run one at a
    // time (a single test), and the figure is a bound, not an exact count.
    let config = Config::from_json(doc).expect("valid configuration");
    let before = live();
    let engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(1), Nanos::ZERO);
    let bytes = live() - before;
    drop(engine);
    bytes
}

#[test]
fn a_policy_costs_a_bounded_few_kilobytes_and_equal_settings_are_stored_once() {
    let one = engine_bytes(&per_cluster(1, false));
    let same = engine_bytes(&per_cluster(1_001, false));
    let distinct = engine_bytes(&per_cluster(1_001, true));
    let per_policy = |total: i64| (total - one) / 1_000;
    assert!(
        per_policy(same) <= 4 * 1024,
        "{} bytes per policy with equal settings (bound 4 KiB)",
        per_policy(same)
    );
    // Distinct settings cannot share their router headers: they cost more, and still bounded.
    assert!(
        per_policy(distinct) > per_policy(same),
        "distinct retry settings ({} B) should cost more than shared ones ({} B)",
        per_policy(distinct),
        per_policy(same)
    );
    assert!(
        per_policy(distinct) <= 8 * 1024,
        "{} bytes per policy with distinct settings (bound 8 KiB)",
        per_policy(distinct)
    );
}
