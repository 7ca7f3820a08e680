//! Properties of the state machine over random event sequences, and its byte form: damaged or
//! foreign bytes decode to `None`, never a panic.

use super::*;
use proptest::prelude::*;

#[test]
fn snapshot_with_another_shape_or_damage_decodes_to_none() {
    let c = cfg();
    let mut buf = Vec::new();
    Snapshot::new(&c).encode(&c, &mut buf);
    let other = BreakerConfig {
        window_size: 50,
        ..c.clone()
    };
    assert_eq!(Snapshot::decode(&other, &buf), None);
    assert_eq!(Snapshot::decode(&c, &buf[..buf.len() - 1]), None);
    // Another version, or version 2's bytes labelled as version 1 (which had no rejected count
    // nor health view: 21 bytes fewer).
    for version in [1, SNAPSHOT_VERSION + 1] {
        let mut other = buf.clone();
        other[0] = version;
        assert_eq!(Snapshot::decode(&c, &other), None);
    }
    assert_eq!(Snapshot::decode(&c, &buf), Some(Snapshot::new(&c)));
}

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Ok,
    Fail,
    Slow,
    ProbeOk(usize),
    ProbeFail(usize),
    Release(usize),
    /// Step the clock; may go backwards.
    Clock(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        2 => Just(Op::Ok),
        3 => Just(Op::Fail),
        1 => Just(Op::Slow),
        2 => (0usize..8).prop_map(Op::ProbeOk),
        1 => (0usize..8).prop_map(Op::ProbeFail),
        1 => (0usize..8).prop_map(Op::Release),
        3 => (-5_000i64..40_000).prop_map(Op::Clock),
    ]
}

fn config_strategy() -> impl Strategy<Value = BreakerConfig> {
    (1u32..=4, 1u32..=4, 1u32..=6, prop::bool::ANY).prop_map(|(max, succ, thr, time)| {
        BreakerConfig {
            failure_threshold: thr,
            half_open_max_calls: max,
            half_open_success_threshold: succ.min(max),
            recovery_timeout_ms: 10_000,
            recovery_backoff: 1.5,
            recovery_jitter: 0.2,
            probe_lease_ms: 7_000,
            minimum_calls: 4,
            window_size: if time { 10 } else { 8 },
            window: if time {
                WindowKind::Time
            } else {
                WindowKind::Count
            },
            window_buckets: 5,
            slow_call_rate_threshold: 0.9,
            ..BreakerConfig::default()
        }
    })
}

proptest! {
    /// A half-open breaker never has more probes out than configured, however outcomes,
    /// releases and a (possibly backwards) clock interleave; snapshots always round-trip.
    #[test]
    fn probes_never_exceed_the_cap(c in config_strategy(), ops in prop::collection::vec(op(), 1..300)) {
        let mut s = Snapshot::new(&c);
        let mut now = Nanos::from_secs(1_000);
        let mut permits: Vec<ProbePermit> = Vec::new();
        let mut buf = Vec::new();
        for (i, o) in ops.into_iter().enumerate() {
            let unit = (i % 10) as f64 / 10.0;
            let event = match o {
                Op::Acquire => Event::Acquire,
                Op::Ok => OK,
                Op::Fail => FAIL,
                Op::Slow => Event::Record { successes: 1, slow_successes: 1, failures: 0, slow_failures: 0 },
                Op::ProbeOk(k) | Op::ProbeFail(k) | Op::Release(k) if permits.is_empty() => { let _ = k; continue; }
                Op::ProbeOk(k) => Event::ProbeResult { permit: permits.swap_remove(k % permits.len()), failed: false },
                Op::ProbeFail(k) => Event::ProbeResult { permit: permits.swap_remove(k % permits.len()), failed: true },
                Op::Release(k) => Event::ProbeRelease { permit: permits.swap_remove(k % permits.len()) },
                Op::Clock(ms) => {
                    now = if ms >= 0 { now + Nanos::from_millis(ms as u64) } else { now - Nanos::from_millis((-ms) as u64) };
                    continue;
                }
            };
            let st = s.apply(&c, event, now, unit);
            s = st.next;
            if let Some(Admission::Probe(p)) = st.admission {
                permits.push(p);
            }
            prop_assert!(s.probes_in_flight() <= c.half_open_max_calls);
            prop_assert!(s.probe_successes < c.half_open_success_threshold || s.state != State::HalfOpen);
            if s.state == State::HalfOpen {
                prop_assert!(s.probe_successes + s.probes_in_flight() <= c.half_open_max_calls);
            }
            s.encode(&c, &mut buf);
            prop_assert_eq!(Snapshot::decode(&c, &buf), Some(s));
        }
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Snapshot::decode(&cfg(), &bytes);
    }
}

#[test]
fn a_version_1_snapshot_is_still_read_with_zero_rejections_and_full_health() {
    // Version 1 is version 2 without the rejected count (8 bytes, after the other counts) and
    // the health view (13 bytes): a filter of the previous release wrote it.
    let c = cfg();
    let mut s = Snapshot::new(&c);
    s.state = State::Open;
    s.open_until = Nanos::from_secs(30);
    s.stats.calls = 7;
    s.stats.transitions = 1;
    let mut v2 = Vec::new();
    s.encode(&c, &mut v2);
    let mut tail = Vec::new();
    Snapshot::new(&c)
        .window
        .encode(&mut crate::breaker::codec::Writer(&mut tail));
    let counts_end = v2.len() - tail.len() - 13 - 8;
    let mut v1 = v2[..counts_end].to_vec();
    v1.extend_from_slice(&tail);
    v1[0] = 1;
    let read = Snapshot::decode(&c, &v1).expect("version 1 is read");
    assert_eq!(
        (read.state, read.open_until),
        (State::Open, Nanos::from_secs(30))
    );
    assert_eq!((read.stats.calls, read.stats.rejected), (7, 0));
    assert_eq!(read.health, crate::breaker::Health::default());
}
