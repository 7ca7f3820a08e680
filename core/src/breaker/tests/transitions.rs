//! Exact transition sequences: trips, probes, leases, stale results and late flushes.

use super::*;

#[test]
fn five_consecutive_failures_open_then_probes_close() {
    let c = cfg();
    let mut s = Snapshot::new(&c);
    for i in 0..4 {
        assert_eq!(step(&mut s, &c, FAIL, secs(i)).transition, None);
    }
    let t = step(&mut s, &c, FAIL, secs(4)).transition.unwrap();
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::Closed, State::Open, Reason::ConsecutiveFailures)
    );
    assert_eq!(
        acquire(&mut s, &c, secs(10)),
        Admission::Reject {
            retry_after: secs(24)
        }
    );
    // Recovery elapsed: two probes, a third is refused while they are out.
    let st = step(&mut s, &c, Event::Acquire, secs(34));
    assert_eq!(st.transition.unwrap().to, State::HalfOpen);
    let Some(Admission::Probe(p1)) = st.admission else {
        panic!("{st:?}")
    };
    let Admission::Probe(p2) = acquire(&mut s, &c, secs(34)) else {
        panic!()
    };
    assert!(matches!(
        acquire(&mut s, &c, secs(35)),
        Admission::Reject { .. }
    ));
    assert_eq!(
        step(
            &mut s,
            &c,
            Event::ProbeResult {
                permit: p1,
                failed: false
            },
            secs(35)
        )
        .transition,
        None
    );
    let t = step(
        &mut s,
        &c,
        Event::ProbeResult {
            permit: p2,
            failed: false,
        },
        secs(36),
    )
    .transition
    .unwrap();
    assert_eq!((t.to, t.reason), (State::Closed, Reason::ProbesSucceeded));
    assert_eq!(acquire(&mut s, &c, secs(36)), Admission::Admit);
    assert_eq!(s.stats.transitions, 3);
}

#[test]
fn a_success_resets_the_consecutive_count() {
    let c = cfg();
    let mut s = Snapshot::new(&c);
    for i in 0..4 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let _ = step(&mut s, &c, OK, secs(5));
    for i in 0..4 {
        assert_eq!(step(&mut s, &c, FAIL, secs(6 + i)).transition, None);
    }
    assert_eq!(s.consecutive_failures, 4);
}

#[test]
fn failure_reset_timeout_forgets_old_failures() {
    let c = BreakerConfig {
        failure_reset_timeout_ms: 10_000,
        ..cfg()
    };
    let mut s = Snapshot::new(&c);
    for i in 0..4 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let _ = step(&mut s, &c, FAIL, secs(20)); // 17 s idle: starts again at 1
    assert_eq!(s.consecutive_failures, 1);
    assert_eq!(s.state, State::Closed);
}

#[test]
fn failure_rate_trips_once_minimum_calls_are_seen() {
    let c = BreakerConfig {
        failure_threshold: 0,
        failure_rate_threshold: 0.5,
        minimum_calls: 10,
        window_size: 10,
        ..cfg()
    };
    let mut s = Snapshot::new(&c);
    // Alternate: 50% failures, but only judged at 10 calls.
    for i in 0..9u64 {
        let e = if i % 2 == 0 { FAIL } else { OK };
        assert_eq!(step(&mut s, &c, e, secs(i)).transition, None, "call {i}");
    }
    let t = step(&mut s, &c, OK, secs(9)).transition;
    assert_eq!(t.map(|t| t.reason), Some(Reason::FailureRate));
}

#[test]
fn slow_calls_trip_the_slow_rate() {
    let c = BreakerConfig {
        failure_threshold: 0,
        slow_call_rate_threshold: 0.8,
        minimum_calls: 5,
        window_size: 5,
        ..cfg()
    };
    let mut s = Snapshot::new(&c);
    let slow_ok = Event::Record {
        successes: 1,
        slow_successes: 1,
        failures: 0,
        slow_failures: 0,
    };
    let _ = step(&mut s, &c, OK, secs(0));
    for i in 1..4 {
        assert_eq!(step(&mut s, &c, slow_ok, secs(i)).transition, None);
    }
    // 4 slow of 5 = 0.8
    let t = step(&mut s, &c, slow_ok, secs(4)).transition;
    assert_eq!(t.map(|t| t.reason), Some(Reason::SlowCallRate));
}

#[test]
fn failed_probe_reopens_with_growing_recovery() {
    let c = BreakerConfig {
        recovery_backoff: 2.0,
        max_recovery_timeout_ms: 100_000,
        half_open_max_calls: 1,
        half_open_success_threshold: 1,
        ..cfg()
    };
    let mut s = Snapshot::new(&c);
    for i in 0..5 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    assert_eq!(s.open_until, secs(34));
    let Admission::Probe(p) = acquire(&mut s, &c, secs(34)) else {
        panic!()
    };
    let t = step(
        &mut s,
        &c,
        Event::ProbeResult {
            permit: p,
            failed: true,
        },
        secs(35),
    )
    .transition
    .unwrap();
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::HalfOpen, State::Open, Reason::ProbeFailed)
    );
    assert_eq!(s.open_until, secs(35 + 60));
    let Admission::Probe(p) = acquire(&mut s, &c, secs(95)) else {
        panic!()
    };
    let _ = step(
        &mut s,
        &c,
        Event::ProbeResult {
            permit: p,
            failed: true,
        },
        secs(95),
    );
    assert_eq!(s.open_until, secs(95 + 100)); // 120 capped at 100
}

#[test]
fn an_expired_probe_lease_frees_its_slot() {
    let c = BreakerConfig {
        half_open_max_calls: 1,
        half_open_success_threshold: 1,
        ..cfg()
    };
    let mut s = Snapshot::new(&c);
    for i in 0..5 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let Admission::Probe(lost) = acquire(&mut s, &c, secs(34)) else {
        panic!()
    };
    assert_eq!(
        acquire(&mut s, &c, secs(36)),
        Admission::Reject {
            retry_after: secs(3)
        }
    );
    // The lost probe's lease (5 s) ends at 39 s: a new probe may go.
    let Admission::Probe(p) = acquire(&mut s, &c, secs(39)) else {
        panic!()
    };
    // The lost probe's late answer in the same episode still counts as evidence.
    let _ = lost;
    let t = step(
        &mut s,
        &c,
        Event::ProbeResult {
            permit: p,
            failed: false,
        },
        secs(40),
    )
    .transition;
    assert_eq!(t.map(|t| t.to), Some(State::Closed));
}

#[test]
fn stale_probe_results_are_ignored() {
    let c = BreakerConfig {
        half_open_max_calls: 1,
        half_open_success_threshold: 1,
        ..cfg()
    };
    let mut s = Snapshot::new(&c);
    for i in 0..5 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let Admission::Probe(old) = acquire(&mut s, &c, secs(34)) else {
        panic!()
    };
    let Admission::Probe(p) = acquire(&mut s, &c, secs(40)) else {
        panic!()
    }; // lease expired
    let _ = step(
        &mut s,
        &c,
        Event::ProbeResult {
            permit: p,
            failed: true,
        },
        secs(41),
    ); // reopen
    assert_eq!(s.state, State::Open);
    let Admission::Probe(_) = acquire(&mut s, &c, secs(71)) else {
        panic!()
    };
    // `old` is from episode 1; we are in episode 2.
    let st = step(
        &mut s,
        &c,
        Event::ProbeResult {
            permit: old,
            failed: false,
        },
        secs(72),
    );
    assert_eq!(st.transition, None);
    assert_eq!(s.state, State::HalfOpen);
}

#[test]
fn outcomes_of_pre_open_calls_do_not_move_an_open_breaker() {
    let c = cfg();
    let mut s = Snapshot::new(&c);
    for i in 0..5 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let before = s;
    let _ = step(&mut s, &c, OK, secs(6));
    assert_eq!((s.state, s.open_until), (before.state, before.open_until));
    assert_eq!(s.stats.calls, before.stats.calls + 1);
}

fn flush(successes: u32, failures: u32, latest_success: Nanos) -> Event {
    Event::Flush {
        successes,
        slow_successes: 0,
        failures,
        slow_failures: 0,
        latest_success,
        rejections: 0,
    }
}

#[test]
fn a_late_flush_of_older_successes_keeps_the_failure_streak() {
    let c = cfg();
    let mut s = Snapshot::new(&c);
    // Another worker saw 3 failures at t=2..4 s; this worker's success at t=1 s arrives at 5 s.
    for i in 2..5 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let _ = step(&mut s, &c, flush(1, 0, secs(1)), secs(5));
    assert_eq!(s.consecutive_failures, 3);
    assert_eq!(s.stats.successes, 1);
    // Two more failures trip it: the streak of five was never broken.
    let _ = step(&mut s, &c, FAIL, secs(6));
    let t = step(&mut s, &c, FAIL, secs(6)).transition.unwrap();
    assert_eq!(t.to, State::Open);
}

#[test]
fn a_flushed_success_newer_than_the_last_failure_resets_the_streak() {
    let c = cfg();
    let mut s = Snapshot::new(&c);
    for i in 0..3 {
        let _ = step(&mut s, &c, FAIL, secs(i));
    }
    let _ = step(&mut s, &c, flush(2, 0, secs(3)), secs(5));
    assert_eq!(s.consecutive_failures, 0);
    // A clock stepped back makes "now" the newest: a success written at once still resets.
    let _ = step(&mut s, &c, FAIL, secs(100));
    let _ = step(&mut s, &c, OK, secs(50));
    assert_eq!(s.consecutive_failures, 0);
}
