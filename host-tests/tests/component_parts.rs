//! The standalone resources (`circuit-breaker`, `bulkhead`, `retry-schedule`,
//! `fault-injector`) and their section-config errors, through the generated bindings.

use breakwater_core::random::SplitMix64;
use breakwater_core::retry::RetryConfig;
use component_host::Guest;
use component_host::bindings::exports::breakwater::resilience::bulkhead::BulkheadAdmission;
use component_host::bindings::exports::breakwater::resilience::circuit_breaker::Admission;
use component_host::bindings::exports::breakwater::resilience::fault_injection::{
    AbortStatus, Fault,
};
use component_host::{BreakerState, ConfigError};
use wasmtime::component::ResourceAny;

const MS: u64 = 1_000_000;

fn guest() -> Guest {
    Guest::new().expect("instantiates")
}

fn breaker(g: &mut Guest, json: &str) -> Result<ResourceAny, ConfigError> {
    let api = g
        .bindings
        .breakwater_resilience_circuit_breaker()
        .circuit_breaker();
    api.call_constructor(&mut g.store, json, Some(3))
        .expect("no trap")
}

fn paths(e: &ConfigError) -> Vec<&str> {
    e.problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn breaker_section_errors_name_their_fields() {
    let mut g = guest();
    let e = breaker(
        &mut g,
        r#"{"failure_rate_threshold": 2.0, "window_size": 300}"#,
    )
    .unwrap_err();
    assert_eq!(
        paths(&e),
        ["failure_rate_threshold", "window_size"],
        "{e:?}"
    );
    assert!(
        e.problems[0].reason.contains("must be in (0, 1], got 2"),
        "{e:?}"
    );
    let e = breaker(&mut g, r#"{"failure_treshold": 2}"#).unwrap_err();
    assert_eq!(paths(&e), ["failure_treshold"], "{e:?}");
    assert!(e.problems[0].reason.contains("unknown field"), "{e:?}");
    let e = breaker(&mut g, r#"{"mode": "shadow"}"#).unwrap_err();
    assert_eq!(paths(&e), ["mode"], "{e:?}");
    let e = breaker(&mut g, r#"{} trailing"#).unwrap_err();
    assert!(e.problems[0].reason.contains("invalid JSON"), "{e:?}");
}

#[test]
fn breaker_opens_probes_and_closes() {
    let mut g = guest();
    let b = breaker(
        &mut g,
        r#"{"failure_threshold": 2, "recovery_timeout_ms": 500,
            "half_open_max_calls": 1, "half_open_success_threshold": 1}"#,
    )
    .expect("valid");
    let api = g
        .bindings
        .breakwater_resilience_circuit_breaker()
        .circuit_breaker();
    let s = &mut g.store;
    assert_eq!(api.call_acquire(&mut *s, b, 0).unwrap(), Admission::Admit);
    api.call_record_outcome(&mut *s, b, 0, true, false).unwrap();
    assert_eq!(api.call_consecutive_failures(&mut *s, b).unwrap(), 1);
    api.call_record_outcome(&mut *s, b, MS, true, true).unwrap();
    assert_eq!(api.call_state(&mut *s, b, MS).unwrap(), BreakerState::Open);
    assert_eq!(
        api.call_acquire(&mut *s, b, MS).unwrap(),
        Admission::Reject(500 * MS)
    );
    // Past the open time the state reads half-open before any call comes (issue 14, item 8).
    assert_eq!(
        api.call_state(&mut *s, b, 501 * MS).unwrap(),
        BreakerState::HalfOpen
    );
    assert_eq!(
        api.call_state(&mut *s, b, 500 * MS).unwrap(),
        BreakerState::Open
    );
    assert_eq!(
        api.call_rejects_for(&mut *s, b, 101 * MS).unwrap(),
        Some(400 * MS)
    );

    let Admission::Probe(probe) = api.call_acquire(&mut *s, b, 501 * MS).unwrap() else {
        panic!("expected a probe");
    };
    assert_eq!(
        api.call_state(&mut *s, b, 502 * MS).unwrap(),
        BreakerState::HalfOpen
    );
    // The only probe is leased: a second caller waits.
    assert!(matches!(
        api.call_acquire(&mut *s, b, 502 * MS).unwrap(),
        Admission::Reject(_)
    ));
    // An unknown probe id is ignored.
    api.call_probe_result(&mut *s, b, 502 * MS, probe + 99, false)
        .unwrap();
    assert_eq!(
        api.call_state(&mut *s, b, 502 * MS).unwrap(),
        BreakerState::HalfOpen
    );
    api.call_probe_result(&mut *s, b, 503 * MS, probe, false)
        .unwrap();
    assert_eq!(
        api.call_state(&mut *s, b, 503 * MS).unwrap(),
        BreakerState::Closed
    );
    assert_eq!(api.call_rejects_for(&mut *s, b, 503 * MS).unwrap(), None);
    let stats = api.call_stats(&mut *s, b).unwrap();
    assert_eq!(
        (stats.failures, stats.slow, stats.transitions),
        (2, 1, 3),
        "{stats:?}"
    );
}

#[test]
fn a_released_probe_frees_its_lease() {
    let mut g = guest();
    let b = breaker(
        &mut g,
        r#"{"failure_threshold": 1, "recovery_timeout_ms": 10,
            "half_open_max_calls": 1, "half_open_success_threshold": 1}"#,
    )
    .expect("valid");
    let api = g
        .bindings
        .breakwater_resilience_circuit_breaker()
        .circuit_breaker();
    let s = &mut g.store;
    api.call_record_outcome(&mut *s, b, 0, true, false).unwrap();
    let Admission::Probe(p) = api.call_acquire(&mut *s, b, 20 * MS).unwrap() else {
        panic!("expected a probe");
    };
    api.call_probe_release(&mut *s, b, 21 * MS, p).unwrap();
    assert!(
        matches!(api.call_acquire(&mut *s, b, 22 * MS).unwrap(), Admission::Probe(q) if q != p)
    );
}

#[test]
fn bulkhead_grants_queues_wakes_expires_and_cancels() {
    let mut g = guest();
    let api = g.bindings.breakwater_resilience_bulkhead().bulkhead();
    let s = &mut g.store;
    let e = api
        .call_constructor(&mut *s, r#"{"max_concurrent": 0, "queue_size": 20000}"#)
        .expect("no trap")
        .unwrap_err();
    assert_eq!(paths(&e), ["max_concurrent", "queue_size"], "{e:?}");

    let b = api
        .call_constructor(
            &mut *s,
            r#"{"max_concurrent": 1, "queue_size": 2, "queue_timeout_ms": 100}"#,
        )
        .expect("no trap")
        .expect("valid");
    assert_eq!(
        api.call_acquire(&mut *s, b, 0).unwrap(),
        BulkheadAdmission::Granted
    );
    let BulkheadAdmission::Queued((w1, d1)) = api.call_acquire(&mut *s, b, 0).unwrap() else {
        panic!("expected queued");
    };
    assert_eq!(d1, 100 * MS);
    let BulkheadAdmission::Queued((w2, _)) = api.call_acquire(&mut *s, b, 10 * MS).unwrap() else {
        panic!("expected queued");
    };
    assert_eq!(
        api.call_acquire(&mut *s, b, 10 * MS).unwrap(),
        BulkheadAdmission::Full
    );
    let c = api.call_counts(&mut *s, b).unwrap();
    assert_eq!((c.inflight, c.queued), (1, 2));
    assert_eq!(api.call_next_deadline(&mut *s, b).unwrap(), Some(100 * MS));

    assert_eq!(api.call_release(&mut *s, b).unwrap(), vec![w1]);
    assert!(api.call_cancel(&mut *s, b, w2).unwrap());
    assert!(!api.call_cancel(&mut *s, b, w2).unwrap());
    let BulkheadAdmission::Queued((w3, d3)) = api.call_acquire(&mut *s, b, 20 * MS).unwrap() else {
        panic!("expected queued");
    };
    assert!(api.call_expire(&mut *s, b, d3 - 1).unwrap().is_empty());
    assert_eq!(api.call_expire(&mut *s, b, d3).unwrap(), vec![w3]);
    let c = api.call_counts(&mut *s, b).unwrap();
    assert_eq!((c.inflight, c.queued), (1, 0));
    assert_eq!(api.call_next_deadline(&mut *s, b).unwrap(), None);
}

#[test]
fn retry_schedules_match_core_for_the_same_seed() {
    let mut g = guest();
    let retry = g.bindings.breakwater_resilience_retry();
    let api = retry.retry_schedule();
    let s = &mut g.store;
    let json = r#"{"max_retries": 4, "backoff": "exponential_jitter", "jitter_mode": "equal",
                   "base_delay_ms": 10, "max_delay_ms": 200}"#;
    let sched = api
        .call_constructor(&mut *s, json, Some(42))
        .expect("no trap")
        .expect("valid");
    assert_eq!(api.call_remaining(&mut *s, sched).unwrap(), 4);
    let mut got = Vec::new();
    while let Some(d) = api.call_next_delay(&mut *s, sched).unwrap() {
        got.push(d);
    }
    assert_eq!(api.call_attempt(&mut *s, sched).unwrap(), 4);
    assert_eq!(api.call_remaining(&mut *s, sched).unwrap(), 0);
    let config = RetryConfig::from_json(json).unwrap();
    let want: Vec<u64> = config
        .backoff()
        .schedule(SplitMix64::new(42))
        .map(|d| d.as_nanos())
        .collect();
    assert_eq!(got, want);
    assert!(got.iter().all(|d| *d <= 200 * MS));

    let e = api
        .call_constructor(
            &mut *s,
            r#"{"max_retries": 50, "budget": {"window_ms": 0}}"#,
            None,
        )
        .expect("no trap")
        .unwrap_err();
    assert_eq!(paths(&e), ["max_retries", "budget.window_ms"], "{e:?}");

    let now = 1_700_000_000 * 1_000 * MS;
    assert_eq!(
        retry.call_parse_retry_after(&mut *s, "3", now).unwrap(),
        Some(3_000 * MS)
    );
    assert_eq!(
        retry.call_parse_retry_after(&mut *s, "soon", now).unwrap(),
        None
    );
}

#[test]
fn fault_injector_aborts_on_the_header_and_caps_active_faults() {
    let mut g = guest();
    let api = g
        .bindings
        .breakwater_resilience_fault_injection()
        .fault_injector();
    let s = &mut g.store;
    let e = api
        .call_constructor(
            &mut *s,
            r#"{"abort_rate": 2, "abort_http_status": 99}"#,
            None,
        )
        .expect("no trap")
        .unwrap_err();
    assert_eq!(paths(&e), ["abort_rate", "abort_http_status"], "{e:?}");

    let json = r#"{"enabled": true, "abort_http_status": 502, "abort_grpc_status": 13,
                   "max_active": 1}"#;
    let f = api
        .call_constructor(&mut *s, json, Some(1))
        .expect("no trap")
        .expect("valid");
    assert_eq!(api.call_decide(&mut *s, f, false).unwrap(), None);
    let abort = Fault::Abort(AbortStatus {
        http_status: 502,
        grpc_status: 13,
    });
    assert_eq!(api.call_decide(&mut *s, f, true).unwrap(), Some(abort));
    assert_eq!(api.call_active(&mut *s, f).unwrap(), 1);
    assert_eq!(
        api.call_decide(&mut *s, f, true).unwrap(),
        None,
        "max_active"
    );
    api.call_finish(&mut *s, f).unwrap();
    assert_eq!(api.call_active(&mut *s, f).unwrap(), 0);

    let delays = api
        .call_constructor(
            &mut *s,
            r#"{"enabled": true, "delay_rate": 1.0, "delay_ms": 40}"#,
            None,
        )
        .expect("no trap")
        .expect("valid");
    assert_eq!(
        api.call_decide(&mut *s, delays, false).unwrap(),
        Some(Fault::Delay(40 * MS))
    );
}
