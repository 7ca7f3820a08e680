//! The Redis host store against a real `redis-server` on loopback (Debian's package, started by
//! the test, stopped when it ends): the compare-and-swap contract of `wit/store.wit` (versions,
//! create-if-absent, conflicts), namespacing and expiry, and outages answered as `unavailable`
//! with the connection made again once Redis is back. The same contract runs over core's
//! in-memory store, so the two cannot drift apart.

use std::time::{Duration, Instant};

use breakwater_core::MemoryStore;
use fleet_store::{RedisOptions, RedisServer, RedisStore, SharedStore, StoreError};

fn redis() -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}

fn open(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::open(
        &server.url(),
        RedisOptions {
            prefix: prefix.to_owned(),
            ..RedisOptions::default()
        },
    )
    .expect("opens")
}

/// The contract every host store keeps (`wit/store.wit`).
fn contract(a: &dyn SharedStore, b: &dyn SharedStore) {
    let mut buf = vec![9, 9];
    assert_eq!(a.get("k", &mut buf), Ok(None), "never written");
    assert!(buf.is_empty(), "the buffer is cleared");
    // Create-if-absent: one of two creators wins.
    a.set("k", b"one", None).unwrap();
    assert_eq!(b.set("k", b"two", None), Err(StoreError::CasMismatch));
    let v1 = b.get("k", &mut buf).unwrap().expect("written");
    assert_eq!(buf, b"one");
    // Compare-and-swap: the first writer on a version wins, the second conflicts.
    b.set("k", &[0, 255, 10, 13], Some(v1)).unwrap();
    assert_eq!(a.set("k", b"late", Some(v1)), Err(StoreError::CasMismatch));
    let v2 = a.get("k", &mut buf).unwrap().expect("written");
    assert_ne!(v1, v2, "a write changes the version");
    assert_eq!(buf, [0, 255, 10, 13], "bytes verbatim");
    // A conditional write to a missing key conflicts.
    assert_eq!(
        a.set("missing", b"x", Some(v2)),
        Err(StoreError::CasMismatch)
    );
    assert_eq!(a.get("missing", &mut buf), Ok(None));
}

#[test]
fn the_memory_store_keeps_the_store_contract() {
    let s = MemoryStore::new();
    contract(&s, &s.clone());
}

#[test]
fn redis_keeps_the_store_contract_between_two_clients() {
    let server = redis();
    contract(&open(&server, "t1:"), &open(&server, "t1:"));
}

#[test]
fn prefixes_namespace_fleets_and_every_write_arms_the_expiry() {
    let server = redis();
    let a = open(&server, "fleet-a:");
    let b = open(&server, "fleet-b:");
    a.set("breakwater/s/p/breaker", b"a", None).unwrap();
    let mut buf = Vec::new();
    assert_eq!(b.get("breakwater/s/p/breaker", &mut buf), Ok(None));
    b.set("breakwater/s/p/breaker", b"b", None).unwrap();
    a.get("breakwater/s/p/breaker", &mut buf).unwrap();
    assert_eq!(buf, b"a");
    // Redis's own view: a hash under the prefixed key, with a time to live of about an hour.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("fleet-a:breakwater/s/p/breaker")
        .query(&mut conn)
        .unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "pttl {ttl}");
}

#[test]
fn a_key_lost_by_a_restart_comes_back_with_a_version_that_cannot_match_the_old_one() {
    let mut server = redis();
    let s = open(&server, "t:");
    let mut buf = Vec::new();
    s.set("k", b"v", None).unwrap();
    let old = s.get("k", &mut buf).unwrap().unwrap();
    server.restart().unwrap();
    // The restart dropped the connection: the first call may see that, then it reconnects.
    let deadline = Instant::now() + Duration::from_secs(5);
    let missing = loop {
        match s.get("k", &mut buf) {
            Ok(v) => break v,
            Err(StoreError::Unavailable) if Instant::now() < deadline => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(missing, None, "restarted empty");
    s.set("k", b"again", None).unwrap();
    let new = s.get("k", &mut buf).unwrap().unwrap();
    assert_ne!(new, old);
    assert_eq!(
        s.set("k", b"stale", Some(old)),
        Err(StoreError::CasMismatch)
    );
}

#[test]
fn an_outage_is_unavailable_quickly_and_the_store_reconnects_when_redis_is_back() {
    let mut server = redis();
    let s = open(&server, "t:");
    let mut buf = Vec::new();
    s.set("k", b"v", None).unwrap();
    server.kill();
    let started = Instant::now();
    assert_eq!(s.get("k", &mut buf), Err(StoreError::Unavailable));
    assert_eq!(s.set("k", b"w", None), Err(StoreError::Unavailable));
    assert_eq!(s.get("k", &mut buf), Err(StoreError::Unavailable));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeouts: {:?}",
        started.elapsed()
    );
    assert!(s.counts().unavailable >= 3);
    assert!(s.last_error().is_some());
    server.restart().unwrap();
    // Back (and empty): answered on a new connection.
    assert_eq!(s.get("k", &mut buf), Ok(None));
    s.set("k", b"x", None).unwrap();
    assert!(s.counts().connects >= 2, "{:?}", s.counts());
}

#[test]
fn a_key_that_is_not_breakwaters_is_unavailable_not_overwritten() {
    let server = redis();
    let s = open(&server, "t:");
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("t:k")
        .arg("plain")
        .query(&mut conn)
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(s.get("k", &mut buf), Err(StoreError::Unavailable));
    assert_eq!(s.set("k", b"v", None), Err(StoreError::Unavailable));
    let plain: String = redis::cmd("GET").arg("t:k").query(&mut conn).unwrap();
    assert_eq!(plain, "plain");
}

#[test]
fn bad_options_are_refused_with_what_is_wrong() {
    let e = RedisStore::open("not a url", RedisOptions::default()).unwrap_err();
    assert!(e.contains("redis url"), "{e}");
    let short = RedisOptions {
        ttl: Duration::from_secs(1),
        ..RedisOptions::default()
    };
    let e = RedisStore::open("redis://127.0.0.1:1/0", short).unwrap_err();
    assert!(e.contains("ttl"), "{e}");
}
