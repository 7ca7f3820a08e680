//! Random interleavings of requests, responses, cancellations, ticks and clock steps (forwards
//! and backwards) over 2–4 engines sharing one store, and of store outages and restarts that lose
//! every key. After every step: the bulkhead never lets more requests run than its cap, the
//! shared counts equal what the workers really hold (while the store keeps its data), the probe
//! cap holds; at the end every permit has come back exactly once.

use proptest::prelude::*;

use super::*;
use crate::breaker::Snapshot;
use crate::bulkhead::{Counts, Holders};
use crate::outcome::OutcomeKind;
use crate::store::SharedStore;

const CONFIG: &str = r#"{"service":"s","policies":[{"name":"p",
    "breaker":{"failure_threshold":3,"recovery_timeout_ms":200,"recovery_jitter":0.2,
               "half_open_max_calls":2,"half_open_success_threshold":2,"probe_lease_ms":300},
    "bulkhead":{"max_concurrent":3,"queue_size":2,"queue_timeout_ms":150}}]}"#;

#[derive(Clone, Debug)]
enum Op {
    Request(usize),
    Respond(usize, usize, u8),
    Cancel(usize, usize),
    Tick(usize),
    Clock(i64),
    /// The store stops answering (`true`) or answers again.
    Down(bool),
    /// The store restarts empty (Redis without persistence).
    Wipe,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4).prop_map(Op::Request),
        4 => (0usize..4, 0usize..8, 0u8..4).prop_map(|(w, i, s)| Op::Respond(w, i, s)),
        1 => (0usize..4, 0usize..8).prop_map(|(w, i)| Op::Cancel(w, i)),
        2 => (0usize..4).prop_map(Op::Tick),
        3 => (-100i64..400).prop_map(Op::Clock),
    ]
}

/// [`op`] with outages: the store goes down and comes back.
fn op_or_outage() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => op(),
        1 => any::<bool>().prop_map(Op::Down),
    ]
}

/// Outages and restarts that lose every key, under a host that ticks every engine on time
/// (the clock moves forward at most 50 ms at once, and every engine whose timeout is due is
/// ticked then): what the restore grace of `engine::permits` relies on.
fn op_on_time() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4).prop_map(Op::Request),
        4 => (0usize..4, 0usize..8, 0u8..4).prop_map(|(w, i, s)| Op::Respond(w, i, s)),
        1 => (0usize..4, 0usize..8).prop_map(|(w, i)| Op::Cancel(w, i)),
        3 => (0i64..=50).prop_map(Op::Clock),
        1 => any::<bool>().prop_map(Op::Down),
        1 => Just(Op::Wipe),
    ]
}

#[derive(Default)]
struct Held {
    running: Vec<Ticket>,
    queued: Vec<Ticket>,
}

fn drain(e: &mut TestEngine, h: &mut Held) {
    while let Some(a) = e.poll_action() {
        match a {
            Action::Resume { ticket } => {
                h.queued.retain(|t| *t != ticket);
                h.running.push(ticket);
            }
            Action::Reply { ticket, .. } => h.queued.retain(|t| *t != ticket),
        }
    }
}

/// The shared bulkhead counts and breaker snapshot, read past an outage (`down`); a key the
/// store lost reads as nothing held and no snapshot.
fn shared(store: &MemoryStore, config: &Config, down: bool) -> (Counts, Option<Snapshot>) {
    store.set_unavailable(false);
    let mut buf = Vec::new();
    let counts = match store.get("breakwater/s/p/bulkhead", &mut buf).unwrap() {
        Some(_) => Holders::decode(&buf).unwrap().counts(),
        None => Counts::default(),
    };
    let breaker = config.policies[0].breaker.as_ref().unwrap();
    let snapshot = store
        .get("breakwater/s/p/breaker", &mut buf)
        .unwrap()
        .map(|_| Snapshot::decode(breaker, &buf).unwrap());
    store.set_unavailable(down);
    (counts, snapshot)
}

/// How the host drives the engines in [`interleave`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    /// Ticks come as the ops say, the store never loses data: the shared counts are exact.
    Random,
    /// After every clock step every engine whose timeout is due is ticked; the store may lose
    /// its data, so the shared counts may lag behind what runs for up to the restore grace.
    OnTime,
}

/// Runs `ops` over `n` engines of `json`, whose bulkhead has `cap` permits and lets an engine
/// keep `spares` spare ones, checking the invariants after every step and at the end.
fn interleave(
    json: &str,
    (cap, spares): (u32, u32),
    n: usize,
    ops: Vec<Op>,
    host: Host,
) -> Result<(), TestCaseError> {
    let config = Config::from_json(json).unwrap();
    let (mut w, store) = workers(json, n);
    let mut held: Vec<Held> = (0..n).map(|_| Held::default()).collect();
    let mut now = Nanos::from_secs(10);
    let mut down = false;
    let mut outages = false;
    let mut wiped = false;
    for o in ops {
        match o {
            Op::Request(k) => {
                let k = k % n;
                match get(&mut w[k], now) {
                    Decision::Proceed { ticket } => held[k].running.push(ticket),
                    Decision::Queue { ticket, .. } => held[k].queued.push(ticket),
                    Decision::Reject { .. } | Decision::Pass => {}
                    Decision::Delay { .. } => prop_assert!(false, "no injection configured"),
                }
            }
            Op::Respond(k, i, s) => {
                let k = k % n;
                if held[k].running.is_empty() {
                    continue;
                }
                let len = held[k].running.len();
                let t = held[k].running.swap_remove(i % len);
                let outcome = match s {
                    0 => Outcome::http(200),
                    1 => Outcome::http(503),
                    2 => Outcome::http(404),
                    _ => Outcome::without_answer(OutcomeKind::Reset),
                };
                w[k].on_response(now, t, &outcome, 1);
            }
            Op::Cancel(k, i) => {
                let k = k % n;
                let h = &mut held[k];
                let all = h.running.len() + h.queued.len();
                if all == 0 {
                    continue;
                }
                let i = i % all;
                let r = h.running.len();
                let t = if i < r {
                    h.running.swap_remove(i)
                } else {
                    h.queued.remove(i - r)
                };
                w[k].cancel(now, t);
            }
            Op::Tick(k) => w[k % n].handle_timeout(now),
            Op::Clock(d) => {
                now = if d >= 0 {
                    now + ms(d as u64)
                } else {
                    now - ms((-d) as u64)
                };
                if host == Host::Random {
                    continue;
                }
                for e in &mut w {
                    if now >= e.poll_timeout() {
                        e.handle_timeout(now);
                    }
                }
            }
            Op::Down(d) => {
                outages |= d;
                down = d;
                store.set_unavailable(d);
                continue;
            }
            Op::Wipe => {
                wiped = true;
                store.clear();
                continue;
            }
        }
        for k in 0..n {
            drain(&mut w[k], &mut held[k]);
        }
        let (counts, breaker) = shared(&store, &config, down);
        let running: usize = held.iter().map(|h| h.running.len()).sum();
        let queued: usize = held.iter().map(|h| h.queued.len()).sum();
        prop_assert!(
            running <= cap as usize,
            "{} requests run, cap {}",
            running,
            cap
        );
        prop_assert!(queued <= 2);
        prop_assert!(counts.inflight <= cap);
        if !wiped {
            // Spares: an engine may hold up to `spares` permits no request uses; an outage
            // leaves the rows over-counting (the permits given back meanwhile) until the store
            // answers again.
            prop_assert!(counts.inflight as usize >= running);
            prop_assert!(counts.queued as usize >= queued);
        }
        if !wiped && !outages {
            prop_assert!(counts.inflight as usize <= running + n * spares as usize);
            prop_assert_eq!(counts.queued as usize, queued);
        }
        prop_assert!(breaker.is_none_or(|b| b.probes_in_flight() <= 2));
    }
    store.set_unavailable(false);
    for k in 0..n {
        for t in std::mem::take(&mut held[k].running) {
            w[k].on_response(now, t, &Outcome::http(200), 1);
        }
        for t in std::mem::take(&mut held[k].queued) {
            w[k].cancel(now, t);
        }
        // Cancelling waiters can hand freed permits to later waiters: answer those too.
        drain(&mut w[k], &mut held[k]);
        for t in std::mem::take(&mut held[k].running) {
            w[k].on_response(now, t, &Outcome::http(200), 1);
        }
        prop_assert_eq!(w[k].tracked(), 0);
    }
    // The next sync of every engine gives its spares back (and puts right what an outage left).
    for e in &mut w {
        e.handle_timeout(now + Nanos::from_secs(1));
    }
    let (counts, _) = shared(&store, &config, false);
    prop_assert_eq!(counts, Counts::default());
    Ok(())
}

/// The same policy with a bulkhead of 64: engines keep up to 2 spare permits each.
const WIDE: &str = r#"{"service":"s","policies":[{"name":"p",
    "breaker":{"failure_threshold":3,"recovery_timeout_ms":200,"recovery_jitter":0.2,
               "half_open_max_calls":2,"half_open_success_threshold":2,"probe_lease_ms":300},
    "bulkhead":{"max_concurrent":64,"queue_size":2,"queue_timeout_ms":150}}]}"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn invariants_hold_under_any_interleaving(n in 2usize..=4, ops in prop::collection::vec(op(), 1..250)) {
        interleave(CONFIG, (3, 0), n, ops, Host::Random)?;
    }

    #[test]
    fn invariants_hold_with_spare_permits(n in 2usize..=4, ops in prop::collection::vec(op(), 1..250)) {
        interleave(WIDE, (64, 2), n, ops, Host::Random)?;
    }

    #[test]
    fn invariants_hold_through_store_outages(n in 2usize..=4, ops in prop::collection::vec(op_or_outage(), 1..250)) {
        interleave(CONFIG, (3, 0), n, ops, Host::Random)?;
    }

    #[test]
    fn invariants_hold_through_outages_with_spare_permits(n in 2usize..=4, ops in prop::collection::vec(op_or_outage(), 1..250)) {
        interleave(WIDE, (64, 2), n, ops, Host::Random)?;
    }

    #[test]
    fn caps_hold_and_nothing_leaks_when_the_store_loses_its_data(n in 2usize..=4, ops in prop::collection::vec(op_on_time(), 1..250)) {
        interleave(CONFIG, (3, 0), n, ops, Host::OnTime)?;
    }

    #[test]
    fn caps_hold_with_spares_when_the_store_loses_its_data(n in 2usize..=4, ops in prop::collection::vec(op_on_time(), 1..250)) {
        interleave(WIDE, (64, 2), n, ops, Host::OnTime)?;
    }
}
