//! The bulkhead through the engine: cap, FIFO queue, queue timeout, release exactly once.

use super::*;

pub(super) const BULKHEAD: &str = r#"{"service":"shop","policies":[{"name":"db",
    "bulkhead":{"max_concurrent":2,"queue_size":2,"queue_timeout_ms":500}}]}"#;

fn queued(e: &mut TestEngine, now: Nanos) -> Ticket {
    match get(e, now) {
        Decision::Queue { ticket, until } => {
            assert_eq!(until, now + ms(500));
            ticket
        }
        other => panic!("expected queue, got {other:?}"),
    }
}

#[test]
fn cap_then_fifo_queue_then_429() {
    let mut e = one(BULKHEAD);
    let a = proceed(&mut e, ms(0));
    let b = proceed(&mut e, ms(0));
    let q1 = queued(&mut e, ms(1));
    let q2 = queued(&mut e, ms(2));
    let full = rejected(&mut e, ms(3));
    assert_eq!(full.http_status, 429);
    assert_eq!(full.header("x-breakwater"), Some("bulkhead_full"));
    assert_eq!(json_body(&full)["error"], "bulkhead_full");

    // A completion hands its permit to the oldest waiter, then the next.
    e.on_response(ms(10), a, &Outcome::http(200), 1);
    let acts = actions(&mut e);
    assert!(
        matches!(acts.as_slice(), [Action::Resume { ticket }] if *ticket == q1),
        "{acts:?}"
    );
    e.on_response(ms(11), b, &Outcome::http(200), 1);
    assert!(matches!(actions(&mut e).as_slice(), [Action::Resume { ticket }] if *ticket == q2));
    assert_eq!(e.tracked(), 2);
}

#[test]
fn a_resume_not_yet_polled_is_dropped_when_its_request_ends() {
    let mut e = one(BULKHEAD);
    let a = proceed(&mut e, ms(0));
    let _b = proceed(&mut e, ms(0));
    let q1 = queued(&mut e, ms(1));
    e.on_response(ms(10), a, &Outcome::http(200), 1);
    assert_eq!(e.pending_actions(), 1, "q1 resumed");
    // The client of q1 goes away before the host polled: its permit returns, and the void
    // resume goes with it (no `Resume` ever names a dead ticket).
    e.cancel(ms(11), q1);
    assert_eq!(e.pending_actions(), 0);
    assert!(e.poll_action().is_none());
    assert_eq!(e.tracked(), 1);
    let _c = proceed(&mut e, ms(12));
}

#[test]
fn waiters_time_out_with_429_and_leave_the_queue() {
    let mut e = one(BULKHEAD);
    let _a = proceed(&mut e, ms(0));
    let _b = proceed(&mut e, ms(0));
    let q1 = queued(&mut e, ms(100));
    assert_eq!(e.poll_timeout(), ms(100), "next sync comes first");
    e.handle_timeout(ms(599));
    assert!(actions(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), ms(600));
    e.handle_timeout(ms(600));
    let acts = actions(&mut e);
    let [Action::Reply { ticket, reply }] = acts.as_slice() else {
        panic!("{acts:?}")
    };
    assert_eq!((*ticket, reply.http_status), (q1, 429));
    assert_eq!(reply.header("x-breakwater"), Some("queue_timeout"));
    assert_eq!(e.stats(0).unwrap().queue_timeouts, 1);
    // The queue has room again: two more can wait.
    queued(&mut e, ms(601));
    queued(&mut e, ms(601));
}

#[test]
fn a_permit_is_released_exactly_once() {
    let (mut ws, store) = workers(BULKHEAD, 1);
    let e = &mut ws[0];
    let a = proceed(e, ms(0));
    e.on_response(ms(1), a, &Outcome::http(200), 1);
    // A second report, a cancel, and a forged ticket change nothing.
    e.on_response(ms(2), a, &Outcome::http(500), 1);
    e.cancel(ms(2), a);
    e.cancel(ms(2), Ticket::from_u64(u64::MAX));
    let mut buf = Vec::new();
    store.get("breakwater/shop/db/bulkhead", &mut buf).unwrap();
    assert_eq!(
        crate::bulkhead::Holders::decode(&buf)
            .unwrap()
            .counts()
            .inflight,
        0
    );
    assert_eq!(e.stats(0).unwrap().responses, 1);
    // Both permits are still available.
    proceed(e, ms(3));
    proceed(e, ms(3));
}

#[test]
fn a_cancelled_waiter_leaves_the_queue() {
    let mut e = one(BULKHEAD);
    let a = proceed(&mut e, ms(0));
    let _b = proceed(&mut e, ms(0));
    let q1 = queued(&mut e, ms(1));
    let q2 = queued(&mut e, ms(1));
    e.cancel(ms(2), q1);
    e.on_response(ms(3), a, &Outcome::http(200), 1);
    assert!(matches!(actions(&mut e).as_slice(), [Action::Resume { ticket }] if *ticket == q2));
}

use crate::store::SharedStore;

/// Two permits, no queue: a full bulkhead refuses at once.
const NO_QUEUE: &str = r#"{"service":"shop","policies":[{"name":"db",
    "bulkhead":{"max_concurrent":2}}]}"#;

#[test]
fn permits_of_an_engine_that_died_return_after_its_lease() {
    let (mut ws, store) = workers(NO_QUEUE, 2);
    let mut survivor = ws.pop().unwrap();
    let mut dead = ws.pop().unwrap();
    proceed(&mut dead, ms(0));
    proceed(&mut dead, ms(0));
    drop(dead); // its VM trapped: no response, no cancel, ever
    // The survivor keeps ticking; within the lease (10 s) the dead engine's permits still count.
    for t in (100..9_900).step_by(100) {
        survivor.handle_timeout(ms(t));
    }
    let full = rejected(&mut survivor, ms(9_950));
    assert_eq!(full.header("x-breakwater"), Some("bulkhead_full"));
    // Past the lease after the dead engine's last write, they come back: the survivor's next
    // write (here its acquire, as the policy is idle on the ticks) reclaims them.
    for t in (10_000..10_300).step_by(100) {
        survivor.handle_timeout(ms(t));
    }
    proceed(&mut survivor, ms(10_400));
    proceed(&mut survivor, ms(10_400));
    let mut buf = Vec::new();
    store.get("breakwater/shop/db/bulkhead", &mut buf).unwrap();
    let table = crate::bulkhead::Holders::decode(&buf).unwrap();
    assert_eq!(
        table.counts().inflight,
        2,
        "only the survivor's two: {table:?}"
    );
}

#[test]
fn a_live_engine_keeps_its_permits_however_long_its_calls_run() {
    let (mut ws, _store) = workers(NO_QUEUE, 2);
    let mut slow = ws.pop().unwrap();
    let mut other = ws.pop().unwrap();
    let a = proceed(&mut slow, ms(0));
    let b = proceed(&mut slow, ms(0));
    // Both engines tick for a minute: the slow one's heartbeats keep its row alive.
    for t in (100..60_000).step_by(100) {
        slow.handle_timeout(ms(t));
        other.handle_timeout(ms(t));
    }
    let full = rejected(&mut other, ms(60_000));
    assert_eq!(full.header("x-breakwater"), Some("bulkhead_full"));
    slow.on_response(ms(60_001), a, &Outcome::http(200), 1);
    slow.on_response(ms(60_001), b, &Outcome::http(200), 1);
    proceed(&mut other, ms(60_002));
}

/// 64 permits: each engine keeps up to 64 / 32 = 2 spares.
const WIDE: &str = r#"{"service":"shop","policies":[{"name":"db",
    "bulkhead":{"max_concurrent":64}}]}"#;

fn row_held(store: &MemoryStore) -> u32 {
    let mut buf = Vec::new();
    store.get("breakwater/shop/db/bulkhead", &mut buf).unwrap();
    crate::bulkhead::Holders::decode(&buf)
        .unwrap()
        .counts()
        .inflight
}

#[test]
fn a_wide_bulkhead_takes_spares_in_batches_and_gives_them_back_each_sync() {
    let (mut ws, store) = workers(WIDE, 1);
    let e = &mut ws[0];
    let (_, sets) = store.calls();
    let a = proceed(e, ms(0)); // one CAS takes 1 + 2 spares
    assert_eq!(store.calls().1, sets + 1);
    assert_eq!(row_held(&store), 3);
    let b = proceed(e, ms(1)); // spares: no shared-data call
    let c = proceed(e, ms(1));
    assert_eq!(store.calls().1, sets + 1);
    let d = proceed(e, ms(2)); // a new batch
    assert_eq!(store.calls().1, sets + 2);
    assert_eq!(row_held(&store), 6);
    for t in [a, b, c] {
        e.on_response(ms(3), t, &Outcome::http(200), 1);
    }
    // Three released: two stay as spares, one went back.
    assert_eq!(row_held(&store), 3);
    e.on_response(ms(3), d, &Outcome::http(200), 1);
    // The sync tick gives every spare back.
    e.handle_timeout(ms(100));
    assert_eq!(row_held(&store), 0);
}

#[test]
fn spares_never_let_the_cap_be_exceeded_and_go_back_at_the_sync() {
    let (mut ws, store) = workers(WIDE, 2);
    let mut in_use = 0;
    // Alternate until both workers refuse: the cap holds however the spares are spread, and at
    // most the spares taken on the way up (2 per worker) are left unused.
    let mut refused = [false, false];
    let mut i = 0;
    while refused != [true, true] {
        let w = i % 2;
        i += 1;
        if refused[w] {
            continue;
        }
        match get(&mut ws[w], ms(0)) {
            Decision::Proceed { .. } => in_use += 1,
            Decision::Reject { .. } => refused[w] = true,
            other => panic!("unexpected {other:?}"),
        }
        assert!(row_held(&store) <= 64, "cap exceeded");
    }
    assert!((60..=64).contains(&in_use), "only {in_use} admitted");
    // The sync gives the spares back: whoever asks can use the last permits.
    ws[0].handle_timeout(ms(100));
    ws[1].handle_timeout(ms(100));
    while in_use < 64 {
        proceed(&mut ws[0], ms(101));
        in_use += 1;
    }
    assert_eq!(rejected(&mut ws[1], ms(102)).http_status, 429);
    assert_eq!(row_held(&store), 64);
}
