//! Any bytes as a plugin configuration: parsing never panics, and a configuration that parses
//! builds an engine that serves a request.
#![no_main]

use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Engine, MemoryStore, Nanos, RequestInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_json(text) {
        Ok(config) => {
            let now = Nanos::from_secs(1);
            let mut engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(1), now);
            let _ = engine.on_request(now, &RequestInfo::new("GET", "/"));
            engine.handle_timeout(now + Nanos::from_secs(1));
        }
        Err(e) => assert!(!e.problems.is_empty(), "an error without a problem"),
    }
});
