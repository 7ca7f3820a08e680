//! Several engines over one store: Envoy's worker threads, interleaved by hand.

use super::breaker::BREAKER;
use super::bulkhead::BULKHEAD;
use super::*;
use crate::breaker::State;
use crate::engine::MAX_CAS_ATTEMPTS;
use crate::outcome::Outcome;

#[test]
fn a_breaker_opened_on_one_worker_rejects_on_the_other_within_the_sync_interval() {
    let (mut w, _) = workers(BREAKER, 2);
    for i in 0..5 {
        call(&mut w[0], ms(10 + i), 503);
    }
    assert_eq!(w[0].breaker_state(0), Some(State::Open));
    // Worker 1 read its snapshot at t = 0; within 100 ms it may still admit...
    proceed(&mut w[1], ms(99));
    // ...and from 100 ms on it has refreshed and rejects, with no tick needed.
    let reply = rejected(&mut w[1], ms(100));
    assert_eq!(reply.header("retry-after"), Some("30"));
}

#[test]
fn failures_from_every_worker_add_up() {
    let (mut w, _) = workers(BREAKER, 3);
    for i in 0..5u64 {
        call(&mut w[(i % 3) as usize], ms(i), 500);
    }
    assert_eq!(w[1].breaker_state(0), Some(State::Open)); // worker 1 made the 5th call
}

#[test]
fn batched_successes_reach_the_shared_window_on_the_tick() {
    let (mut w, store) = workers(BREAKER, 2);
    let (g0, s0) = store.calls();
    for i in 0..50 {
        call(&mut w[0], ms(i), 200);
    }
    // Steady state: no shared-data call at all per request.
    assert_eq!(store.calls(), (g0, s0));
    w[0].handle_timeout(ms(100));
    let (g1, s1) = store.calls();
    assert_eq!(
        (g1 - g0, s1 - s0),
        (1, 1),
        "one read and one write per interval"
    );
    w[1].handle_timeout(ms(100));
    let (healthy, text) = w[1].status_json(ms(100));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(healthy);
    assert_eq!(doc["policies"][0]["calls"], 50);
}

#[test]
fn a_success_after_failures_resets_the_streak_for_every_worker() {
    let (mut w, _) = workers(BREAKER, 2);
    for i in 0..4 {
        call(&mut w[0], ms(i), 503);
    }
    w[1].handle_timeout(ms(100)); // worker 1 sees the streak
    call(&mut w[1], ms(101), 200); // written at once: the streak is cached as non-zero
    call(&mut w[0], ms(102), 503);
    assert_eq!(w[0].breaker_state(0), Some(State::Closed));
}

#[test]
fn two_workers_racing_for_the_last_probe_cannot_both_win() {
    let cfg = BREAKER.replace(
        r#""half_open_max_calls":2,"half_open_success_threshold":2"#,
        r#""half_open_max_calls":1,"half_open_success_threshold":1"#,
    );
    let (mut w, store) = workers(&cfg, 2);
    for i in 0..5 {
        call(&mut w[0], ms(i), 503);
    }
    w[1].handle_timeout(ms(100));
    let t = ms(30_004);
    // Worker 1 writes first, without worker 0 knowing: worker 0's CAS must see it.
    let probe = proceed(&mut w[1], t);
    assert_eq!(rejected(&mut w[0], t).http_status, 503);
    store.fail_next_sets(MAX_CAS_ATTEMPTS - 1); // heavy contention, still within the bound
    w[1].on_response(t, probe, &Outcome::http(200), 1);
    assert_eq!(w[1].breaker_state(0), Some(State::Closed));
    assert_eq!(
        w[1].sync_stats().cas_retries,
        u64::from(MAX_CAS_ATTEMPTS - 1)
    );
    assert_eq!(w[1].sync_stats().cas_give_ups, 0);
}

#[test]
fn a_cas_loop_that_gives_up_loses_nothing() {
    let (mut w, store) = workers(BREAKER, 1);
    let e = &mut w[0];
    store.fail_next_sets(10 * MAX_CAS_ATTEMPTS);
    for i in 0..5 {
        call(e, ms(i), 503);
    }
    // Every write gave up: the failures are pending, the breaker not yet open.
    assert_eq!(e.sync_stats().cas_give_ups, 5);
    assert_eq!(e.breaker_state(0), Some(State::Closed));
    store.fail_next_sets(0);
    e.handle_timeout(ms(100)); // the tick writes them
    assert_eq!(e.breaker_state(0), Some(State::Open));
}

#[test]
fn a_probe_acquire_that_gives_up_is_refused_not_exceeded() {
    let (mut w, store) = workers(BREAKER, 1);
    let e = &mut w[0];
    for i in 0..5 {
        call(e, ms(i), 503);
    }
    store.fail_next_sets(MAX_CAS_ATTEMPTS);
    let reply = rejected(e, ms(30_004));
    assert_eq!(reply.http_status, 503);
    proceed(e, ms(30_005));
}

#[test]
fn the_bulkhead_cap_holds_across_workers_and_frees_wake_other_workers_on_the_tick() {
    let (mut w, _) = workers(BULKHEAD, 2);
    let a = proceed(&mut w[0], ms(0));
    let _b = proceed(&mut w[1], ms(0));
    let Decision::Queue { .. } = get(&mut w[1], ms(1)) else {
        panic!()
    };
    let Decision::Queue { .. } = get(&mut w[0], ms(1)) else {
        panic!()
    };
    assert_eq!(rejected(&mut w[0], ms(1)).http_status, 429); // queue (2) is global too
    // Worker 0 frees a permit; its own waiter goes first...
    w[0].on_response(ms(5), a, &Outcome::http(200), 1);
    assert_eq!(actions(&mut w[0]).len(), 1);
    // ...worker 1's waiter gets the next one that frees, on worker 1's tick.
    assert!(actions(&mut w[1]).is_empty());
}

#[test]
fn a_waiter_on_one_worker_is_woken_by_a_release_on_another() {
    let (mut w, _) = workers(BULKHEAD, 2);
    let a = proceed(&mut w[0], ms(0));
    let _b = proceed(&mut w[0], ms(0));
    let Decision::Queue { ticket: q, .. } = get(&mut w[1], ms(1)) else {
        panic!()
    };
    w[0].on_response(ms(5), a, &Outcome::http(200), 1);
    assert!(actions(&mut w[0]).is_empty());
    w[1].handle_timeout(ms(100));
    assert!(matches!(actions(&mut w[1]).as_slice(), [Action::Resume { ticket }] if *ticket == q));
}

/// 1,000 policies, traffic on one: the tick syncs that one alone.
fn many_policies(n: usize) -> String {
    let policies: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name":"p{i}","match":{{"cluster":"c{i}"}},"breaker":{{"failure_threshold":3,"recovery_jitter":0}},"bulkhead":{{"max_concurrent":4}}}}"#
            )
        })
        .collect();
    format!(r#"{{"service":"s","policies":[{}]}}"#, policies.join(","))
}

/// Shared-data calls of one tick on each of two workers, for `n` policies with traffic on one.
fn tick_calls(n: usize) -> (u64, u64) {
    let (mut w, store) = workers(&many_policies(n), 2);
    let req = RequestInfo {
        cluster: "c7",
        ..RequestInfo::new("GET", "/")
    };
    for i in 0..20 {
        let Decision::Proceed { ticket } = w[0].on_request(ms(i), &req) else {
            panic!("proceeds")
        };
        w[0].on_response(ms(i), ticket, &Outcome::http(200), 1);
    }
    let before = store.calls();
    w[0].handle_timeout(ms(100));
    w[1].handle_timeout(ms(100));
    let busy = store.calls();
    // A later tick with no traffic at all.
    w[0].handle_timeout(ms(200));
    let idle = store.calls();
    (
        (busy.0 - before.0) + (busy.1 - before.1),
        (idle.0 - busy.0) + (idle.1 - busy.1),
    )
}

#[test]
fn idle_policies_cost_no_shared_data_call_on_the_tick() {
    // The busy policy's read and write, and a bounded number of idle views refreshed in turn
    // (a breaker and a bulkhead read each): the same for 50 policies as for 1,000.
    let bound = 4 + 2 * 2 * crate::engine::IDLE_REFRESHES as u64;
    let (busy_1000, idle_1000) = tick_calls(1_000);
    let (busy_50, idle_50) = tick_calls(50);
    assert!(
        busy_1000 <= bound,
        "{busy_1000} calls on a tick for one busy policy of 1,000"
    );
    assert_eq!(
        (busy_1000, idle_1000),
        (busy_50, idle_50),
        "the cost grew with the policies"
    );
    assert!(idle_1000 <= 2 * crate::engine::IDLE_REFRESHES as u64);
}

#[test]
fn an_idle_policy_refreshes_before_it_decides() {
    let (mut w, _) = workers(&many_policies(20), 2);
    let req = RequestInfo {
        cluster: "c3",
        ..RequestInfo::new("GET", "/")
    };
    // Worker 1 knew the breaker closed; then sat idle through ticks while worker 0 opened it.
    let Decision::Proceed { ticket } = w[1].on_request(ms(0), &req) else {
        panic!("proceeds")
    };
    w[1].on_response(ms(0), ticket, &Outcome::http(200), 1);
    for i in 1..4 {
        let Decision::Proceed { ticket } = w[0].on_request(ms(i), &req) else {
            panic!("proceeds")
        };
        w[0].on_response(ms(i), ticket, &Outcome::http(503), 1);
    }
    for t in [100, 200, 300] {
        w[1].handle_timeout(ms(t));
    }
    // Its view is older than the sync interval: it refreshes, and refuses.
    let Decision::Reject { reply } = w[1].on_request(ms(350), &req) else {
        panic!("the open breaker refuses on the idle worker too")
    };
    assert_eq!(reply.header("x-breakwater"), Some("circuit_open"));
}

#[test]
fn only_policies_with_traffic_or_held_state_are_reported_to_metrics() {
    // Up to SERIES_AT_START policies, the first call lists them all (series at zero from
    // the start), then only those with something to report.
    let (mut small, _) = workers(&many_policies(50), 1);
    let mut out = Vec::new();
    small[0].take_changed(ms(0), &mut out);
    assert_eq!(out, (0..50).collect::<Vec<_>>());
    small[0].take_changed(ms(1), &mut out);
    assert!(out.is_empty(), "{out:?}");

    let (mut w, _) = workers(&many_policies(crate::engine::SERIES_AT_START + 1), 2);
    w[0].take_changed(ms(0), &mut out);
    assert!(out.is_empty(), "no traffic, nothing to report: {out:?}");
    let on = |cluster| RequestInfo {
        cluster,
        ..RequestInfo::new("GET", "/")
    };
    let call_on = |e: &mut super::TestEngine, cluster, at, status| {
        let Decision::Proceed { ticket } = e.on_request(ms(at), &on(cluster)) else {
            panic!("{cluster} proceeds at {at}")
        };
        e.on_response(ms(at), ticket, &Outcome::http(status), 1);
    };
    call_on(&mut w[0], "c7", 1, 200);
    for at in 2..5 {
        call_on(&mut w[0], "c9", at, 503); // the third failure opens c9's breaker
    }
    w[0].take_changed(ms(10), &mut out);
    assert_eq!(out, vec![7, 9]);
    // No traffic since: c7 reads idle and is left out, c9's open breaker is still watched
    // (it turns half-open with time alone).
    w[0].take_changed(ms(20), &mut out);
    assert_eq!(out, vec![9]);
    w[0].take_changed(ms(120_000), &mut out);
    assert_eq!(out, vec![9], "half-open is still not idle");
    // The other worker saw no traffic: its ticks refresh idle views in turn, and report only
    // a view that shows state another worker made (c9's open breaker), once it is refreshed.
    w[1].take_changed(ms(100), &mut out);
    assert!(out.is_empty(), "{out:?}");
    let mut seen = Vec::new();
    for tick in 1..=1_000 {
        w[1].handle_timeout(ms(100 * tick));
        w[1].take_changed(ms(100 * tick), &mut out);
        assert!(
            out.iter().all(|&pi| pi == 9),
            "tick {tick} reported {out:?}"
        );
        seen.extend_from_slice(&out);
    }
    assert!(
        seen.contains(&9),
        "c9's open breaker never reported by the idle worker"
    );
}
