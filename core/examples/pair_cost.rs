//! Runs N request/response pairs through one engine (a policy with a breaker and retries, a
//! sync every 1,000): the steady path every request takes, for an instruction count.
//!
//! ```sh
//! cargo build --release -p breakwater-core --example pair_cost
//! valgrind --tool=callgrind target/release/examples/pair_cost 0
//! valgrind --tool=callgrind target/release/examples/pair_cost 100000
//! ```
//!
//! (the second total minus the first, over 100,000: instructions per pair; BENCHMARKS.md).

use breakwater_core::outcome::Outcome;
use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Decision, Engine, MemoryStore, Nanos, RequestInfo};

/// Plays the pairs; the count is the first argument (0 by default: set-up only).
fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let config = Config::from_json(
        r#"{"policies":[{"name":"api","breaker":{},"retry":{"max_retries":2}}]}"#,
    )
    .unwrap();
    let mut e = Engine::new(&config, MemoryStore::new(), SplitMix64::new(1), Nanos::ZERO);
    let req = RequestInfo::new("GET", "/");
    let ok = Outcome::http(200);
    let mut sum = 0u64;
    for i in 0..n {
        let now = Nanos::from_micros(i * 10);
        if let Decision::Proceed { ticket } = e.on_request(now, &req) {
            sum += e.request_headers(ticket).len() as u64;
            e.on_response(now, ticket, &ok, 1);
        }
        if i % 1000 == 0 {
            e.handle_timeout(now);
        }
    }
    println!("{sum}");
}
