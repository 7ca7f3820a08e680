//! Property: random interleavings of requests, upstream answers, client resets, clock steps and
//! forced CAS conflicts over 2-4 filter VMs never break the shared invariants.
//!
//! Checked after every step, straight from the shared data the VMs write:
//! - the bulkhead's permits never exceed `max_concurrent`, nor its queue `queue_size`, and the
//!   upstream never has more requests in flight than the cap;
//! - a half-open breaker never has more probe leases than `half_open_max_calls`;
//! - no VM traps.
//!
//! And once every request has ended and the clock has moved past every deadline: every permit
//! and queue place is back (0 and 0) and no probe lease is left.

use artifacts::BREAKWATER_FILTER;
use breakwater_core::Config;
use breakwater_core::breaker::{BreakerConfig, Snapshot};
use breakwater_core::bulkhead::{Counts, Holders};
use proptest::prelude::*;
use proxywasm_host::{Envoy, HostError, StreamId};

const CONFIG: &str = r#"{
  "service": "prop",
  "policies": [{
    "name": "api",
    "breaker": { "failure_threshold": 3, "recovery_timeout_ms": 1000, "recovery_jitter": 0,
                 "half_open_max_calls": 2, "half_open_success_threshold": 2,
                 "probe_lease_ms": 2000, "minimum_calls": 100 },
    "bulkhead": { "max_concurrent": 3, "queue_size": 2, "queue_timeout_ms": 300 }
  }]
}"#;
const MAX_CONCURRENT: u32 = 3;
const QUEUE_SIZE: u32 = 2;
const PROBES: u32 = 2;

#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    Answer(usize, u16),
    Reset(usize),
    Advance(u64),
    CasConflicts(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4).prop_map(Op::Send),
        4 => (any::<usize>(), prop_oneof![Just(200u16), Just(503), Just(404)])
            .prop_map(|(i, s)| Op::Answer(i, s)),
        1 => any::<usize>().prop_map(Op::Reset),
        2 => (1u64..1500).prop_map(Op::Advance),
        1 => (0u32..12).prop_map(Op::CasConflicts),
    ]
}

struct Run {
    envoy: Envoy,
    /// The bulkhead's cap in this run.
    cap: u32,
    workers: usize,
    breaker: BreakerConfig,
    /// Every request sent: (worker, stream).
    requests: Vec<(usize, StreamId)>,
}

impl Run {
    fn stream_state(&self, (w, id): (usize, StreamId)) -> (bool, bool, bool) {
        self.envoy.worker(w).with(|wk| {
            let s = wk.stream(id).expect("stream exists");
            (
                s.is_finished(),
                s.is_request_paused(),
                s.local_reply().is_some(),
            )
        })
    }

    /// Requests the upstream is working on: sent on (not paused), not answered, not ended.
    fn at_upstream(&self) -> Vec<(usize, StreamId)> {
        self.requests
            .iter()
            .copied()
            .filter(|&r| {
                let (finished, paused, local) = self.stream_state(r);
                !finished && !paused && !local
            })
            .collect()
    }

    fn live(&self) -> Vec<(usize, StreamId)> {
        self.requests
            .iter()
            .copied()
            .filter(|&r| !self.stream_state(r).0)
            .collect()
    }

    fn counts(&self) -> Counts {
        let (bytes, _) = self
            .envoy
            .world()
            .shared_data("breakwater/prop/api/bulkhead")
            .expect("bulkhead key created in on_configure");
        Holders::decode(&bytes)
            .expect("bulkhead table decodes")
            .counts()
    }

    fn snapshot(&self) -> Snapshot {
        let (bytes, _) = self
            .envoy
            .world()
            .shared_data("breakwater/prop/api/breaker")
            .expect("breaker key created in on_configure");
        Snapshot::decode(&self.breaker, &bytes).expect("breaker snapshot decodes")
    }

    fn step(&mut self, op: &Op) -> Result<(), HostError> {
        match *op {
            Op::Send(w) => {
                let w = w % self.workers;
                let req = self.envoy.worker(w).get("/x").send()?;
                self.requests.push((w, req.id()));
            }
            Op::Answer(i, status) => {
                let up = self.at_upstream();
                if !up.is_empty() {
                    let (w, id) = up[i % up.len()];
                    let status = status.to_string();
                    let _ = self
                        .envoy
                        .worker(w)
                        .with(|wk| wk.response_headers(id, &[(":status", &status)], true))?;
                }
            }
            Op::Reset(i) => {
                let live = self.live();
                if !live.is_empty() {
                    let (w, id) = live[i % live.len()];
                    self.envoy.worker(w).with(|wk| wk.reset(id))?;
                }
            }
            Op::Advance(ms) => self.envoy.advance_millis(ms)?,
            Op::CasConflicts(n) => self.envoy.world().fail_next_cas(n),
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let counts = self.counts();
        prop_assert!(counts.inflight <= self.cap, "permits {counts:?}");
        prop_assert!(
            counts.queued <= QUEUE_SIZE * self.workers as u32,
            "queued {counts:?}"
        );
        let up = self.at_upstream().len() as u32;
        prop_assert!(up <= self.cap, "{up} requests at the upstream");
        let snap = self.snapshot();
        prop_assert!(
            snap.probes_in_flight() <= PROBES,
            "probes {}",
            snap.probes_in_flight()
        );
        Ok(())
    }
}

fn run(workers: usize, ops: &[Op], config_json: &str, cap: u32) -> Result<(), TestCaseError> {
    let envoy = Envoy::start(&BREAKWATER_FILTER, workers, config_json)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let config = Config::from_json(config_json).expect("valid");
    let breaker = config.policies[0].breaker.clone().expect("breaker");
    let mut run = Run {
        envoy,
        cap,
        workers,
        breaker,
        requests: Vec::new(),
    };
    let fail = |e: HostError| TestCaseError::fail(format!("host error (trap?): {e}"));
    for op in ops {
        run.step(op).map_err(fail)?;
        run.check()?;
    }
    // Drain: no more conflicts, answer or reset everything, let every deadline pass.
    run.envoy.world().fail_next_cas(0);
    for _ in 0..50 {
        let up = run.at_upstream();
        let live = run.live();
        if live.is_empty() {
            break;
        }
        for (w, id) in up {
            let _ = run
                .envoy
                .worker(w)
                .with(|wk| wk.response_headers(id, &[(":status", "200")], true))
                .map_err(fail)?;
            run.check()?;
        }
        run.envoy.advance_millis(400).map_err(fail)?;
    }
    prop_assert!(run.live().is_empty(), "requests never ended");
    run.envoy.advance_millis(2_500).map_err(fail)?;
    let counts = run.counts();
    prop_assert_eq!(
        (counts.inflight, counts.queued),
        (0, 0),
        "leaked bulkhead state"
    );
    prop_assert_eq!(run.snapshot().probes_in_flight(), 0, "leaked probe lease");
    for w in 0..workers {
        let dead = run.envoy.worker(w).with(|wk| wk.is_dead());
        prop_assert!(!dead, "worker {} trapped", w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn shared_invariants_hold_under_random_interleavings(
        workers in 2usize..=4,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(workers, &ops, CONFIG, MAX_CONCURRENT)?;
    }

    #[test]
    fn shared_invariants_hold_with_spare_permits(
        workers in 2usize..=4,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        // A bulkhead of 40 lets each VM keep a spare permit (40 / 32).
        let wide = CONFIG.replace(r#""max_concurrent": 3"#, r#""max_concurrent": 40"#);
        run(workers, &ops, &wide, 40)?;
    }
}
