//! Keyed breakers (`breaker.key_by`): one breaker per key, exact across workers, and a bound on
//! keys that clients cannot push past.

use super::*;
use crate::breaker::State;
use crate::engine::KeyRef;

/// Keyed by path: 3 consecutive failures open a key for 10 s; at most 2 keys, evictable after
/// 1 s idle.
const KEYED: &str = r#"{"service":"shop","policies":[{"name":"rpc","breaker":{
    "key_by":"path","failure_threshold":3,"recovery_timeout_ms":10000,
    "max_keys":2,"key_idle_ms":1000}}]}"#;

fn send(e: &mut TestEngine, now: Nanos, path: &str) -> Decision {
    e.on_request(now, &RequestInfo::new("GET", path))
}

fn answer(e: &mut TestEngine, now: Nanos, path: &str, status: u16) {
    match send(e, now, path) {
        Decision::Proceed { ticket } => e.on_response(now, ticket, &Outcome::http(status), 1),
        other => panic!("{path} at {now}: expected proceed, got {other:?}"),
    }
}

fn refused(e: &mut TestEngine, now: Nanos, path: &str) -> bool {
    matches!(send(e, now, path), Decision::Reject { .. })
}

/// The keys of policy 0's status, as (key, state) pairs.
fn keys(e: &mut TestEngine, now: Nanos) -> Vec<(String, String)> {
    let (_, list) = e.status(now);
    list[0]
        .keys
        .as_ref()
        .expect("a keyed policy lists its keys")
        .iter()
        .map(|k| (k.key.clone(), k.state.to_owned()))
        .collect()
}

fn pair(k: &str, s: &str) -> (String, String) {
    (k.to_owned(), s.to_owned())
}

#[test]
fn each_key_trips_alone_and_its_events_name_it() {
    let mut e = one(KEYED);
    for i in 0..3 {
        answer(&mut e, ms(i), "/pay.Ledger/Refund?id=1", 503);
    }
    assert!(refused(&mut e, ms(5), "/pay.Ledger/Refund"));
    // Another key, and requests without the query, are another breaker or the same one.
    answer(&mut e, ms(6), "/pay.Ledger/Balance", 200);
    let ev = e.poll_event().expect("the opening");
    assert_eq!(ev.transition.to, State::Open);
    let key: KeyRef = ev.key.expect("a keyed transition names its key");
    assert_eq!(e.key_name(0, key), Some("/pay.Ledger/Refund"));
    assert_eq!(e.stats(0).unwrap().transitions_to_open, 1);
    // The policy reports its worst key: open, and the status is unhealthy.
    assert_eq!(e.breaker_state_at(0, ms(7)), Some(State::Open));
    assert_eq!(e.gauges(0, ms(7)).unwrap().breaker_state, Some(1));
    let (healthy, _) = e.status(ms(7));
    assert!(!healthy);
    assert_eq!(
        keys(&mut e, ms(7)),
        [
            pair("~other", "closed"),
            pair("/pay.Ledger/Balance", "closed"),
            pair("/pay.Ledger/Refund", "open"),
        ]
    );
}

#[test]
fn a_key_is_exact_across_workers() {
    let (mut w, _) = workers(KEYED, 3);
    // The three failures of one key come from three workers: the third trips it.
    for i in 0..3u64 {
        answer(&mut w[i as usize], ms(i), "/a", 500);
    }
    assert_eq!(
        w[2].poll_event().map(|e| e.transition.to),
        Some(State::Open)
    );
    // Every worker refuses it once its view is refreshed (within the sync interval), and no
    // worker refuses the other key.
    for (i, worker) in w.iter_mut().enumerate() {
        assert!(refused(worker, ms(200), "/a"), "worker {i}");
        answer(worker, ms(200), "/b", 200);
    }
}

#[test]
fn keys_beyond_the_bound_share_the_catch_all_and_are_counted() {
    let (mut w, store) = workers(KEYED, 2);
    // The registry, the catch-all and two slots: created at start, never more.
    assert_eq!(store.len(), 4);
    answer(&mut w[0], ms(1), "/a", 200);
    answer(&mut w[1], ms(2), "/b", 200);
    // No room: /c and /d use the catch-all breaker, counted.
    for i in 0..3 {
        answer(&mut w[0], ms(3 + i), "/c", 500);
    }
    assert_eq!(w[0].stats(0).unwrap().breaker_key_overflows, 3);
    // They tripped the catch-all, which now refuses every key without room...
    assert!(refused(&mut w[0], ms(10), "/d"));
    // ...but not the admitted keys, on either worker.
    answer(&mut w[0], ms(11), "/a", 200);
    answer(&mut w[1], ms(200), "/a", 200);
    assert_eq!(store.len(), 4);
    // Many more keys still cost no store entry, and (after the first miss) no store call.
    let before = store.calls();
    for i in 0..1_000 {
        let _ = send(&mut w[1], ms(300), &format!("/x{i}"));
    }
    let after = store.calls();
    assert!(after.0 - before.0 <= 2, "reads {before:?} -> {after:?}");
    assert_eq!(after.1, before.1, "no write");
    assert_eq!(store.len(), 4);
}

#[test]
fn idle_closed_keys_make_room_open_ones_never() {
    let mut e = one(KEYED);
    for i in 0..3 {
        answer(&mut e, ms(i), "/open", 500);
    }
    answer(&mut e, ms(10), "/closed", 500); // a failure, yet closed
    // Not idle long enough: /new overflows.
    e.handle_timeout(ms(500));
    answer(&mut e, ms(500), "/new", 200);
    assert_eq!(e.stats(0).unwrap().breaker_key_overflows, 1);
    // Past key_idle_ms both are idle; only the closed one may go.
    e.handle_timeout(ms(1_200));
    answer(&mut e, ms(1_200), "/new", 200);
    let s = e.stats(0).unwrap();
    assert_eq!((s.breaker_key_overflows, s.breaker_key_evictions), (1, 1));
    assert_eq!(
        keys(&mut e, ms(1_200)),
        [
            pair("~other", "closed"),
            pair("/new", "closed"),
            pair("/open", "open")
        ]
    );
    // /new starts from a fresh breaker: the evicted key's failure is not in it.
    let (_, list) = e.status(ms(1_200));
    let new = &list[0].keys.as_ref().unwrap()[1];
    assert_eq!(
        (new.calls, new.failures, new.consecutive_failures),
        (1, 0, 0)
    );
    // /closed comes back: no room (the open key stays, /new is busy), so the catch-all.
    answer(&mut e, ms(1_300), "/closed", 200);
    assert_eq!(e.stats(0).unwrap().breaker_key_overflows, 2);
}

#[test]
fn a_worker_that_still_maps_an_evicted_key_leaves_the_new_key_alone() {
    let (mut w, _) = workers(KEYED, 2);
    answer(&mut w[0], ms(0), "/a", 500);
    answer(&mut w[0], ms(1), "/a", 500);
    answer(&mut w[0], ms(2), "/b", 200);
    // Worker 1 learns /a (two failures so far) and then goes quiet.
    answer(&mut w[1], ms(3), "/a", 200);
    // After the idle time worker 0 evicts /a for /c.
    w[0].handle_timeout(ms(1_100));
    answer(&mut w[0], ms(1_100), "/b", 200);
    w[0].handle_timeout(ms(1_200));
    answer(&mut w[0], ms(1_200), "/c", 500);
    assert_eq!(w[0].stats(0).unwrap().breaker_key_evictions, 1);
    // Worker 1's /a is stale: its next request finds out, and a failure of /a there does not
    // land on /c's breaker (one failure so far, not two).
    answer(&mut w[1], ms(1_210), "/a", 500);
    w[1].handle_timeout(ms(1_300));
    w[1].handle_timeout(ms(1_400));
    let (_, list) = w[0].status(ms(1_300));
    let c = list[0]
        .keys
        .as_ref()
        .unwrap()
        .iter()
        .find(|k| k.key == "/c");
    assert_eq!(c.map(|k| (k.calls, k.failures)), Some((1, 1)));
}

#[test]
fn requests_without_a_key_use_the_catch_all_uncounted() {
    let json = r#"{"service":"shop","policies":[{"name":"t","breaker":{
        "key_by":{"header":"X-Tenant"},"failure_threshold":2}}]}"#;
    let needs = crate::config::Config::from_json(json)
        .unwrap()
        .request_needs();
    assert!(
        needs.headers.contains(&"x-tenant".to_owned()),
        "the adapter must read the key's header: {needs:?}"
    );
    let mut e = one(json);
    let acme = [("x-tenant", "acme")];
    let mut req = RequestInfo::new("GET", "/");
    req.headers = &acme;
    for i in 0..2 {
        let Decision::Proceed { ticket } = e.on_request(ms(i), &req) else {
            panic!("proceed");
        };
        e.on_response(ms(i), ticket, &Outcome::http(503), 1);
    }
    assert!(matches!(e.on_request(ms(3), &req), Decision::Reject { .. }));
    // Without the header: the catch-all, which is closed, and no overflow.
    answer(&mut e, ms(4), "/", 200);
    assert_eq!(e.stats(0).unwrap().breaker_key_overflows, 0);
}

#[test]
fn grpc_method_keys_only_grpc_requests() {
    let json = r#"{"service":"shop","policies":[{"name":"g","breaker":{
        "key_by":"grpc_method","failure_threshold":1}}]}"#;
    let mut e = one(json);
    let grpc = [("content-type", "application/grpc")];
    let mut req = RequestInfo::new("POST", "/pkg.S/Broken");
    req.headers = &grpc;
    let Decision::Proceed { ticket } = e.on_request(ms(0), &req) else {
        panic!("proceed");
    };
    e.on_response(ms(0), ticket, &Outcome::http(503), 1);
    assert!(matches!(e.on_request(ms(1), &req), Decision::Reject { .. }));
    let mut ok = req;
    ok.path = "/pkg.S/Fine";
    assert!(matches!(e.on_request(ms(2), &ok), Decision::Proceed { .. }));
    // The same path without gRPC is not keyed: the catch-all admits it.
    assert!(matches!(
        send(&mut e, ms(3), "/pkg.S/Broken"),
        Decision::Proceed { .. }
    ));
}

#[test]
fn long_keys_are_stored_hashed() {
    let mut e = one(KEYED);
    let long = format!("/{}", "x".repeat(300));
    answer(&mut e, ms(0), &long, 200);
    let listed = keys(&mut e, ms(0));
    assert_eq!(listed.len(), 2);
    assert!(
        listed[1].0.starts_with('#') && listed[1].0.len() == 17,
        "{listed:?}"
    );
}

#[test]
fn bad_keying_settings_are_named() {
    let bad = r#"{"policies":[{"name":"a","breaker":{"key_by":"method"}},
        {"name":"d","breaker":{"max_keys":0}},
        {"name":"b","breaker":{"key_by":{"header":"x y"},"max_keys":5000,"key_idle_ms":0}},
        {"name":"c","breaker":{"key_by":{"heder":"x"}}}]}"#;
    let err = crate::config::Config::from_json(bad)
        .unwrap_err()
        .to_string();
    for needle in [
        "policies[0].breaker.key_by: unknown variant `method`, expected `grpc_method`, `path` or {\"header\": <name>}",
        "policies[1].breaker.max_keys: must be at least 1, got 0",
        "policies[2].breaker.key_by.header: must be a header name, got \"x y\"",
        "policies[2].breaker.max_keys: must be at most 1024, got 5000",
        "policies[2].breaker.key_idle_ms: must be at least 1, got 0",
        "policies[3].breaker.key_by.heder: unknown field `heder`, expected one of `header`",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn a_reset_evicts_every_key_for_every_worker_and_each_starts_closed() {
    let (mut w, _) = workers(KEYED, 2);
    for i in 0..3 {
        answer(&mut w[0], ms(i), "/a", 503);
    }
    w[1].handle_timeout(ms(200));
    assert!(refused(&mut w[1], ms(201), "/a"), "open for both workers");
    assert_eq!(w[1].reset(ms(300), 0), Ok(State::Open));
    assert_eq!(keys(&mut w[1], ms(300)), [pair("~other", "closed")]);
    // The other worker drops its cell at its next sync; the key comes back closed.
    w[0].handle_timeout(ms(400));
    answer(&mut w[0], ms(401), "/a", 200);
    assert_eq!(
        keys(&mut w[0], ms(402)),
        [pair("~other", "closed"), pair("/a", "closed")]
    );
    // Its counts started again: two failures do not reopen it, the third does.
    answer(&mut w[0], ms(403), "/a", 503);
    answer(&mut w[0], ms(404), "/a", 503);
    assert!(!refused(&mut w[1], ms(405), "/a"));
}
