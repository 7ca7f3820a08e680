//! What a policy costs as their number grows (`cargo bench -p breakwater-core --bench scale`).
//!
//! A gateway has a policy per upstream cluster; the decision for one request must not grow with
//! how many there are (issue 20: within 1.2x of one policy at 10,000). Three measures, for 1,
//! 100, 1,000 and 10,000 per-cluster policies, each with a breaker and a retry section, the
//! request matching the *last*:
//!
//! - **the decision pair** (`on_request` + `request_headers` + `on_response`, ticks included),
//!   measured **interleaved**: every round times a slice of pairs on each engine in turn, and
//!   the ratio to one policy is taken within the round. Criterion times each case for seconds,
//!   one after the other, so on a shared machine a ratio of two of its figures mixes the cost
//!   with whatever the machine did meanwhile (1.15x one run, 1.5x the next, seen here);
//!   slices a few milliseconds apart see the same machine, and the median of their ratios is
//!   steady.
//! - **memory per policy**: the bytes the engine holds after it is built, counted by a global
//!   allocator (live bytes, the configuration document excluded), per policy beyond the first.
//! - **configuration load**: parsing the document and building the engine, the best of a few
//!   runs (what a proxy pays on every configuration push).
//!
//! `SCALE_ROUNDS` (default 40) and `SCALE_SLICE` (pairs per slice, default 20,000) tune it.

use breakwater_core::outcome::Outcome;
use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Decision, Engine, MemoryStore, Nanos, RequestInfo};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../tests/support/live_bytes.rs"]
mod live_bytes;
use live_bytes::live;

type Bench = Engine<MemoryStore, SplitMix64>;

/// The policy counts measured.
const SIZES: [usize; 4] = [1, 100, 1_000, 10_000];

/// One policy per cluster `c0` … `c{n-1}`, each with a breaker and a retry section.
fn per_cluster(n: usize) -> String {
    let policies: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"name":"p{i}","match":{{"cluster":"c{i}"}},"breaker":{{}},"retry":{{}}}}"#)
        })
        .collect();
    format!(r#"{{"service":"s","policies":[{}]}}"#, policies.join(","))
}

/// The engine for `doc`, and the live bytes it holds (the parsed configuration dropped).
fn build(doc: &str) -> (Bench, i64) {
    let before = live();
    let config = Config::from_json(doc).expect("valid bench configuration");
    let engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(1), Nanos::ZERO);
    drop(config);
    (engine, live() - before)
}

/// One engine under measurement: its request (matching its last policy) and its clock.
struct Case {
    n: usize,
    engine: Bench,
    cluster: String,
    clock: u64,
}

impl Case {
    /// `pairs` decision pairs; the time they took.
    fn slice(&mut self, pairs: u64) -> Duration {
        let started = Instant::now();
        for _ in 0..pairs {
            self.clock += 1;
            let now = Nanos::from_micros(self.clock);
            if self.engine.poll_timeout() <= now {
                self.engine.handle_timeout(now);
            }
            let req = RequestInfo {
                cluster: &self.cluster,
                ..RequestInfo::new("GET", "/api/x")
            };
            if let Decision::Proceed { ticket } = self.engine.on_request(now, black_box(&req)) {
                black_box(self.engine.request_headers(ticket));
                self.engine.on_response(now, ticket, &Outcome::http(200), 1);
            }
        }
        started.elapsed()
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--test`-like flags: stay quick there.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds = env_number("SCALE_ROUNDS", 40).max(1) as usize;
    let slice = env_number("SCALE_SLICE", 20_000).max(1);

    println!("| policies | load (parse + build) | engine memory | per policy |");
    println!("|---:|---:|---:|---:|");
    let mut cases = Vec::new();
    let mut base_bytes = 0;
    for n in SIZES {
        let doc = per_cluster(n);
        let load = (0..3)
            .map(|_| {
                let started = Instant::now();
                black_box(build(&doc));
                started.elapsed()
            })
            .min()
            .unwrap_or_default();
        let (engine, bytes) = build(&doc);
        if n == 1 {
            base_bytes = bytes;
        }
        let per_policy = if n > 1 {
            format!("{} B", (bytes - base_bytes) / (n as i64 - 1))
        } else {
            "-".to_owned()
        };
        println!(
            "| {n} | {:.2} ms | {:.1} KiB | {per_policy} |",
            load.as_secs_f64() * 1e3,
            bytes as f64 / 1024.0
        );
        cases.push(Case {
            n,
            engine,
            cluster: format!("c{}", n - 1),
            clock: 0,
        });
    }

    // Warm every engine, then interleave: each round times one slice per engine, in an order
    // that rotates so none always runs first.
    for case in &mut cases {
        case.slice(slice);
    }
    let mut per_pair: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        let mut took = vec![0.0; cases.len()];
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            took[i] = cases[i].slice(slice).as_secs_f64() * 1e9 / slice as f64;
        }
        for i in 0..cases.len() {
            per_pair[i].push(took[i]);
            ratios[i].push(took[i] / took[0]);
        }
    }
    println!(
        "\n| policies | decision pair (median of {rounds} slices of {slice}) | ratio to 1 policy (median of paired slices) |"
    );
    println!("|---:|---:|---:|");
    for (i, case) in cases.iter().enumerate() {
        println!(
            "| {} | {:.1} ns | {:.3} |",
            case.n,
            median(&mut per_pair[i]),
            median(&mut ratios[i])
        );
    }
}
