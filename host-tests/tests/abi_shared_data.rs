//! Shared data with CAS across workers, and CAS-mismatch injection.

use artifacts::ABI_PROBE;
use proxywasm_host::{Envoy, HostError};

#[test]
fn cas_increments_are_exact_across_two_workers() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, r#"{"cas_retries": 4}"#)?;
    for i in 0..10 {
        let req = envoy.worker(i % 2).get("/").send()?;
        req.expect_request_header("x-probe-count", &(i + 1).to_string());
    }
    assert_eq!(envoy.world().shared_u64("probe.count"), Some(10));
    assert_eq!(envoy.world().cas_mismatches(), 0);
    Ok(())
}

#[test]
fn injected_mismatches_are_retried_and_the_count_stays_exact() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, r#"{"cas_retries": 4}"#)?;
    envoy.worker(0).get("/").send()?;
    envoy.world().fail_next_cas(3);
    envoy
        .worker(1)
        .get("/")
        .send()?
        .expect_request_header("x-probe-count", "2");
    assert_eq!(envoy.world().cas_mismatches(), 3);
    assert_eq!(envoy.world().shared_u64("probe.count"), Some(2));
    Ok(())
}

#[test]
fn a_loop_that_gives_up_writes_nothing() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 2, r#"{"cas_retries": 2}"#)?;
    envoy.world().fail_next_cas(3);
    envoy
        .worker(0)
        .get("/")
        .send()?
        .expect_request_header("x-probe-count", "gave-up");
    assert_eq!(envoy.world().shared_u64("probe.count"), Some(0));
    assert_eq!(envoy.metric("probe.cas_give_ups"), Some(1));
    envoy
        .worker(1)
        .get("/")
        .send()?
        .expect_request_header("x-probe-count", "1");
    Ok(())
}

#[test]
fn a_value_another_worker_wrote_is_read_and_replaced_with_a_fresh_token() -> Result<(), HostError> {
    let envoy = Envoy::start(&ABI_PROBE, 1, "{}")?;
    envoy
        .world()
        .set_shared_data("probe.count", &41u64.to_le_bytes());
    let (_, token) = envoy
        .world()
        .shared_data("probe.count")
        .expect("key exists");
    envoy
        .worker(0)
        .get("/")
        .send()?
        .expect_request_header("x-probe-count", "42");
    let (_, after) = envoy
        .world()
        .shared_data("probe.count")
        .expect("key exists");
    assert_ne!(token, after, "every write takes a fresh CAS token");
    Ok(())
}
