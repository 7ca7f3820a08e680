//! What the engine measures for the histograms and reports for the gauges: request durations
//! from admission to response, queue waits from joining the queue to a permit or the deadline,
//! nothing for requests that never ran or never queued.

use super::bulkhead::BULKHEAD;
use super::*;
use crate::engine::metrics::PolicyGauges;
use crate::engine::{Timing, TimingKind};

fn timings(e: &mut TestEngine) -> Vec<(TimingKind, Nanos)> {
    std::iter::from_fn(|| e.poll_timing())
        .map(
            |Timing {
                 policy,
                 kind,
                 duration,
             }| {
                assert_eq!(policy, 0);
                (kind, duration)
            },
        )
        .collect()
}

fn queued(e: &mut TestEngine, now: Nanos) -> Ticket {
    match get(e, now) {
        Decision::Queue { ticket, .. } => ticket,
        other => panic!("expected queue, got {other:?}"),
    }
}

#[test]
fn a_request_is_measured_from_admission_to_response() {
    let mut e = one(r#"{"policies":[{"name":"api"}]}"#);
    let t = proceed(&mut e, ms(100));
    e.on_response(ms(142), t, &Outcome::http(200), 1);
    assert_eq!(timings(&mut e), [(TimingKind::Request, ms(42))]);
    // A cancelled request has no response: nothing to measure.
    let t = proceed(&mut e, ms(200));
    e.cancel(ms(300), t);
    assert!(timings(&mut e).is_empty());
}

#[test]
fn a_queued_request_is_measured_twice_waiting_then_running() {
    let mut e = one(BULKHEAD);
    let a = proceed(&mut e, ms(0));
    let _b = proceed(&mut e, ms(0));
    let q = queued(&mut e, ms(10));
    e.on_response(ms(40), a, &Outcome::http(200), 1);
    assert!(matches!(actions(&mut e).as_slice(), [Action::Resume { ticket }] if *ticket == q));
    e.on_response(ms(100), q, &Outcome::http(200), 1);
    assert_eq!(
        timings(&mut e),
        [
            (TimingKind::Request, ms(40)),
            (TimingKind::QueueWait, ms(30)),
            // Admitted when it got its permit, at 40 ms, not when it arrived.
            (TimingKind::Request, ms(60)),
        ]
    );
}

#[test]
fn a_queue_timeout_is_measured_as_a_wait_and_a_refusal_is_not() {
    let mut e = one(BULKHEAD);
    let _a = proceed(&mut e, ms(0));
    let _b = proceed(&mut e, ms(0));
    let _q = queued(&mut e, ms(100));
    let _q2 = queued(&mut e, ms(100));
    let full = rejected(&mut e, ms(100));
    assert_eq!(full.header("x-breakwater"), Some("bulkhead_full"));
    e.handle_timeout(ms(600));
    assert_eq!(actions(&mut e).len(), 2, "both waiters answered 429");
    assert_eq!(
        timings(&mut e),
        [
            (TimingKind::QueueWait, ms(500)),
            (TimingKind::QueueWait, ms(500))
        ]
    );
}

#[test]
fn a_delayed_request_is_measured_from_the_end_of_its_delay() {
    let mut e = one(r#"{"policies":[{"name":"api",
            "injection":{"enabled":true,"delay_rate":1.0,"delay_ms":250}}]}"#);
    let ticket = match get(&mut e, ms(0)) {
        Decision::Delay { ticket, until } => {
            assert_eq!(until, ms(250));
            ticket
        }
        other => panic!("expected a delay, got {other:?}"),
    };
    e.handle_timeout(ms(250));
    assert!(matches!(
        actions(&mut e).as_slice(),
        [Action::Resume { .. }]
    ));
    e.on_response(ms(260), ticket, &Outcome::http(200), 1);
    assert_eq!(timings(&mut e), [(TimingKind::Request, ms(10))]);
}

#[test]
fn only_a_bulkhead_with_a_queue_measures_waits() {
    let e = one(BULKHEAD);
    assert!(e.measures(0, TimingKind::Request));
    assert!(e.measures(0, TimingKind::QueueWait));
    assert!(!e.measures(1, TimingKind::Request), "no such policy");
    let e = one(r#"{"policies":[{"name":"db","bulkhead":{"max_concurrent":2,"queue_size":0}}]}"#);
    assert!(!e.measures(0, TimingKind::QueueWait));
}

#[test]
fn gauges_exist_only_for_the_parts_a_policy_has() {
    let mut e = one(BULKHEAD);
    let _a = proceed(&mut e, ms(0));
    let _b = proceed(&mut e, ms(0));
    let _q = queued(&mut e, ms(0));
    assert_eq!(
        e.gauges(0, ms(0)),
        Some(PolicyGauges {
            breaker_state: None,
            bulkhead_inflight: Some(2),
            bulkhead_queued: Some(1),
            bulkhead_max_concurrent: Some(2),
            bulkhead_max_queued: Some(2),
            healthy: None,
            health_score_percent: None,
        })
    );
    assert_eq!(e.gauges(1, ms(0)), None);
    let mut e = one(
        r#"{"policies":[{"name":"api","breaker":{"failure_threshold":1,
            "recovery_timeout_ms":1000,"recovery_jitter":0}}]}"#,
    );
    assert_eq!(e.gauges(0, ms(0)).and_then(|g| g.breaker_state), Some(0));
    call(&mut e, ms(1), 503);
    let g = e.gauges(0, ms(2)).expect("policy 0");
    assert_eq!((g.breaker_state, g.bulkhead_inflight), (Some(1), None));
    // Past its open time the breaker reads half-open, as the status endpoint says.
    assert_eq!(e.gauges(0, ms(1001)).and_then(|g| g.breaker_state), Some(2));
}
