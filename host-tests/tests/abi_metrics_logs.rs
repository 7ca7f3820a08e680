//! Metrics (one stat per name across workers) and captured logs.

use artifacts::ABI_PROBE;
use proxywasm_host::{Envoy, HostError, LogLevel, MetricKind};

#[test]
fn a_metric_defined_on_every_worker_is_one_stat() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, r#"{"prefix": "p"}"#)?;
    envoy.worker(0).get("/").send()?;
    envoy.worker(1).get("/").send()?;
    envoy.worker(1).get("/").send()?;
    assert_eq!(envoy.metric("p.requests"), Some(3));
    let metrics = envoy.world().metrics();
    assert!(metrics.contains(&("p.paused".to_owned(), MetricKind::Gauge, 0)));
    assert!(metrics.contains(&("p.requests".to_owned(), MetricKind::Counter, 3)));
    assert_eq!(envoy.metric("probe.requests"), None);
    Ok(())
}

#[test]
fn logs_are_captured_per_worker_with_level_and_context() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, "{}")?;
    let req = envoy.worker(1).get("/logged").send()?;
    let logs = envoy.worker(1).logs();
    assert!(logs.iter().any(|r| r.level == LogLevel::Info
        && r.context_id == 1
        && r.message.contains("configured")));
    assert!(logs.iter().any(|r| r.context_id == req.id().context_id() && r.message.contains("request /logged")));
    assert!(!envoy.worker(0).log_text().contains("/logged"));
    Ok(())
}
