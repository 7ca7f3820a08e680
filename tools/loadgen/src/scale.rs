//! What a large configuration costs Envoy before any request: load time and memory (issue 20).
//!
//! For the wasm filter and the module, with 1, 1,000 and 10,000 per-cluster policies
//! ([`super::setups::per_cluster`]):
//!
//! - `envoy --mode validate` on the whole bootstrap, timed (what a CI check of a configuration
//!   pays; it loads the extension and, for the filter, its wasm);
//! - a start until `/ready` answers, timed (what a restart or a new pod pays: every worker's
//!   engine parses the document and builds its policies);
//! - Envoy's resident memory once ready and after a short load (every worker's engine has
//!   then served a request), at `--concurrency 1` and `2`: the growth per policy, and for the
//!   wasm filter the part each worker VM adds (the module has one engine per configuration,
//!   shared by its workers, so its second worker should add next to nothing).
//!
//! Times are wall clock on a shared machine: the best of [`ATTEMPTS`] runs. The CPU cost per
//! request is measured separately and side by side (`loadgen ab --only scale-…`).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use envoy_kit::envoy::EnvoyError;

use super::loadgen;
use super::procfs;
use super::setups::{self, MODULE_TEMPLATE, Setup};

/// Runs of each timed step; the best is reported.
pub const ATTEMPTS: usize = 2;

/// The policy counts measured.
pub const SIZES: [usize; 3] = [1, 1_000, 10_000];

/// One adapter at one size.
#[derive(Clone, Debug)]
pub struct ScaleSample {
    /// `wasm` or `module`.
    pub adapter: &'static str,
    /// Policies in the configuration.
    pub policies: usize,
    /// `envoy --mode validate`, best run.
    pub validate: Duration,
    /// Start until `/ready`, best run (`--concurrency 2`).
    pub start: Duration,
    /// Resident memory after a short load at `--concurrency 1` and `2` (bytes).
    pub rss: [u64; 2],
}

fn best(mut run: impl FnMut() -> Result<Duration, EnvoyError>) -> Result<Duration, EnvoyError> {
    let mut best = Duration::MAX;
    for _ in 0..ATTEMPTS {
        best = best.min(run()?);
    }
    Ok(best)
}

/// Resident memory of `setup`'s Envoy at `concurrency` after a short load.
fn rss_after_load(setup: &Setup, concurrency: u32, port: u16) -> Result<u64, EnvoyError> {
    let envoy = setups::start(setup, concurrency, port)?;
    let report = loadgen::closed_loop(envoy.listener("main")?, 4, Duration::from_millis(300));
    if report.ok == 0 {
        return Err(EnvoyError::Admin(format!(
            "{}: no request answered ({} errors)",
            setup.name, report.errors
        )));
    }
    procfs::rss_bytes(envoy.pid())
        .ok_or_else(|| EnvoyError::Admin("cannot read /proc/<envoy>/status".to_owned()))
}

/// Measures every adapter at every size against the upstream at `port`.
pub fn run(
    port: u16,
    mut progress: impl FnMut(&ScaleSample),
) -> Result<Vec<ScaleSample>, EnvoyError> {
    let filter = artifacts::BREAKWATER_FILTER.path().to_path_buf();
    let mut out = Vec::new();
    for (adapter, template, wasm) in [
        ("wasm", "bench-breakwater.yaml", Some(filter)),
        ("module", MODULE_TEMPLATE, None),
    ] {
        for policies in SIZES {
            let setup = Setup {
                name: format!("scale-{adapter}-{policies}"),
                template,
                wasm: wasm.clone(),
                plugin: Some(setups::per_cluster(policies)),
            };
            let builder = setups::builder(&setup, 2, port);
            let validate = best(|| {
                let started = Instant::now();
                builder.validate().map_err(EnvoyError::Admin)?;
                Ok(started.elapsed())
            })?;
            let start = best(|| {
                let started = Instant::now();
                let envoy = builder.start()?;
                let took = started.elapsed();
                drop(envoy);
                Ok(took)
            })?;
            let rss = [
                rss_after_load(&setup, 1, port)?,
                rss_after_load(&setup, 2, port)?,
            ];
            let sample = ScaleSample {
                adapter,
                policies,
                validate,
                start,
                rss,
            };
            progress(&sample);
            out.push(sample);
        }
    }
    Ok(out)
}

/// The report: one row per adapter and size, with the growth per policy and per worker.
pub fn table(samples: &[ScaleSample]) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut md = String::from(
        "| adapter | policies | validate | start to ready (2 workers) | RSS, 1 worker | RSS, 2 workers | per policy, 1 worker | per policy, each added worker |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in samples {
        let base = samples
            .iter()
            .find(|b| b.adapter == s.adapter && b.policies == 1);
        let (per_policy, per_worker) = match base {
            Some(b) if s.policies > 1 => {
                let n = (s.policies - 1) as f64;
                let one = (s.rss[0] as f64 - b.rss[0] as f64) / n;
                let worker =
                    ((s.rss[1] as f64 - s.rss[0] as f64) - (b.rss[1] as f64 - b.rss[0] as f64)) / n;
                (format!("{one:.0} B"), format!("{worker:.0} B"))
            }
            _ => ("-".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} s | {:.2} s | {:.1} MiB | {:.1} MiB | {per_policy} | {per_worker} |",
            s.adapter,
            s.policies,
            s.validate.as_secs_f64(),
            s.start.as_secs_f64(),
            mib(s.rss[0]),
            mib(s.rss[1]),
        );
    }
    md
}
