//! What a host across a costly boundary relies on to call the engine as little as possible
//! (the component's `engine` interface documents the same rules):
//!
//! - a proceeding request's headers are one of a fixed, numbered set ([`Engine::header_sets`]),
//!   so the host caches the lists and receives a number per request;
//! - the next deadline ([`Engine::poll_timeout`]) moves earlier only through a `Delay` or
//!   `Queue` decision, which carries its own `until`, or through [`Engine::handle_timeout`]: a
//!   host reads it after those and never per request;
//! - actions for held requests appear only after [`Engine::on_response`], [`Engine::cancel`]
//!   and [`Engine::handle_timeout`] ([`Engine::pending_actions`] says how many).

use proptest::prelude::*;

use super::*;
use crate::outcome::{Outcome, OutcomeKind};

/// Policies of every header-list shape: retries with a timeout (gRPC conditions too), a timeout
/// alone, nothing, retries without a timeout.
const SHAPES: &str = r#"{"service":"s","policies":[
    {"name":"retry","match":{"path_prefix":"/retry"},"timeout_ms":900,
     "breaker":{"failure_threshold":1,"recovery_timeout_ms":100,"recovery_jitter":0,
                "half_open_max_calls":1,"half_open_success_threshold":1},
     "retry":{"max_retries":2,"per_try_timeout_ms":300}},
    {"name":"timeout","match":{"path_prefix":"/timeout"},"timeout_ms":500},
    {"name":"bare","match":{"path_prefix":"/bare"}},
    {"name":"once","match":{"path_prefix":"/once"},"retry":{"max_retries":1}}]}"#;

fn send(e: &mut TestEngine, now: Nanos, method: &str, path: &str, grpc: bool) -> Ticket {
    let h = vec![("content-type", "application/grpc")];
    let none: Vec<(&str, &str)> = Vec::new();
    let req = RequestInfo {
        headers: if grpc { &h } else { &none },
        ..RequestInfo::new(method, path)
    };
    match e.on_request(now, &req) {
        Decision::Proceed { ticket } => ticket,
        other => panic!("{method} {path} grpc={grpc}: expected proceed, got {other:?}"),
    }
}

#[test]
fn every_proceeding_request_names_its_headers_in_the_header_sets() {
    let mut e = one(SHAPES);
    let sets: Vec<Vec<(String, String)>> = e.header_sets().into_iter().map(<[_]>::to_vec).collect();
    // retry: 3 counts x (gRPC, not) x (all conditions, before processing); timeout: 1;
    // bare: 1; once: 2 counts x 2 x 2.
    assert_eq!(sets.len(), 12 + 1 + 1 + 8);
    let mut seen = std::collections::BTreeSet::new();
    let mut check = |e: &TestEngine, t: Ticket| {
        let id = e.header_set(t).expect("a live ticket has a header set");
        assert_eq!(
            sets[id as usize],
            e.request_headers(t),
            "ticket {t:?}, set {id}"
        );
        seen.insert(id);
    };
    for path in ["/retry", "/timeout", "/bare", "/once"] {
        for method in ["GET", "POST"] {
            for grpc in [false, true] {
                let t = send(&mut e, ms(0), method, path, grpc);
                check(&e, t);
                let ok = if grpc {
                    Outcome::grpc(0)
                } else {
                    Outcome::http(200)
                };
                e.on_response(ms(0), t, &ok, 1);
                assert_eq!(e.header_set(t), None, "a finished ticket has none");
            }
        }
    }
    // A half-open probe gets no retries: the `retry` policy's zero-retry list.
    let t = send(&mut e, ms(1), "GET", "/retry", false);
    e.on_response(ms(1), t, &Outcome::http(503), 1);
    let probe = send(&mut e, ms(200), "GET", "/retry", false);
    check(&e, probe);
    assert_eq!(e.request_headers(probe)[0].1, "0");
    // Every list but the zero-retry ones of a gRPC request (the same text as the plain ones,
    // reached only by a gRPC POST or probe) was named by some request.
    assert!(seen.len() >= 10, "{seen:?}");
    assert!(seen.iter().all(|id| (*id as usize) < sets.len()));
}

/// Breaker, injected delays (half the requests), a bulkhead of 2 with a queue of 2.
const BUSY: &str = r#"{"service":"s","sync_interval_ms":50,"policies":[{"name":"p",
    "breaker":{"failure_threshold":3,"recovery_timeout_ms":200,"recovery_jitter":0.2,
               "half_open_max_calls":1,"half_open_success_threshold":1},
    "injection":{"enabled":true,"delay_rate":0.5,"delay_ms":40,"max_active":4},
    "bulkhead":{"max_concurrent":2,"queue_size":2,"queue_timeout_ms":70}}]}"#;

#[derive(Clone, Debug)]
enum Op {
    Request,
    Respond(usize, bool),
    Cancel(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Request),
        3 => (0usize..8, any::<bool>()).prop_map(|(i, ok)| Op::Respond(i, ok)),
        1 => (0usize..8).prop_map(Op::Cancel),
        3 => (0u64..90).prop_map(Op::Advance),
    ]
}

/// A host that reads `poll_timeout` only after building the engine and after
/// `handle_timeout`, lowers its deadline to the `until` of `Delay` and `Queue` decisions, and
/// drains actions only when `pending_actions` says so after a response or a cancel.
fn lazy_host(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut e = one(BUSY);
    let mut now = Nanos::from_secs(1);
    let mut deadline = e.poll_timeout();
    let (mut running, mut held): (Vec<Ticket>, Vec<Ticket>) = (Vec::new(), Vec::new());
    let drain = |e: &mut TestEngine, running: &mut Vec<Ticket>, held: &mut Vec<Ticket>| {
        while let Some(a) = e.poll_action() {
            match a {
                Action::Resume { ticket } => {
                    held.retain(|t| *t != ticket);
                    running.push(ticket);
                }
                Action::Reply { ticket, .. } => held.retain(|t| *t != ticket),
            }
        }
    };
    for o in ops {
        match o {
            Op::Request => {
                match get(&mut e, now) {
                    Decision::Proceed { ticket } => running.push(ticket),
                    Decision::Delay { ticket, until } | Decision::Queue { ticket, until } => {
                        held.push(ticket);
                        deadline = deadline.min(until);
                    }
                    Decision::Reject { .. } | Decision::Pass => {}
                }
                prop_assert_eq!(e.pending_actions(), 0, "on_request queues no action");
            }
            Op::Respond(i, ok) if !running.is_empty() => {
                let t = running.swap_remove(i % running.len());
                let outcome = if ok {
                    Outcome::http(200)
                } else {
                    Outcome::without_answer(OutcomeKind::Reset)
                };
                e.on_response(now, t, &outcome, 1);
                if e.pending_actions() > 0 {
                    drain(&mut e, &mut running, &mut held);
                }
            }
            Op::Cancel(i) if !running.is_empty() || !held.is_empty() => {
                let i = i % (running.len() + held.len());
                let t = if i < running.len() {
                    running.swap_remove(i)
                } else {
                    held.remove(i - running.len())
                };
                e.cancel(now, t);
                if e.pending_actions() > 0 {
                    drain(&mut e, &mut running, &mut held);
                }
            }
            Op::Respond(..) | Op::Cancel(_) => {}
            Op::Advance(d) => {
                // The host's timer: it may wake late, never early.
                now = now + ms(d);
                if now >= deadline {
                    e.handle_timeout(now);
                    deadline = e.poll_timeout();
                    drain(&mut e, &mut running, &mut held);
                }
            }
        }
        // The host's deadline is never later than the engine's: it misses nothing.
        prop_assert!(
            deadline <= e.poll_timeout(),
            "host deadline {deadline} after the engine's {}",
            e.poll_timeout()
        );
        prop_assert_eq!(e.pending_actions(), 0, "no action left undrained");
        prop_assert_eq!(e.tracked(), running.len() + held.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn a_host_that_polls_only_after_timeouts_misses_no_deadline_and_no_action(
        ops in prop::collection::vec(op(), 1..300)
    ) {
        lazy_host(ops)?;
    }
}
