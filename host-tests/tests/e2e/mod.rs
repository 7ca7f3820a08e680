//! Shared set-up of the real-Envoy tests: the test upstream and Envoy 1.40 (2 workers) with the
//! real filter, configured from a file in `envoy/scenarios/`.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use artifacts::BREAKWATER_FILTER;
use envoy_kit::client::{HttpRequest, HttpResponse};
use envoy_kit::envoy::{self, Envoy};
use envoy_kit::upstream::UpstreamServer;

/// How long any one wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A running stack: upstream, Envoy, and Envoy's listener address.
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

/// Starts the upstream and Envoy with `plugin_config` on `workers` worker threads.
pub(crate) fn start_with(plugin_config: &str, workers: u32) -> Stack {
    let upstream = UpstreamServer::start().expect("upstream starts");
    let envoy = Envoy::from_template("demo.yaml")
        .upstream_port(upstream.port())
        .filter_wasm(BREAKWATER_FILTER.path())
        .plugin_config(plugin_config)
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
    /// A GET through Envoy (a fresh connection, so the requests spread over the workers).
    pub(crate) fn get(&self, path: &str) -> HttpResponse {
        HttpRequest::get(path)
            .header("connection", "close")
            .send(self.addr)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// One of breakwater's metrics (`breakwater.<policy>.<name>`) from Envoy's stats, where wasm
    /// metrics live under the `wasmcustom.` namespace (0 when not yet defined).
    pub(crate) fn stat(&self, name: &str) -> u64 {
        self.envoy
            .stat(&format!("wasmcustom.{name}"))
            .ok()
            .flatten()
            .unwrap_or(0)
    }
}

/// The `x-breakwater` reason of a local reply, if it was one.
pub(crate) fn breakwater(rsp: &HttpResponse) -> Option<&str> {
    rsp.header("x-breakwater")
}
