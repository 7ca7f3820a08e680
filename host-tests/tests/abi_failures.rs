//! Refused configurations, traps, and the artifacts themselves.

use artifacts::{self, ABI_PROBE};
use proxywasm_host::{Envoy, HostError, Worker, World};

#[test]
fn every_artifact_was_built() {
    for artifact in artifacts::ALL {
        assert!(
            artifact.path().is_file(),
            "{} missing at {}",
            artifact.package(),
            artifact.path().display()
        );
    }
}

#[test]
fn unknown_config_key_is_refused_with_a_reason() {
    match Envoy::start(&ABI_PROBE, 2, r#"{"nope": 1}"#) {
        Err(HostError::ConfigRejected { worker: 0, logs }) => {
            assert!(logs.contains("unknown key `nope`"), "{logs}")
        }
        other => panic!("expected ConfigRejected, got {other:?}"),
    }
}

#[test]
fn malformed_config_makes_on_configure_return_false() -> Result<(), HostError> {
    let mut worker = Worker::new(&World::new(), &ABI_PROBE, 0)?;
    assert!(!worker.configure("{not json")?);
    assert!(worker.log_text().contains("bad configuration"));
    assert!(worker.configure(r#"{"tick_ms": 250}"#)?);
    assert_eq!(worker.tick_period_ms(), 250);
    Ok(())
}

#[test]
fn a_guest_panic_is_a_trap_error_and_the_vm_stays_dead() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, "{}")?;
    match envoy
        .worker(0)
        .get("/")
        .header("x-probe-trap", "true")
        .send()
    {
        Err(HostError::Trap { callback, message }) => {
            assert_eq!(callback, "proxy_on_request_headers");
            assert!(message.contains("abi-probe: trap requested"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(matches!(
        envoy.worker(0).get("/").send(),
        Err(HostError::VmFailed)
    ));
    Ok(())
}

#[test]
fn an_unmodelled_host_call_traps_by_name() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, "{}")?;
    match envoy
        .worker(0)
        .get("/")
        .header("x-probe-callout", "true")
        .send()
    {
        Err(HostError::Trap { message, .. }) => {
            assert!(
                message.contains("env.proxy_http_call is not modelled"),
                "{message}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    Ok(())
}
