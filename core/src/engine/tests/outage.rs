//! The store unavailable, or restarted empty, under the virtual clock: one test per rule of
//! `engine::shared` and `engine::permits` (keep the cached view, keep outcomes pending, never
//! exceed a cap, flush when the store answers again, restore what the store lost).

use super::breaker::BREAKER;
use super::bulkhead::BULKHEAD;
use super::*;
use crate::breaker::{Snapshot, State};
use crate::bulkhead::{Counts, Holders};
use crate::store::SharedStore;

/// The breaker snapshot `store` holds for `json`'s first policy (read past an outage).
fn stored_breaker(store: &MemoryStore, json: &str, key: &str) -> Option<Snapshot> {
    let config = Config::from_json(json).unwrap();
    let mut buf = Vec::new();
    store.get(key, &mut buf).unwrap()?;
    Snapshot::decode(config.policies[0].breaker.as_ref().unwrap(), &buf)
}

/// The bulkhead table `store` holds under `key`.
fn stored_table(store: &MemoryStore, key: &str) -> Option<Holders> {
    let mut buf = Vec::new();
    store.get(key, &mut buf).unwrap()?;
    Holders::decode(&buf)
}

const SHOP_BREAKER: &str = "breakwater/shop/api/breaker";
const SHOP_BULKHEAD: &str = "breakwater/shop/db/bulkhead";

#[test]
fn an_outage_is_not_a_missing_snapshot_an_open_breaker_is_never_reset() {
    let (mut w, store) = workers(BREAKER, 2);
    for i in 0..5 {
        call(&mut w[0], ms(i), 503);
    }
    assert_eq!(
        stored_breaker(&store, BREAKER, SHOP_BREAKER).map(|s| s.state),
        Some(State::Open)
    );
    store.set_unavailable(true);
    // Worker 1 last read at 0 ms (closed). Its refresh fails: it keeps that view, decides, and
    // does not write a fresh snapshot over the open one.
    let t = proceed(&mut w[1], ms(100));
    w[1].on_response(ms(101), t, &Outcome::http(200), 1);
    w[1].handle_timeout(ms(200));
    assert!(w[1].sync_stats().store_failures >= 1);
    assert!(!w[1].store_reachable(ms(250)));
    store.set_unavailable(false);
    assert_eq!(
        stored_breaker(&store, BREAKER, SHOP_BREAKER).map(|s| s.state),
        Some(State::Open),
        "the outage reset nothing"
    );
    // Once the store answers, worker 1 flushes its success and sees the breaker open.
    w[1].handle_timeout(ms(400));
    assert!(w[1].store_reachable(ms(400)));
    assert_eq!(w[1].breaker_state(0), Some(State::Open));
    assert_eq!(rejected(&mut w[1], ms(401)).http_status, 503);
    let stored = stored_breaker(&store, BREAKER, SHOP_BREAKER).unwrap();
    assert_eq!((stored.state, stored.stats.successes), (State::Open, 1));
}

#[test]
fn an_open_breaker_grants_no_probe_while_the_store_is_down() {
    let (mut w, store) = workers(BREAKER, 1);
    let e = &mut w[0];
    for i in 0..5 {
        call(e, ms(i), 503);
    }
    store.set_unavailable(true);
    // Recovery elapsed (opened at 4 ms), but the probe cap needs the store: refused.
    let t = ms(30_004);
    assert_eq!(rejected(e, t).http_status, 503);
    assert_eq!(rejected(e, t + ms(50)).http_status, 503);
    assert_eq!(e.breaker_state(0), Some(State::Open));
    store.set_unavailable(false);
    // The link tries the store again one interval after the failure: probes as configured.
    let later = t + ms(100);
    let p1 = proceed(e, later);
    let p2 = proceed(e, later);
    assert_eq!(rejected(e, later).http_status, 503, "the probe cap holds");
    e.on_response(later, p1, &Outcome::http(200), 1);
    e.on_response(later, p2, &Outcome::http(200), 1);
    assert_eq!(e.breaker_state(0), Some(State::Closed));
}

#[test]
fn failures_during_an_outage_stay_pending_and_open_the_breaker_when_it_answers() {
    let (mut w, store) = workers(BREAKER, 2);
    store.set_unavailable(true);
    for i in 0..5 {
        call(&mut w[0], ms(i), 503);
    }
    // Kept locally: the cached view decides (closed) and nothing is lost.
    assert_eq!(w[0].breaker_state(0), Some(State::Closed));
    assert!(w[0].sync_stats().cas_give_ups >= 1);
    store.set_unavailable(false);
    w[0].handle_timeout(ms(100));
    assert_eq!(w[0].breaker_state(0), Some(State::Open));
    let stored = stored_breaker(&store, BREAKER, SHOP_BREAKER).unwrap();
    assert_eq!((stored.state, stored.stats.failures), (State::Open, 5));
    // And the other worker sees it within the interval.
    assert_eq!(rejected(&mut w[1], ms(200)).http_status, 503);
}

#[test]
fn a_probe_result_written_during_an_outage_is_flushed_when_it_answers() {
    let cfg = BREAKER.replace(
        r#""half_open_max_calls":2,"half_open_success_threshold":2"#,
        r#""half_open_max_calls":1,"half_open_success_threshold":1"#,
    );
    let (mut w, store) = workers(&cfg, 1);
    let e = &mut w[0];
    for i in 0..5 {
        call(e, ms(i), 503);
    }
    let t = ms(30_004);
    let probe = proceed(e, t);
    store.set_unavailable(true);
    e.on_response(t + ms(5), probe, &Outcome::http(200), 1);
    assert_eq!(e.breaker_state(0), Some(State::HalfOpen), "not written yet");
    store.set_unavailable(false);
    e.handle_timeout(t + ms(200));
    assert_eq!(e.breaker_state(0), Some(State::Closed));
    let stored = stored_breaker(&store, &cfg, SHOP_BREAKER).unwrap();
    assert_eq!(
        (stored.state, stored.probes_in_flight()),
        (State::Closed, 0)
    );
}

#[test]
fn the_bulkhead_fails_closed_during_an_outage_and_leaks_nothing_after() {
    let (mut w, store) = workers(BULKHEAD, 1);
    let e = &mut w[0];
    let a = proceed(e, ms(0));
    store.set_unavailable(true);
    // A permit is free, but only the store can say so: refused, and not queued either.
    let reply = rejected(e, ms(1));
    assert_eq!(reply.header("x-breakwater"), Some("bulkhead_full"));
    // The permit held goes back locally at once.
    e.on_response(ms(2), a, &Outcome::http(200), 1);
    assert_eq!(e.tracked(), 0);
    store.set_unavailable(false);
    let table = stored_table(&store, SHOP_BULKHEAD).unwrap();
    assert_eq!(table.counts().inflight, 1, "the row over-counted meanwhile");
    e.handle_timeout(ms(200));
    assert_eq!(
        stored_table(&store, SHOP_BULKHEAD).unwrap().counts(),
        Counts::default(),
        "the sync put the row right"
    );
    proceed(e, ms(201));
    proceed(e, ms(201));
}

/// A bulkhead of 64: an engine keeps up to 2 spare permits.
const WIDE: &str = r#"{"service":"shop","policies":[{"name":"db",
    "bulkhead":{"max_concurrent":64,"queue_size":0}}]}"#;

#[test]
fn during_an_outage_only_the_spares_already_held_are_granted() {
    let (mut w, store) = workers(WIDE, 1);
    let e = &mut w[0];
    let a = proceed(e, ms(0)); // takes one and two spares
    store.set_unavailable(true);
    let b = proceed(e, ms(1));
    let c = proceed(e, ms(1));
    assert_eq!(
        rejected(e, ms(1)).header("x-breakwater"),
        Some("bulkhead_full")
    );
    for t in [a, b, c] {
        e.on_response(ms(2), t, &Outcome::http(200), 1);
    }
    store.set_unavailable(false);
    e.handle_timeout(ms(200));
    assert_eq!(
        stored_table(&store, SHOP_BULKHEAD).unwrap().counts(),
        Counts::default()
    );
}

#[test]
fn an_outage_costs_about_one_store_call_per_sync_interval() {
    let (mut w, store) = workers(BREAKER, 1);
    let e = &mut w[0];
    store.set_unavailable(true);
    let (g0, s0) = store.calls();
    // One second of traffic, a request per millisecond, half of them failing, ticks on time.
    for i in 0..1_000u64 {
        let now = ms(i);
        if now >= e.poll_timeout() {
            e.handle_timeout(now);
        }
        call(e, now, if i % 2 == 0 { 200 } else { 503 });
    }
    let (g1, s1) = store.calls();
    let calls = (g1 - g0) + (s1 - s0);
    assert!(
        (1..=11).contains(&calls),
        "{calls} store calls in 10 sync intervals"
    );
    assert_eq!(e.sync_stats().store_failures, calls);
    store.set_unavailable(false);
    e.handle_timeout(ms(1_100));
    // Everything decided meanwhile reached the store: 500 failures opened the breaker.
    let stored = stored_breaker(&store, BREAKER, SHOP_BREAKER).unwrap();
    assert_eq!(stored.state, State::Open);
}

#[test]
fn a_store_restarted_empty_gets_the_open_breaker_back() {
    let (mut w, store) = workers(BREAKER, 2);
    for i in 0..5 {
        call(&mut w[0], ms(i), 503);
    }
    w[1].handle_timeout(ms(100));
    assert_eq!(w[1].breaker_state(0), Some(State::Open));
    store.clear();
    // The first engine to read the missing snapshot writes back what it last saw.
    w[1].handle_timeout(ms(200));
    let stored = stored_breaker(&store, BREAKER, SHOP_BREAKER).unwrap();
    assert_eq!(stored.state, State::Open);
    assert_eq!(rejected(&mut w[0], ms(300)).http_status, 503);
    assert_eq!(rejected(&mut w[1], ms(300)).http_status, 503);
}

#[test]
fn a_bulkhead_table_lost_by_the_store_is_rebuilt_before_anyone_takes_from_it() {
    let (mut w, store) = workers(BULKHEAD, 2);
    let a = proceed(&mut w[0], ms(0));
    let b = proceed(&mut w[0], ms(0));
    store.clear();
    // Worker 1 knew the table: missing now means lost, not free. Refused during the grace...
    assert_eq!(
        rejected(&mut w[1], ms(10)).header("x-breakwater"),
        Some("bulkhead_full")
    );
    let table = stored_table(&store, SHOP_BULKHEAD).unwrap();
    assert_eq!(table.restored_at(), Some(ms(10)));
    // ...while worker 0's sync writes its row back...
    w[0].handle_timeout(ms(100));
    assert_eq!(
        stored_table(&store, SHOP_BULKHEAD)
            .unwrap()
            .counts()
            .inflight,
        2
    );
    assert!(matches!(get(&mut w[1], ms(150)), Decision::Reject { .. }));
    // ...so after it the cap is exact again: full, so the request waits in the queue.
    assert!(matches!(get(&mut w[1], ms(250)), Decision::Queue { .. }));
    w[0].on_response(ms(260), a, &Outcome::http(200), 1);
    w[0].on_response(ms(260), b, &Outcome::http(200), 1);
    w[1].handle_timeout(ms(300));
    assert!(matches!(
        actions(&mut w[1]).as_slice(),
        [Action::Resume { .. }]
    ));
}

#[test]
fn a_table_nobody_could_write_for_a_lease_is_rebuilt_before_rows_are_reclaimed() {
    let (mut w, store) = workers(BULKHEAD, 2);
    let _a = proceed(&mut w[0], ms(0));
    let _b = proceed(&mut w[0], ms(0));
    // An outage far longer than the holders' lease (10 s here).
    store.set_unavailable(true);
    let back = Nanos::from_secs(60);
    store.set_unavailable(false);
    // Worker 1 comes first: worker 0's row is a minute old, but it may be alive.
    assert!(matches!(get(&mut w[1], back), Decision::Reject { .. }));
    assert_eq!(
        stored_table(&store, SHOP_BULKHEAD)
            .unwrap()
            .counts()
            .inflight,
        2,
        "nothing reclaimed during the grace"
    );
    w[0].handle_timeout(back + ms(50));
    // Worker 0 re-stamped its row: still there after the grace, the cap still full.
    assert!(matches!(
        get(&mut w[1], back + ms(300)),
        Decision::Queue { .. }
    ));
    assert_eq!(
        stored_table(&store, SHOP_BULKHEAD)
            .unwrap()
            .counts()
            .inflight,
        2
    );
}
