//! The measured Envoy configurations, and how one of them is measured.
//!
//! Each setup is a template under `envoy/bench-*.yaml` (the same listener, route and cluster;
//! only the HTTP filters and cluster settings differ) plus what fills its placeholders. One
//! [`measure`] starts the proxy, warms it up, runs the closed loop and the open loop and stops it
//! again, so every setup starts from the same cold state and leaves nothing behind.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::Duration;

use artifacts;
use envoy_kit::envoy::{Envoy, EnvoyBuilder, EnvoyError};

use super::loadgen::{self, LoadReport};
use super::procfs;

/// The demo-like policy: breaker, bulkhead (permits only, no queue), retry headers, injection
/// enabled at rate 0.
pub const DEMO_LIKE: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "retry": {"max_retries": 2},
  "bulkhead": {"max_concurrent": 1000},
  "injection": {"enabled": true, "abort_rate": 0.0, "delay_rate": 0.0}}]}"#;

/// Breaker and retry only: the closed-breaker path, which makes no shared-data call per request.
pub const BREAKER_RETRY: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "retry": {"max_retries": 2}}]}"#;

/// The demo-like policy without its retry section: what the module costs before Envoy's price
/// for honouring retry headers (the router's work, which the native stack's retry policy pays
/// too).
pub const NO_RETRY: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "bulkhead": {"max_concurrent": 1000},
  "injection": {"enabled": true, "abort_rate": 0.0, "delay_rate": 0.0}}]}"#;

/// `n` policies, one per cluster (`c0`, `c1`, …), each with a breaker and retries, the last one
/// on the bench's cluster `backend`: a gateway's configuration, with every request matching the
/// last policy (issue 20: the cost must not grow with the configuration).
pub fn per_cluster(n: usize) -> &'static str {
    let policies: Vec<String> = (0..n)
        .map(|i| {
            let cluster = if i + 1 == n {
                "backend".to_owned()
            } else {
                format!("c{i}")
            };
            format!(
                r#"{{"name":"p{i}","match":{{"cluster":"{cluster}"}},"breaker":{{"failure_threshold":5}},"retry":{{"max_retries":2}}}}"#
            )
        })
        .collect();
    // Leaked once per setup: the configurations live as long as the load generator.
    Box::leak(
        format!(
            r#"{{"service":"bench","policies":[{}]}}"#,
            policies.join(",")
        )
        .into_boxed_str(),
    )
}

/// breakwater's filter-wide counter of shared-data calls, as Envoy names it.
pub const SHARED_DATA_STAT: &str = "wasmcustom.envoy.breakwater.shared_data_calls_total";

/// One measured configuration.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Short name in the report.
    pub name: String,
    /// Template under `envoy/`.
    pub template: &'static str,
    /// The wasm filter for `{{FILTER_WASM}}`, if any.
    pub wasm: Option<PathBuf>,
    /// The plugin configuration for `{{PLUGIN_CONFIG}}`, if any.
    pub plugin: Option<&'static str>,
}

/// The empty filter's configuration that makes it the floor: per request it reads the request's
/// `content-type`, the clock and the response's `:status` (three host calls), the least any
/// filter that tells gRPC from HTTP and sees outcomes can do. See `harness/guests/empty-filter`.
pub const FLOOR: &str = "observe";

/// The floor plus the two router headers of a retry policy: what Envoy charges for honouring
/// them, which breakwater's retries cannot avoid (the router does the retrying).
pub const FLOOR_RETRY: &str = "observe-retry";

impl Setup {
    fn new(name: &str, template: &'static str, wasm: Option<PathBuf>) -> Setup {
        Setup {
            name: name.to_owned(),
            template,
            wasm,
            plugin: None,
        }
    }

    /// Whether this setup runs breakwater (its wasm can be swapped, its counters read).
    pub fn is_breakwater(&self) -> bool {
        self.template == "bench-breakwater.yaml"
    }

    /// breakwater from the wasm file `wasm` with the demo-like policy (e.g. a filter built with
    /// another `opt-level`, to compare builds within one run).
    pub fn breakwater(name: &str, wasm: PathBuf) -> Setup {
        Setup {
            plugin: Some(DEMO_LIKE),
            ..Setup::new(name, "bench-breakwater.yaml", Some(wasm))
        }
    }
}

/// Every setup, in report order. The first two are the baselines of the ratios.
pub fn all() -> Vec<Setup> {
    let filter = artifacts::BREAKWATER_FILTER.path().to_path_buf();
    let empty = artifacts::EMPTY_FILTER.path().to_path_buf();
    vec![
        Setup::new("no-wasm", "bench-nowasm.yaml", None),
        Setup {
            plugin: Some(""),
            ..Setup::new("empty-wasm", "bench-empty.yaml", Some(empty.clone()))
        },
        Setup {
            plugin: Some(FLOOR),
            ..Setup::new("floor-wasm", "bench-empty.yaml", Some(empty.clone()))
        },
        Setup {
            plugin: Some(FLOOR_RETRY),
            ..Setup::new("floor-retry-wasm", "bench-empty.yaml", Some(empty))
        },
        Setup::breakwater("breakwater", filter.clone()),
        Setup {
            plugin: Some(BREAKER_RETRY),
            ..Setup::new(
                "breakwater-breaker-retry",
                "bench-breakwater.yaml",
                Some(filter),
            )
        },
        Setup::new("native", "bench-native.yaml", None),
        Setup {
            plugin: Some(DEMO_LIKE),
            ..Setup::new("module", MODULE_TEMPLATE, None)
        },
        Setup {
            plugin: Some(NO_RETRY),
            ..Setup::new("module-no-retry", MODULE_TEMPLATE, None)
        },
    ]
}

/// The scaling setups (issue 20): the wasm filter and the module with 1, 1,000 and 10,000
/// per-cluster policies, the request matching the last. Run with `loadgen ab --only
/// scale-…`; not in [`all`]'s default report.
pub fn scale() -> Vec<Setup> {
    let filter = artifacts::BREAKWATER_FILTER.path().to_path_buf();
    let mut out = Vec::new();
    for n in [1, 1_000, 10_000] {
        out.push(Setup {
            plugin: Some(per_cluster(n)),
            ..Setup::new(
                &format!("scale-wasm-{n}"),
                "bench-breakwater.yaml",
                Some(filter.clone()),
            )
        });
        out.push(Setup {
            plugin: Some(per_cluster(n)),
            ..Setup::new(&format!("scale-module-{n}"), MODULE_TEMPLATE, None)
        });
    }
    out
}

/// breakwater as a native Envoy dynamic module (`libbreakwater.so`) with the demo-like policy.
pub const MODULE_TEMPLATE: &str = "bench-module.yaml";

/// How long and how hard each measurement runs.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Closed-loop warm-up (not recorded).
    pub warmup: Duration,
    /// Closed-loop measurement.
    pub closed: Duration,
    /// Closed-loop connections.
    pub connections: usize,
    /// Open-loop measurement.
    pub open: Duration,
    /// Open-loop rate (requests per second, total).
    pub rate: f64,
    /// Open-loop connections.
    pub open_connections: usize,
}

/// One setup measured once at one concurrency.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The round it was taken in (set by [`super::run`]).
    pub round: usize,
    /// The setup's name.
    pub setup: String,
    /// Envoy's `--concurrency`.
    pub concurrency: u32,
    /// Closed loop.
    pub closed: LoadReport,
    /// Envoy CPU per answered request in the closed loop (µs).
    pub cpu_us_closed: f64,
    /// Open loop.
    pub open: LoadReport,
    /// Envoy CPU per answered request in the open loop (µs).
    pub cpu_us_open: f64,
    /// Shared-data calls per request over the closed loop (breakwater only).
    pub shared_data_per_request: Option<f64>,
    /// Envoy's resident memory after the loads (bytes).
    pub rss: u64,
}

/// Quiet time around a measurement: lets the filter's tick flush its counters (one tick is
/// 100 ms) so the shared-data counter read before and after covers exactly the measured load.
const SETTLE: Duration = Duration::from_millis(250);

fn error(what: &str) -> EnvoyError {
    EnvoyError::Admin(what.to_owned())
}

/// Starts `setup`'s Envoy at `concurrency` in front of the upstream at `upstream_port` (its
/// listener is named `main`).
pub fn start(setup: &Setup, concurrency: u32, upstream_port: u16) -> Result<Envoy, EnvoyError> {
    builder(setup, concurrency, upstream_port).start()
}

/// `setup`'s Envoy at `concurrency` in front of the upstream at `upstream_port`, ready to start
/// or validate.
pub fn builder(setup: &Setup, concurrency: u32, upstream_port: u16) -> EnvoyBuilder {
    let mut builder = Envoy::from_template(setup.template)
        .upstream_port(upstream_port)
        .concurrency(concurrency)
        .log_level("warn");
    if let Some(wasm) = &setup.wasm {
        builder = builder.filter_wasm(wasm);
    }
    if setup.template == MODULE_TEMPLATE {
        builder = builder.dynamic_module(artifacts::BREAKWATER_MODULE.path());
    }
    if let Some(json) = setup.plugin {
        builder = builder.plugin_config(json);
    }
    builder
}

/// Starts `setup` at `concurrency` against the upstream at `upstream_port`, measures it, stops it.
pub fn measure(
    setup: &Setup,
    concurrency: u32,
    upstream_port: u16,
    load: &Load,
) -> Result<Sample, EnvoyError> {
    let envoy = start(setup, concurrency, upstream_port)?;
    let addr: SocketAddr = envoy.listener("main")?;
    let pid = envoy.pid();
    let shared_calls = || -> Result<Option<u64>, EnvoyError> {
        if setup.is_breakwater() {
            envoy.stat(SHARED_DATA_STAT)
        } else {
            Ok(None)
        }
    };
    let cpu = || procfs::cpu_time(pid).ok_or_else(|| error("cannot read /proc/<envoy>/stat"));

    loadgen::closed_loop(addr, load.connections, load.warmup);
    sleep(SETTLE);
    let calls0 = shared_calls()?;
    let cpu0 = cpu()?;
    let closed = loadgen::closed_loop(addr, load.connections, load.closed);
    let cpu1 = cpu()?;
    sleep(SETTLE);
    let calls1 = shared_calls()?;
    let cpu2 = cpu()?;
    let open = loadgen::open_loop(addr, load.open_connections, load.rate, load.open);
    let cpu3 = cpu()?;
    let rss = procfs::rss_bytes(pid).unwrap_or(0);
    drop(envoy);

    if closed.ok == 0 || open.ok == 0 {
        return Err(error(&format!(
            "{}: no successful request (closed {} errors, open {} errors)",
            setup.name, closed.errors, open.errors
        )));
    }
    let per_request = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n as f64;
    Ok(Sample {
        round: 0,
        setup: setup.name.clone(),
        concurrency,
        cpu_us_closed: per_request(cpu1.saturating_sub(cpu0), closed.ok),
        cpu_us_open: per_request(cpu3.saturating_sub(cpu2), open.ok),
        shared_data_per_request: match (calls0, calls1) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / closed.ok as f64),
            _ => None,
        },
        closed,
        open,
        rss,
    })
}
