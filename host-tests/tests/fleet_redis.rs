//! A fleet: several OS processes, each one instance of the shared-state component (world
//! `resilience-shared`) over one real Redis (`redis-server` from Debian, on loopback, started by
//! the test, stopped when it ends). They share nothing but Redis, yet:
//!
//! - a bulkhead cap and a half-open probe limit are exact across them (each process takes as
//!   many as it can, at once: the total granted is the cap);
//! - a breaker opened by one process is seen open by every other within `sync_interval_ms` of
//!   virtual time;
//! - Redis killed and restarted (empty) mid-traffic loses and jams nothing: every request is
//!   decided throughout, the open breaker is not reset, no permit leaks, and every process
//!   counts and reports its store failures.
//!
//! The processes are this test binary started again ([`fleet::Worker`]), each running the
//! ignored test `fleet_worker`. Virtual time drives every engine: each command names its `now`.

use std::sync::Arc;

use fleet::{Spec, Worker};
use fleet_store::{RedisOptions, RedisServer, RedisStore};

/// The worker processes run this (ignored, so a plain `cargo test` does not).
#[test]
#[ignore = "a worker process of the fleet tests: they start it with BREAKWATER_FLEET_WORKER set"]
fn fleet_worker() {
    fleet::serve();
}

/// Worker processes over one Redis; dropped in order: the workers quit, then Redis stops.
struct Fleet {
    workers: Vec<Worker>,
    redis: RedisServer,
}

fn fleet(n: usize, config: &str, prefix: &str) -> Fleet {
    let redis = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let workers = (0..n)
        .map(|i| {
            let spec = Spec {
                url: redis.url(),
                prefix: prefix.to_owned(),
                config: config.to_owned(),
                seed: i as u64 + 1,
            };
            Worker::spawn(&format!("w{i}"), "fleet_worker", &spec).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    Fleet { workers, redis }
}

impl Fleet {
    fn call(&mut self, i: usize, command: &str) -> String {
        self.workers[i]
            .call(command)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `command` sent to every worker at once, then every reply.
    fn all(&mut self, command: &str) -> Vec<String> {
        for w in &mut self.workers {
            w.send(command).unwrap_or_else(|e| panic!("{e}"));
        }
        self.workers
            .iter_mut()
            .map(|w| w.recv().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    /// Every worker takes as many as it can of `path` at `now`, all at once, in rounds (a
    /// compare-and-swap that lost 8 races in a row refuses rather than exceed a cap, so a round
    /// under heavy contention may leave some behind): the tickets each got.
    fn grab(&mut self, now: u64, path: &str) -> Vec<Vec<u64>> {
        let mut got = vec![Vec::new(); self.workers.len()];
        for round in 0..3 {
            for (i, reply) in self
                .all(&format!("grab {} {path} 1000", now + round))
                .into_iter()
                .enumerate()
            {
                got[i].extend(tickets(&reply));
            }
        }
        got
    }

    /// One request answered with `status`, all at `now` (it must proceed).
    fn answered(&mut self, i: usize, now: u64, path: &str, status: u16) {
        let reply = self.call(i, &format!("req {now} {path}"));
        let ticket = reply
            .strip_prefix("proceed ")
            .unwrap_or_else(|| panic!("w{i} at {now}: {reply}"));
        assert_eq!(self.call(i, &format!("resp {now} {ticket} {status}")), "ok");
    }

    /// `(gets, sets, unavailable, conflicts)` of worker `i`'s store calls.
    fn calls(&mut self, i: usize) -> [u64; 4] {
        let reply = self.call(i, "calls");
        let n: Vec<u64> = reply
            .split_whitespace()
            .skip(1)
            .map(|w| w.parse().unwrap())
            .collect();
        [n[0], n[1], n[2], n[3]]
    }
}

/// The tickets of a `granted <n> <t,…>` reply.
fn tickets(reply: &str) -> Vec<u64> {
    let mut words = reply.split_whitespace();
    assert_eq!(words.next(), Some("granted"), "{reply}");
    let n: usize = words.next().unwrap().parse().unwrap();
    let list: Vec<u64> = words
        .next()
        .map(|w| w.split(',').map(|t| t.parse().unwrap()).collect())
        .unwrap_or_default();
    assert_eq!(list.len(), n, "{reply}");
    list
}

const CAPS: &str = r#"{"service": "shop", "policies": [
  {"name": "small", "match": {"path_prefix": "/small"},
   "bulkhead": {"max_concurrent": 5, "queue_size": 0}},
  {"name": "wide", "match": {"path_prefix": "/wide"},
   "bulkhead": {"max_concurrent": 64, "queue_size": 0}},
  {"name": "api",
   "breaker": {"failure_threshold": 3, "recovery_timeout_ms": 1000, "recovery_jitter": 0,
               "half_open_max_calls": 3, "half_open_success_threshold": 3}}
]}"#;

#[test]
fn bulkhead_caps_and_the_probe_limit_are_exact_across_processes() {
    let mut f = fleet(4, CAPS, "caps:");
    // Bulkheads: every process takes what it can at once; the total is the cap, a small one
    // (a permit per write) and a wide one (engines keep spare permits) alike.
    for (path, cap) in [("/small", 5), ("/wide", 64)] {
        let got = f.grab(1, path);
        let total: usize = got.iter().map(Vec::len).sum();
        assert_eq!(total, cap, "{path}: {got:?}");
        for i in 0..4 {
            assert_eq!(
                f.call(i, &format!("req 10 {path}")),
                "reject bulkhead_full",
                "{path}: full for every process"
            );
        }
    }
    // The breaker: process 0 opens it; past the recovery time every process asks for probes at
    // once, and only `half_open_max_calls` (3) are granted in all.
    for t in 20..23 {
        f.answered(0, t, "/", 503);
    }
    let got = f.grab(1_100, "/");
    let probes: usize = got.iter().map(Vec::len).sum();
    assert_eq!(probes, 3, "probes granted across processes: {got:?}");
    assert!(
        (0..4).all(|i| f.call(i, "state 1103 api") == "state half_open"),
        "every process sees the probes"
    );
}

const BREAKER: &str = r#"{"service": "shop", "policies": [
  {"name": "api",
   "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 30000, "recovery_jitter": 0}}
]}"#;

#[test]
fn a_breaker_opened_by_one_process_is_seen_by_every_other_within_the_sync_interval() {
    let mut f = fleet(4, BREAKER, "seen:");
    for t in 10..15 {
        f.answered(0, t, "/", 503);
    }
    assert_eq!(f.call(0, "state 14 api"), "state open");
    for i in 1..4 {
        // Read at 0 ms (closed): within the interval the cached view still admits...
        f.answered(i, 50, "/", 200);
        // ...and one sync interval (100 ms) after the opening every process rejects.
        assert_eq!(f.call(i, "req 114 /"), "reject circuit_open", "w{i}");
    }
}

const OUTAGE: &str = r#"{"service": "shop", "policies": [
  {"name": "db", "match": {"path_prefix": "/db"},
   "bulkhead": {"max_concurrent": 4, "queue_size": 0}},
  {"name": "api",
   "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 60000, "recovery_jitter": 0}}
]}"#;

#[test]
fn redis_killed_and_restarted_empty_mid_traffic_loses_and_jams_nothing() {
    let mut f = fleet(3, OUTAGE, "outage:");
    // Before: process 0 opens the breaker; everyone syncs and sees it. Processes 1 and 2 take
    // the whole bulkhead between them.
    for t in 10..15 {
        f.answered(0, t, "/api", 503);
    }
    f.all("tick 100");
    assert!(
        f.all("req 150 /api")
            .iter()
            .all(|r| r == "reject circuit_open")
    );
    let held1 = tickets(&f.call(1, "grab 160 /db 2"));
    let held2 = tickets(&f.call(2, "grab 160 /db 1000"));
    assert_eq!((held1.len(), held2.len()), (2, 2));

    f.redis.kill();
    // During: every request is decided (nothing traps or hangs), the breaker stays open, the
    // bulkhead fails closed, and process 1 gives its permits back.
    for step in 0..8u64 {
        let now = 200 + step * 100;
        f.all(&format!("tick {now}"));
        for i in 0..3 {
            assert_eq!(
                f.call(i, &format!("req {now} /api")),
                "reject circuit_open",
                "w{i} at {now}"
            );
            assert_eq!(
                f.call(i, &format!("req {now} /db")),
                "reject bulkhead_full",
                "w{i} at {now}"
            );
        }
        if step == 2 {
            for t in &held1 {
                assert_eq!(f.call(1, &format!("resp {now} {t} 200")), "ok");
            }
        }
    }
    let failures: Vec<u64> = (0..3).map(|i| f.calls(i)[2]).collect();
    for (i, n) in failures.iter().enumerate() {
        // Counted and reported by the host; about one failed call per sync interval (8 of them).
        assert!((1..=24).contains(n), "w{i}: {n} failed store calls");
    }

    f.redis.restart().unwrap();
    // After: Redis is back, empty. The next syncs restore what the processes last saw.
    for now in [1_100, 1_200, 1_300] {
        f.all(&format!("tick {now}"));
    }
    assert!(
        f.all("req 1350 /api")
            .iter()
            .all(|r| r == "reject circuit_open"),
        "the open breaker was not reset by the outage"
    );
    // Process 2 still holds 2 permits; process 1's went back during the outage: exactly 2 free.
    let got = f.grab(1_400, "/db");
    let total: usize = got.iter().map(Vec::len).sum();
    assert_eq!(total, 2, "after the restore: {got:?}");
    // Everyone gives everything back: all 4 free again, nothing leaked.
    for t in &held2 {
        assert_eq!(f.call(2, &format!("resp 1450 {t} 200")), "ok");
    }
    for (i, ts) in got.iter().enumerate() {
        for t in ts {
            assert_eq!(f.call(i, &format!("resp 1450 {t} 200")), "ok");
        }
    }
    f.all("tick 1500");
    let got = f.grab(1_600, "/db");
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), 4, "{got:?}");
    assert!(
        f.all("req 1700 /api")
            .iter()
            .all(|r| r == "reject circuit_open")
    );
    assert!(
        (0..3).all(|i| f.calls(i)[2] == failures[i]),
        "no failure once Redis is back"
    );
}

/// The load generator's demo-like policy: breaker, bulkhead of 1000, retry, injection at 0.
const DEMO_LIKE: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "retry": {"max_retries": 2},
  "bulkhead": {"max_concurrent": 1000},
  "injection": {"enabled": true, "abort_rate": 0.0, "delay_rate": 0.0}}]}"#;

/// Breaker and retry only.
const BREAKER_RETRY: &str = r#"{"service": "bench", "policies": [{"name": "api",
  "breaker": {"failure_threshold": 5, "recovery_timeout_ms": 3000},
  "retry": {"max_retries": 2}}]}"#;

#[test]
fn the_steady_path_calls_redis_at_most_once_per_twenty_requests() {
    let redis = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    for (name, config) in [("demo-like", DEMO_LIKE), ("breaker+retry", BREAKER_RETRY)] {
        for instances in [1, 4] {
            let prefix = format!("cost-{name}-{instances}:");
            let options = RedisOptions {
                prefix,
                ..RedisOptions::default()
            };
            let store = Arc::new(RedisStore::open(&redis.url(), options).unwrap());
            let per_request =
                fleet::steady::calls_per_request(store.clone(), config, instances).unwrap();
            eprintln!(
                "Redis host store, {name}, {instances} instance(s) at 1000 req/s each: {per_request:.4} store calls per request"
            );
            assert!(
                per_request <= 0.05,
                "{name}: {per_request} calls per request"
            );
            assert!(per_request > 0.0);
            assert_eq!(store.counts().unavailable, 0);
        }
    }
}
