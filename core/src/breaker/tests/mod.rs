//! The state machine under a virtual clock: exact transition sequences (`transitions`), and
//! properties over random event sequences plus the byte form (`props`).

mod props;
mod transitions;

use super::*;
use crate::time::Nanos;

pub(super) fn cfg() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 5,
        recovery_timeout_ms: 30_000,
        half_open_max_calls: 2,
        half_open_success_threshold: 2,
        probe_lease_ms: 5_000,
        ..BreakerConfig::default()
    }
}

pub(super) const FAIL: Event = Event::Record {
    successes: 0,
    slow_successes: 0,
    failures: 1,
    slow_failures: 0,
};
pub(super) const OK: Event = Event::Record {
    successes: 1,
    slow_successes: 0,
    failures: 0,
    slow_failures: 0,
};

pub(super) fn secs(s: u64) -> Nanos {
    Nanos::from_secs(s)
}

pub(super) fn step(s: &mut Snapshot, c: &BreakerConfig, e: Event, now: Nanos) -> Step {
    let st = s.apply(c, e, now, 0.5);
    *s = st.next;
    st
}

pub(super) fn acquire(s: &mut Snapshot, c: &BreakerConfig, now: Nanos) -> Admission {
    step(s, c, Event::Acquire, now).admission.unwrap()
}
