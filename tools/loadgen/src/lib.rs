//! `make bench`: what breakwater costs inside Envoy, against the limit (no filter, an empty wasm
//! filter) and against Envoy's native resilience features.
//!
//! Figures taken on a small machine shared with other work are noisy, and a single number means
//! little. So the benchmark is built around comparisons made *within one run*:
//!
//! - every setup ([`setups::all`]) runs in every round, at `--concurrency 1` and `2`, in an order
//!   rotated from round to round, so slow phases of the machine fall on all setups alike;
//! - each setup gets its own fresh Envoy, a warm-up, a closed loop (maximum throughput, CPU per
//!   request, shared-data calls per request) and an open loop at a fixed rate below the knee
//!   (latency, measured from each request's scheduled send time);
//! - ratios to the baselines are taken per round (paired) and then summarised; the report gives
//!   medians and the min–max spread over rounds.
//!
//! The fast upstream is a second Envoy answering with `direct_response` (`envoy/bench-upstream.yaml`);
//! its CPU is not charged to the setup. The load generator is [`loadgen`].

pub mod ab;
pub mod loadgen;
pub mod procfs;
pub mod report;
pub mod scale;
pub mod setups;

use std::time::Duration;

use envoy_kit::envoy::{Envoy, EnvoyError};

pub use loadgen::{LoadReport, closed_loop, open_loop};
pub use setups::{Load, Sample, Setup};

/// What a whole run does.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Rounds (each runs every setup at every concurrency once).
    pub rounds: usize,
    /// Envoy `--concurrency` values.
    pub concurrencies: Vec<u32>,
    /// The setups.
    pub setups: Vec<Setup>,
    /// Load shape of each measurement.
    pub load: Load,
}

impl Default for Plan {
    /// 3 rounds × 2 concurrencies × 5 setups, each ~5 s of load plus ~2 s of start-up and
    /// settling: about 3.5 minutes.
    fn default() -> Self {
        Plan {
            rounds: 3,
            concurrencies: vec![1, 2],
            setups: setups::all(),
            load: Load {
                warmup: Duration::from_millis(500),
                closed: Duration::from_millis(2500),
                connections: 8,
                open: Duration::from_secs(2),
                rate: 1000.0,
                open_connections: 4,
            },
        }
    }
}

/// Starts the fast upstream (`envoy/bench-upstream.yaml`); returns it and its port.
pub fn start_upstream() -> Result<(Envoy, u16), EnvoyError> {
    let upstream = Envoy::from_template("bench-upstream.yaml")
        .concurrency(1)
        .log_level("warn")
        .start()?;
    let port = upstream.listener("upstream")?.port();
    Ok((upstream, port))
}

/// Runs the plan; `progress` hears about every finished measurement. The upstream Envoy and
/// every measured Envoy are stopped before this returns, also on error.
pub fn run(
    plan: &Plan,
    mut progress: impl FnMut(usize, &Sample),
) -> Result<Vec<Sample>, EnvoyError> {
    let (upstream, port) = start_upstream()?;
    let mut samples = Vec::new();
    for round in 0..plan.rounds {
        for &concurrency in &plan.concurrencies {
            let n = plan.setups.len();
            for i in 0..n {
                let setup = &plan.setups[(i + round) % n];
                let mut sample = setups::measure(setup, concurrency, port, &plan.load)?;
                sample.round = round;
                progress(round, &sample);
                samples.push(sample);
            }
        }
    }
    drop(upstream);
    Ok(samples)
}
