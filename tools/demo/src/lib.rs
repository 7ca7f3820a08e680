//! `make demo`: breakwater protecting a service in real Envoy, narrated and checked.
//!
//! The demo starts the test upstream (in-process, so its counters are exact) and Envoy 1.40
//! (`--concurrency 2`) with `envoy/demo.yaml` and `envoy/demo.json`, then runs the scripted
//! scenario of [`scenario::STEPS`]: healthy traffic, the breaker opening and recovering, a
//! bulkhead burst, failure injection, retries within a budget, and a gRPC call rejected while
//! its breaker is open. Every step *checks* what it claims (against the clients' answers and the
//! upstream's counters), so the demo is also an end-to-end test: a claim that does not hold
//! ends it with a non-zero exit and the evidence. At the end it prints a summary table and
//! breakwater's Prometheus lines, and writes a self-contained HTML timeline.
//!
//! Files, one job each: [`scenario`] (steps, context, checks) with the steps themselves in
//! [`steps_breaker`] and [`steps_edge`]; [`narrate`] (terminal output); [`record`] (the log of
//! requests and states); [`table`] (the per-step table, from the records); [`summary`]
//! (printing it, Prometheus lines); [`timeline`] (HTML); [`read_table`] (reading a page's table
//! back, for the checks); [`serve`] (`make envoy`: the same stack left running for curl);
//! [`interrupt`] (Ctrl-C).
//!
//! Every process it starts is owned by a Drop guard ([`Stack`]): the stack is torn down on
//! success, on a failed check, on a setup error and on Ctrl-C alike.

pub mod interrupt;
pub mod narrate;
pub mod read_table;
pub mod record;
pub mod scenario;
pub mod serve;
pub mod steps_breaker;
pub mod steps_edge;
pub mod summary;
pub mod table;
pub mod timeline;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use artifacts::{BREAKWATER_FILTER, BREAKWATER_MODULE};
use envoy_kit::envoy::{self, Envoy};
use envoy_kit::upstream::UpstreamServer;
use narrate::{Narrator, Style};
use record::Recorder;
use scenario::Ctx;

/// Why the demo stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoError {
    /// Starting or reading the stack failed (Envoy missing, config refused, …).
    Setup(String),
    /// A step's claim did not hold.
    Check {
        /// The step's title.
        step: String,
        /// The claim.
        claim: String,
        /// What was observed instead.
        detail: String,
    },
    /// Ctrl-C (or SIGTERM/SIGHUP).
    Interrupted,
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(m) => write!(f, "setup failed: {m}"),
            Self::Check {
                step,
                claim,
                detail,
            } => write!(f, "step \"{step}\": {claim}\n  observed: {detail}"),
            Self::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for DemoError {}

/// The demo's processes. Field order is drop order: Envoy stops before the upstream.
#[derive(Debug)]
pub struct Stack {
    /// Envoy (stopped by its `Drop`: SIGTERM, then SIGKILL).
    pub envoy: Envoy,
    /// The upstream (stopped by its `Drop`).
    pub upstream: UpstreamServer,
    /// Envoy's listener `main`.
    pub addr: SocketAddr,
}

/// Which of breakwater's Envoy adapters the demo runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Adapter {
    /// The proxy-wasm filter (`envoy/demo.yaml`), the default.
    #[default]
    Filter,
    /// The dynamic module (`envoy/module.yaml`, `libbreakwater.so`).
    Module,
}

impl Adapter {
    /// `filter` or `module`, as `--adapter` and `make demo ADAPTER=…` name them.
    pub fn from_name(name: &str) -> Option<Adapter> {
        match name {
            "filter" | "wasm" => Some(Adapter::Filter),
            "module" => Some(Adapter::Module),
            _ => None,
        }
    }

    /// How the banner names it.
    pub fn describe(self) -> &'static str {
        match self {
            Adapter::Filter => "the wasm filter, envoy/demo.yaml",
            Adapter::Module => "the dynamic module libbreakwater.so, envoy/module.yaml",
        }
    }
}

/// `envoy/demo.json`: the demo's plugin configuration.
pub fn demo_config_path() -> PathBuf {
    envoy::config_dir().join("demo.json")
}

impl Stack {
    /// Starts the upstream and Envoy (2 workers) with `adapter` and `envoy/demo.json`.
    pub fn start(adapter: Adapter) -> Result<Self, DemoError> {
        let path = demo_config_path();
        let config = std::fs::read_to_string(&path)
            .map_err(|e| DemoError::Setup(format!("read {}: {e}", path.display())))?;
        let upstream = UpstreamServer::start()
            .map_err(|e| DemoError::Setup(format!("start the upstream: {e}")))?;
        let builder = match adapter {
            Adapter::Filter => {
                Envoy::from_template("demo.yaml").filter_wasm(BREAKWATER_FILTER.path())
            }
            Adapter::Module => {
                Envoy::from_template("module.yaml").dynamic_module(BREAKWATER_MODULE.path())
            }
        };
        let envoy = builder
            .upstream_port(upstream.port())
            .plugin_config(&config)
            .concurrency(2)
            .start()
            .map_err(|e| DemoError::Setup(format!("start Envoy: {e}")))?;
        let addr = envoy
            .listener("main")
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        Ok(Self {
            envoy,
            upstream,
            addr,
        })
    }
}

/// What a finished demo produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The summary rows, one per step.
    pub summary: Vec<record::StepSummary>,
    /// Where the timeline was written.
    pub timeline: PathBuf,
    /// breakwater's lines of `/stats/prometheus`.
    pub prometheus: Vec<String>,
}

/// Runs the whole demo with `adapter`, narrating to `say`, writing the timeline into
/// `out_dir`.
pub fn run(say: &Narrator, out_dir: &Path, adapter: Adapter) -> Result<Report, DemoError> {
    let started = Instant::now();
    say.banner(
        "breakwater demo: a resilience filter protecting a service in real Envoy",
        &format!(
            "Envoy 1.40, 2 workers, {} + envoy/demo.json; upstream on 127.0.0.1",
            adapter.describe()
        ),
    );
    say.line(&say.paint(Style::Dim, "starting the upstream and Envoy …"));
    let stack = Stack::start(adapter)?;
    say.line(&format!(
        "listener http://{}  admin http://{}  upstream http://{}",
        stack.addr,
        stack.envoy.admin_addr(),
        stack.upstream.addr()
    ));
    let rec = Recorder::new();
    let mut ctx = Ctx::new(stack.addr, &stack.upstream, &stack.envoy, &rec, say);
    let outcome = scenario::run_steps(&mut ctx);
    // A report is useful after a failed check too: the timeline shows what happened.
    let summary = rec.summary();
    if !matches!(outcome, Err(DemoError::Interrupted)) {
        summary::print_table(say, &summary);
    }
    let timeline = write_timeline(&rec, &summary, out_dir);
    outcome?;
    let text = stack
        .envoy
        .stats_prometheus()
        .map_err(|e| DemoError::Setup(format!("/stats/prometheus: {e}")))?;
    summary::print_prometheus(say, &text, &stack.envoy.admin_addr().to_string());
    let prometheus = summary::prometheus_lines(&text)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let timeline = timeline?;
    say.line("");
    say.line(&format!(
        "timeline: {}",
        say.paint(Style::Bold, &timeline.display().to_string())
    ));
    say.line(&say.paint(
        Style::Green,
        &format!(
            "all {} steps behaved as narrated ({:.1} s)",
            scenario::STEPS.len(),
            started.elapsed().as_secs_f64()
        ),
    ));
    Ok(Report {
        summary,
        timeline,
        prometheus,
    })
}

fn write_timeline(
    rec: &Recorder,
    summary: &[record::StepSummary],
    out_dir: &Path,
) -> Result<PathBuf, DemoError> {
    let (steps, samples, states) = (rec.steps(), rec.samples(), rec.states());
    let html = timeline::Timeline {
        steps: &steps,
        samples: &samples,
        states: &states,
        summary,
    }
    .html();
    let path = out_dir.join("demo-timeline.html");
    std::fs::create_dir_all(out_dir)
        .and_then(|()| std::fs::write(&path, html))
        .map_err(|e| DemoError::Setup(format!("write {}: {e}", path.display())))?;
    Ok(std::path::absolute(&path).unwrap_or(path))
}

/// `<workspace>/out`, where the timeline goes by default (git-ignored).
pub fn default_out_dir() -> PathBuf {
    envoy::workspace_dir().join("out")
}
