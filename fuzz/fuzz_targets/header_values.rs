//! Any bytes as the header values a client or an upstream controls: `grpc-status`, `:status`,
//! `Retry-After`, `x-failure-inject`, `content-type`. Parsing never panics, and a request carrying
//! them through the engine is decided without panicking.
#![no_main]

use breakwater_core::outcome::{Outcome, parse_grpc_status, parse_http_status};
use breakwater_core::random::SplitMix64;
use breakwater_core::retry::parse_retry_after;
use breakwater_core::{Config, Decision, Engine, MemoryStore, Nanos, RequestInfo};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{"policies": [{"name": "api", "retry": {},
    "breaker": {"failure_threshold": 2},
    "bulkhead": {"max_concurrent": 2, "queue_size": 1},
    "injection": {"enabled": true, "header_trigger": true, "abort_rate": 0.1}}]}"#;

fuzz_target!(|data: &[u8]| {
    let now = Nanos::from_secs(1_700_000_000);
    let grpc = parse_grpc_status(data);
    let http = parse_http_status(data);
    let _ = parse_retry_after(data, now);
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let config = Config::from_json(CONFIG).expect("valid");
    let mut engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(7), now);
    let headers = [
        ("x-failure-inject", value),
        ("content-type", value),
        ("idempotency-key", value),
    ];
    let request = RequestInfo {
        method: value,
        path: value,
        cluster: value,
        route: value,
        headers: &headers,
    };
    if let Decision::Proceed { ticket } = engine.on_request(now, &request) {
        let outcome = Outcome {
            kind: breakwater_core::outcome::OutcomeKind::Response,
            http_status: http,
            grpc_status: grpc,
        };
        engine.on_response(now, ticket, &outcome, 1);
    }
    assert_eq!(engine.tracked(), 0, "a finished request is still tracked");
});
