//! Shared set-up of the real-Envoy tests: the test upstream and Envoy 1.40 (2 workers) with one
//! of breakwater's Envoy adapters (the wasm filter by default, or the dynamic module),
//! configured from a file in `envoy/scenarios/`. Tests of the public contract take the adapter
//! as an argument and run on both.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use artifacts::{BREAKWATER_FILTER, BREAKWATER_MODULE};
use envoy_kit::client::{HttpRequest, HttpResponse};
use envoy_kit::envoy::{self, Envoy};
use envoy_kit::upstream::UpstreamServer;

/// How long any one wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Each named test function (taking an [`Adapter`]) as two tests, `filter::<name>` and
/// `module::<name>`: the public contract is the same on both Envoy adapters.
#[allow(unused_macros)] // each test binary uses a different subset of this module
macro_rules! on_both_adapters {
    ($($name:ident),+ $(,)?) => {
        mod filter {
            $(#[test]
            fn $name() {
                super::$name(super::Adapter::Filter)
            })+
        }
        mod module {
            $(#[test]
            fn $name() {
                super::$name(super::Adapter::Module)
            })+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_adapters;

/// Which of breakwater's Envoy adapters a stack runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Adapter {
    /// The proxy-wasm filter (`envoy/demo.yaml`).
    Filter,
    /// The dynamic module (`envoy/module.yaml`).
    Module,
}

/// A running stack: upstream, Envoy, and Envoy's listener address.
pub(crate) struct Stack {
    pub(crate) upstream: UpstreamServer,
    pub(crate) envoy: Envoy,
    pub(crate) addr: SocketAddr,
    pub(crate) adapter: Adapter,
}

/// The text of `envoy/scenarios/<name>.json`.
pub(crate) fn scenario(name: &str) -> String {
    let path = envoy::config_dir()
        .join("scenarios")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Starts the upstream and Envoy with the filter and `plugin_config` on `workers` workers.
pub(crate) fn start_with(plugin_config: &str, workers: u32) -> Stack {
    start_on(Adapter::Filter, plugin_config, workers)
}

/// Starts the upstream and Envoy with `adapter` and `plugin_config` on `workers` workers.
pub(crate) fn start_on(adapter: Adapter, plugin_config: &str, workers: u32) -> Stack {
    let upstream = UpstreamServer::start().expect("upstream starts");
    let builder = match adapter {
        Adapter::Filter => Envoy::from_template("demo.yaml").filter_wasm(BREAKWATER_FILTER.path()),
        Adapter::Module => {
            Envoy::from_template("module.yaml").dynamic_module(BREAKWATER_MODULE.path())
        }
    };
    let envoy = builder
        .upstream_port(upstream.port())
        .plugin_config(plugin_config)
        // Access log lines reach the log file within 50 ms (default: 10 s).
        .arg("--file-flush-interval-msec")
        .arg("50")
        .concurrency(workers)
        .start()
        .unwrap_or_else(|e| panic!("envoy starts: {e}"));
    let addr = envoy.listener("main").expect("listener `main`");
    Stack {
        upstream,
        envoy,
        addr,
        adapter,
    }
}

/// Starts the stack of `envoy/scenarios/<name>.json` with 2 workers.
pub(crate) fn start(name: &str) -> Stack {
    start_with(&scenario(name), 2)
}

impl Stack {
    /// A GET through Envoy (a fresh connection, so the requests spread over the workers).
    pub(crate) fn get(&self, path: &str) -> HttpResponse {
        HttpRequest::get(path)
            .header("connection", "close")
            .send(self.addr)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Where this adapter's metrics live in `/stats`: the filter's under
    /// `wasmcustom.envoy.breakwater.` (the name carries the labels, for the stats tags), the
    /// module's under `breakwater.` (its `metrics_namespace`), labels appended by Envoy.
    fn stat_prefix(&self) -> &'static str {
        match self.adapter {
            Adapter::Filter => "wasmcustom.envoy.breakwater.",
            Adapter::Module => "breakwater.",
        }
    }

    /// One of `policy`'s metrics (a counter or gauge of core's table, e.g. `requests_total`,
    /// `bulkhead_inflight`), whichever adapter runs; 0 when not yet written.
    pub(crate) fn stat(&self, policy: &str, metric: &str) -> u64 {
        self.raw_stat(&format!("{metric}.policy.{policy}"))
    }

    /// `policy`'s rejections for `reason` (`circuit_open`, `bulkhead_full`, `queue_timeout`,
    /// `injected_fault`); 0 when none yet.
    pub(crate) fn rejections(&self, policy: &str, reason: &str) -> u64 {
        self.raw_stat(&format!("rejections_total.policy.{policy}.reason.{reason}"))
    }

    /// A metric without labels (`cas_give_ups_total`, `module_hook_failures_total`, …).
    pub(crate) fn engine_stat(&self, metric: &str) -> u64 {
        self.raw_stat(metric)
    }

    fn raw_stat(&self, rest: &str) -> u64 {
        let full = format!("{}{rest}", self.stat_prefix());
        self.envoy.stat(&full).ok().flatten().unwrap_or(0)
    }
}

/// The `x-breakwater` reason of a local reply, if it was one.
pub(crate) fn breakwater(rsp: &HttpResponse) -> Option<&str> {
    rsp.header("x-breakwater")
}
