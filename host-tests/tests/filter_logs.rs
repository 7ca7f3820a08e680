//! Which log level shows what (envoy/README.md, "Local replies, metrics, logs"): a breaker's
//! whole story (open, half-open, closed) at warn, where proxies usually run (Istio's default is
//! warning), the configuration at info, a refused configuration at error, and nothing per
//! request.

mod filter;

use filter::{BREAKER, call, fail, start};
use proxywasm_host::{Envoy, HostError, LogLevel, LogRecord};

/// The breaker transition lines of worker `w`.
fn transitions(envoy: &Envoy, w: usize) -> Vec<LogRecord> {
    envoy
        .worker(w)
        .logs()
        .into_iter()
        .filter(|r| r.message.starts_with("breakwater transition "))
        .collect()
}

#[test]
fn open_half_open_and_closed_all_log_at_warn() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    fail(&envoy, 0, 5)?;
    envoy.advance_secs(30)?;
    call(&envoy, 0, 200)?;
    call(&envoy, 0, 200)?;
    envoy.advance_millis(100)?;

    let lines = transitions(&envoy, 0);
    let story: Vec<(LogLevel, &str)> = lines
        .iter()
        .map(|r| {
            let from = r.message.find("from=").map_or("", |i| &r.message[i..]);
            (r.level, from.split(" at_ms=").next().unwrap_or(from))
        })
        .collect();
    assert_eq!(
        story,
        vec![
            (
                LogLevel::Warn,
                "from=closed to=open reason=consecutive_failures"
            ),
            (
                LogLevel::Warn,
                "from=open to=half_open reason=recovery_elapsed"
            ),
            (
                LogLevel::Warn,
                "from=half_open to=closed reason=probes_succeeded"
            ),
        ],
        "{}",
        envoy.worker(0).log_text()
    );
    Ok(())
}

#[test]
fn a_proxy_logging_at_warning_still_sees_the_breaker_recover() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    envoy.worker(0).with(|w| w.set_log_level(LogLevel::Warn));
    fail(&envoy, 0, 5)?;
    envoy.advance_secs(30)?;
    call(&envoy, 0, 200)?;
    call(&envoy, 0, 200)?;
    envoy.advance_millis(100)?;
    let log = envoy.worker(0).log_text();
    for step in ["to=open", "to=half_open", "to=closed"] {
        assert!(log.contains(step), "{step} missing at warning:\n{log}");
    }
    Ok(())
}

#[test]
fn the_configuration_logs_at_info_and_healthy_traffic_at_no_level() -> Result<(), HostError> {
    let envoy = start(1, BREAKER)?;
    let configured: Vec<LogLevel> = envoy
        .worker(0)
        .logs()
        .iter()
        .filter(|r| {
            r.message
                .starts_with("breakwater configured service=checkout")
        })
        .map(|r| r.level)
        .collect();
    assert_eq!(configured, vec![LogLevel::Info]);
    let before = envoy.worker(0).logs().len();
    for _ in 0..20 {
        call(&envoy, 0, 200)?;
        fail(&envoy, 0, 1)?;
    }
    envoy.advance_secs(5)?;
    let after = envoy.worker(0).logs();
    assert!(after[before..].is_empty(), "{}", envoy.worker(0).log_text());
    Ok(())
}

#[test]
fn a_refused_configuration_logs_each_problem_at_error() {
    let bad = r#"{"policies": [{"name": "api", "breaker": {"failure_treshold": 5}}]}"#;
    match start(1, bad) {
        Err(HostError::ConfigRejected { logs, .. }) => assert!(
            logs.lines().any(|l| l.starts_with(
                "Error breakwater: invalid configuration: policies[0].breaker.failure_treshold"
            )),
            "{logs}"
        ),
        Err(other) => panic!("expected a refused configuration, got {other}"),
        Ok(_) => panic!("configuration accepted: {bad}"),
    }
}
