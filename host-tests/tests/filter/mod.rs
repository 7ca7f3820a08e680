//! Shared helpers of the filter's harness tests: configurations and small drivers.

#![allow(dead_code)] // each test binary uses a different subset

use artifacts::BREAKWATER_FILTER;
use proxywasm_host::{Envoy, Exchange, HostError};

/// A breaker that trips on 5 consecutive failures and probes after 30 s with 2 probes, no
/// jitter, so retry-after values are exact.
pub(crate) const BREAKER: &str = r#"{
  "service": "checkout",
  "policies": [{
    "name": "api",
    "breaker": {
      "failure_threshold": 5, "recovery_timeout_ms": 30000, "recovery_jitter": 0,
      "recovery_backoff": 1.0, "half_open_max_calls": 2, "half_open_success_threshold": 2,
      "minimum_calls": 100
    }
  }]
}"#;

/// Starts the real filter on `workers` VMs with `config`.
pub(crate) fn start(workers: usize, config: &str) -> Result<Envoy, HostError> {
    Envoy::start(&BREAKWATER_FILTER, workers, config)
}

/// A GET on `worker` that the upstream answers with `status`.
pub(crate) fn call(envoy: &Envoy, worker: usize, status: u32) -> Result<(), HostError> {
    let req = envoy.worker(worker).get("/pay").send()?;
    req.expect_continued();
    req.upstream(status)?.expect_finished();
    Ok(())
}

/// Sends `n` failing (503) requests on `worker`.
pub(crate) fn fail(envoy: &Envoy, worker: usize, n: usize) -> Result<(), HostError> {
    for _ in 0..n {
        call(envoy, worker, 503)?;
    }
    Ok(())
}

/// Whether the request was answered locally by breakwater with `status`.
pub(crate) fn rejected_with(req: &Exchange<'_>, status: u32) -> bool {
    req.stream()
        .local_reply()
        .is_some_and(|r| r.status == status)
}

/// `policy`'s metric (a counter or gauge of core's table: `requests_total`, `breaker_state`, …)
/// as the filter names it for the stats tags: `envoy.breakwater.<metric>.policy.<policy>`.
pub(crate) fn metric(envoy: &Envoy, policy: &str, name: &str) -> Option<i64> {
    envoy.metric(&format!("envoy.breakwater.{name}.policy.{policy}"))
}

/// `policy`'s rejections for `reason` (`circuit_open`, `bulkhead_full`, …).
pub(crate) fn rejections(envoy: &Envoy, policy: &str, reason: &str) -> Option<i64> {
    envoy.metric(&format!(
        "envoy.breakwater.rejections_total.policy.{policy}.reason.{reason}"
    ))
}

/// A filter-wide metric (`cas_give_ups_total`, `shared_data_calls_total`, …).
pub(crate) fn filter_metric(envoy: &Envoy, name: &str) -> Option<i64> {
    envoy.metric(&format!("envoy.breakwater.{name}"))
}
