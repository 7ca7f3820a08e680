//! Shared set-up of the dynamic-module tests: the test upstream and Envoy 1.40 with
//! `libbreakwater.so` loaded through `envoy/module.yaml`, configured from a JSON document (the
//! same `envoy/scenarios/*.json` as the filter's tests).

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use host_tests::client::{HttpRequest, HttpResponse};
use host_tests::envoy::{self, Envoy, EnvoyBuilder};
use host_tests::upstream::UpstreamServer;

/// How long any one wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A running stack: upstream, Envoy with the module, and Envoy's listener address.
pub(crate) struct Stack {
    pub(crate) upstream: UpstreamServer,
    pub(crate) envoy: Envoy,
    pub(crate) addr: SocketAddr,
}

/// The text of `envoy/scenarios/<name>.json`.
pub(crate) fn scenario(name: &str) -> String {
    let path = envoy::config_dir()
        .join("scenarios")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `envoy/module.yaml` with the module found and `config` as its `filter_config`.
pub(crate) fn builder(config: &str, upstream_port: u16) -> EnvoyBuilder {
    Envoy::from_template("module.yaml")
        .upstream_port(upstream_port)
        .dynamic_module()
        .plugin_config(config)
}

/// Starts the upstream and Envoy with the module configured by `config`, on `workers` workers.
pub(crate) fn start_with(config: &str, workers: u32) -> Stack {
    let upstream = UpstreamServer::start().expect("upstream starts");
    let envoy = builder(config, upstream.port())
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
    }
}

/// Starts the stack of `envoy/scenarios/<name>.json` with 2 workers.
pub(crate) fn start(name: &str) -> Stack {
    start_with(&scenario(name), 2)
}

impl Stack {
    /// A GET through Envoy on a fresh connection (so requests spread over the workers).
    pub(crate) fn get(&self, path: &str) -> HttpResponse {
        HttpRequest::get(path)
            .header("connection", "close")
            .send(self.addr)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A module metric: `breakwater.<name>` with label `policy` (counters and gauges live under
    /// Envoy's `dynamicmodulescustom.` namespace, labels appended as `.<label>.<value>`); 0 when
    /// not yet written.
    pub(crate) fn stat(&self, name: &str, policy: &str) -> u64 {
        self.raw_stat(&format!("breakwater.{name}.policy.{policy}"))
    }

    /// A module metric by its full name after `dynamicmodulescustom.` (0 when not written).
    pub(crate) fn raw_stat(&self, name: &str) -> u64 {
        self.envoy
            .stat(&format!("dynamicmodulescustom.{name}"))
            .ok()
            .flatten()
            .unwrap_or(0)
    }
}

/// The `x-breakwater` reason of a local reply, if it was one.
pub(crate) fn breakwater(rsp: &HttpResponse) -> Option<&str> {
    rsp.header("x-breakwater")
}
