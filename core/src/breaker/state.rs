//! The breaker's state machine as pure functions over a fixed-size snapshot.
//!
//! `Snapshot::apply(config, event, now, unit) -> Step` never mutates in place and never
//! allocates: the engine reads a snapshot from shared data, applies an event, and writes the
//! result back with compare-and-swap, retrying on a mismatch. Because every worker applies the
//! same function to the same bytes, the probe cap is exact across workers: a probe is a lease in
//! the snapshot, and two workers racing for the last lease cannot both win the CAS.
//!
//! Transitions (resilience4j's model, with leases):
//! - closed → open: `failure_threshold` consecutive failures, or once `minimum_calls` are in the
//!   window, a failure rate ≥ `failure_rate_threshold` or slow rate ≥ `slow_call_rate_threshold`;
//! - open → half-open: the first acquire at or after `open_until`;
//! - half-open → closed: `half_open_success_threshold` successful probes;
//! - half-open → open: any failed probe (the open time grows per consecutive re-open).
//!
//! Outcomes of calls admitted before a transition (not probes) only feed the statistics once
//! the breaker has left the closed state; a probe result from an earlier half-open episode, or
//! from a lease that already expired, is ignored, so a late response cannot close a breaker it
//! did not probe nor push the probe count past the cap.

use super::config::{BreakerConfig, MAX_PROBES};
use super::health::Health;
use super::types::{Admission, Event, ProbePermit, Reason, State, Stats, Transition};
use super::window::Window;
use crate::time::Nanos;

/// The shared state of one breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Current state.
    pub state: State,
    /// When the breaker entered `state`.
    pub since: Nanos,
    /// While open: when probing may start.
    pub open_until: Nanos,
    /// Consecutive re-opens without closing (drives the recovery backoff).
    pub reopens: u32,
    /// Consecutive failures while closed.
    pub consecutive_failures: u32,
    /// Time of the last failure (for `failure_reset_timeout_ms`).
    pub last_failure: Nanos,
    /// Half-open episode number; probe permits from other episodes are stale.
    pub episode: u32,
    /// Successful probes in this half-open episode.
    pub probe_successes: u32,
    /// Lease deadline per probe slot; zero means free.
    pub(super) leases: [Nanos; MAX_PROBES],
    /// Outcomes measured while closed.
    pub window: Window,
    /// Totals since the breaker was created (or last reset).
    pub stats: Stats,
    /// The health view fed by the same outcomes (see [`super::health`]).
    pub health: Health,
}

/// The result of applying an event.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct Step {
    /// The next snapshot (equal to the old one when nothing changed).
    pub next: Snapshot,
    /// For [`Event::Acquire`]: the decision.
    pub admission: Option<Admission>,
    /// A state change, if one happened.
    pub transition: Option<Transition>,
}

impl Snapshot {
    /// A closed breaker with an empty window.
    pub fn new(config: &BreakerConfig) -> Self {
        Snapshot {
            state: State::Closed,
            since: Nanos::ZERO,
            open_until: Nanos::ZERO,
            reopens: 0,
            consecutive_failures: 0,
            last_failure: Nanos::ZERO,
            episode: 0,
            probe_successes: 0,
            leases: [Nanos::ZERO; MAX_PROBES],
            window: Window::new(config),
            stats: Stats::default(),
            health: Health::default(),
        }
    }

    /// Probes currently leased (expired leases included until the next event reclaims them).
    pub fn probes_in_flight(&self) -> u32 {
        self.leases.iter().filter(|l| **l != Nanos::ZERO).count() as u32
    }

    /// How long a caller would have to wait at `now` before this snapshot admits again
    /// (zero when it admits now). Used to reject from a cached snapshot without a shared read.
    pub fn rejects_for(&self, config: &BreakerConfig, now: Nanos) -> Option<Nanos> {
        match self.state {
            State::Closed => None,
            // A clock behind the opening instant: let `acquire` rebase the open period.
            State::Open if now >= self.open_until || now < self.since => None,
            State::Open => Some(self.open_until - now),
            State::HalfOpen => {
                let mut s = *self;
                match s.acquire(config, now).0 {
                    Admission::Reject { retry_after } => Some(retry_after),
                    _ => None,
                }
            }
        }
    }

    /// The state to report at `now`: an open breaker whose open time has passed is `HalfOpen`,
    /// since the next call is a probe, even if no call has come yet to move it there (with no
    /// traffic a recovered dependency must not read as open for ever). Transitions still happen
    /// only through [`Snapshot::apply`].
    pub fn state_at(&self, now: Nanos) -> State {
        match self.state {
            State::Open if now >= self.open_until => State::HalfOpen,
            state => state,
        }
    }

    /// Applies `event` at `now`; `unit` is a uniform sample in [0, 1) for recovery jitter.
    /// The pure form: `self` is left as it was and the next snapshot is returned.
    pub fn apply(&self, config: &BreakerConfig, event: Event, now: Nanos, unit: f64) -> Step {
        let mut next = *self;
        let (admission, transition) = next.apply_in_place(config, event, now, unit);
        Step {
            next,
            admission,
            transition,
        }
    }

    /// [`Snapshot::apply`] without copying the snapshot: advances `self` and returns the
    /// admission (for an acquire) and the transition, if any.
    pub fn apply_in_place(
        &mut self,
        config: &BreakerConfig,
        event: Event,
        now: Nanos,
        unit: f64,
    ) -> (Option<Admission>, Option<Transition>) {
        let mut admission = None;
        let transition = match event {
            Event::Acquire => {
                let (a, t) = self.acquire(config, now);
                admission = Some(a);
                t
            }
            Event::Record {
                successes,
                slow_successes,
                failures,
                slow_failures,
            } => self.record(
                config,
                now,
                unit,
                (successes, slow_successes, now),
                failures,
                slow_failures,
            ),
            Event::Flush {
                successes,
                slow_successes,
                failures,
                slow_failures,
                latest_success,
                rejections,
            } => {
                self.stats.rejected += u64::from(rejections);
                self.record(
                    config,
                    now,
                    unit,
                    (successes, slow_successes, latest_success),
                    failures,
                    slow_failures,
                )
            }
            Event::ProbeResult { permit, failed } => {
                self.probe_done(config, now, unit, permit, Some(failed))
            }
            Event::ProbeRelease { permit } => self.probe_done(config, now, unit, permit, None),
            Event::Reset => self.reset(config, now),
        };
        // A reset starts the counts again: its own transition is not one of them.
        if transition.is_some() && event != Event::Reset {
            self.stats.transitions += 1;
        }
        if let Some(Admission::Reject { .. }) = admission {
            self.stats.rejected += 1;
        }
        (admission, transition)
    }

    /// Closed, counts and statistics cleared (the health view too), probe leases void: a new
    /// episode, so a permit given before the reset is stale after it.
    fn reset(&mut self, config: &BreakerConfig, now: Nanos) -> Option<Transition> {
        let from = self.state;
        let episode = self.episode.wrapping_add(1);
        *self = Snapshot::new(config);
        self.episode = episode;
        self.since = now;
        (from != State::Closed).then_some(Transition {
            from,
            to: State::Closed,
            at: now,
            reason: Reason::Reset,
        })
    }

    fn go(&mut self, to: State, now: Nanos, reason: Reason) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        self.since = now;
        Some(Transition {
            from,
            to,
            at: now,
            reason,
        })
    }

    fn open(
        &mut self,
        config: &BreakerConfig,
        now: Nanos,
        unit: f64,
        reason: Reason,
    ) -> Option<Transition> {
        self.open_until = now + config.jittered_recovery(self.reopens, unit);
        self.leases = [Nanos::ZERO; MAX_PROBES];
        self.go(State::Open, now, reason)
    }

    fn acquire(&mut self, config: &BreakerConfig, now: Nanos) -> (Admission, Option<Transition>) {
        let mut transition = None;
        if self.state == State::Open && now < self.since {
            // The wall clock stepped back past the opening: keep the remaining open time
            // relative to the new clock instead of staying open until the old deadline.
            let remaining = self.open_until.saturating_since(self.since);
            self.since = now;
            self.open_until = now + remaining;
        }
        match self.state {
            State::Closed => return (Admission::Admit, None),
            State::Open if now < self.open_until => {
                return (
                    Admission::Reject {
                        retry_after: self.open_until - now,
                    },
                    None,
                );
            }
            State::Open => {
                self.episode = self.episode.wrapping_add(1);
                self.probe_successes = 0;
                self.leases = [Nanos::ZERO; MAX_PROBES];
                transition = self.go(State::HalfOpen, now, Reason::RecoveryElapsed);
            }
            State::HalfOpen => {}
        }
        let max = (config.half_open_max_calls as usize).min(MAX_PROBES);
        for lease in &mut self.leases[..max] {
            if *lease != Nanos::ZERO && *lease <= now {
                *lease = Nanos::ZERO; // a probe whose response never came
            }
        }
        let in_use = self.leases[..max]
            .iter()
            .filter(|l| **l != Nanos::ZERO)
            .count() as u32;
        if self.probe_successes + in_use < config.half_open_max_calls
            && let Some(slot) = self.leases[..max].iter().position(|l| *l == Nanos::ZERO)
        {
            let lease = (now + Nanos::from_millis(config.probe_lease_ms)).max(Nanos::new(1));
            self.leases[slot] = lease;
            let permit = ProbePermit {
                slot: slot as u8,
                episode: self.episode,
                lease,
            };
            return (Admission::Probe(permit), transition);
        }
        let earliest = self.leases[..max]
            .iter()
            .filter(|l| **l != Nanos::ZERO)
            .min()
            .copied()
            .unwrap_or(now);
        let retry_after = (earliest - now).max(Nanos::from_millis(1));
        (Admission::Reject { retry_after }, transition)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        config: &BreakerConfig,
        now: Nanos,
        unit: f64,
        (successes, slow_successes, latest_success): (u32, u32, Nanos),
        failures: u32,
        slow_failures: u32,
    ) -> Option<Transition> {
        let calls = u64::from(successes) + u64::from(failures);
        self.health.record(&config.health, successes, failures);
        self.stats.calls += calls;
        self.stats.successes += u64::from(successes);
        self.stats.failures += u64::from(failures);
        self.stats.slow += u64::from(slow_successes) + u64::from(slow_failures);
        if self.state != State::Closed || calls == 0 {
            return None;
        }
        let slow_s = slow_successes.min(successes);
        let slow_f = slow_failures.min(failures);
        self.window.record(now, successes - slow_s, false, false);
        self.window.record(now, slow_s, false, true);
        self.window.record(now, failures - slow_f, true, false);
        self.window.record(now, slow_f, true, true);
        // A success resets the streak unless it is older than the last failure recorded (a
        // batch flushed late); one that finished `now` is always the newest.
        if successes > 0 && latest_success >= self.last_failure.min(now) {
            self.consecutive_failures = 0;
        }
        if failures > 0 {
            let idle = Nanos::from_millis(config.failure_reset_timeout_ms);
            if config.failure_reset_timeout_ms > 0
                && self.consecutive_failures > 0
                && now.saturating_since(self.last_failure) >= idle
            {
                self.consecutive_failures = 0;
            }
            self.consecutive_failures = self.consecutive_failures.saturating_add(failures);
            self.last_failure = now;
        }
        let reason = self.trip_reason(config, now)?;
        self.reopens = 0;
        self.open(config, now, unit, reason)
    }

    fn trip_reason(&self, config: &BreakerConfig, now: Nanos) -> Option<Reason> {
        if config.failure_threshold > 0 && self.consecutive_failures >= config.failure_threshold {
            return Some(Reason::ConsecutiveFailures);
        }
        let t = self.window.totals(now);
        if t.calls == 0 || t.calls < config.minimum_calls {
            return None;
        }
        let calls = f64::from(t.calls);
        if f64::from(t.failures) / calls >= config.failure_rate_threshold {
            Some(Reason::FailureRate)
        } else if f64::from(t.slow) / calls >= config.slow_call_rate_threshold {
            Some(Reason::SlowCallRate)
        } else {
            None
        }
    }

    fn probe_done(
        &mut self,
        config: &BreakerConfig,
        now: Nanos,
        unit: f64,
        permit: ProbePermit,
        failed: Option<bool>,
    ) -> Option<Transition> {
        let slot = usize::from(permit.slot);
        if let Some(f) = failed {
            self.health
                .record(&config.health, u32::from(!f), u32::from(f));
            self.stats.calls += 1;
            if f {
                self.stats.failures += 1;
            } else {
                self.stats.successes += 1;
            }
        }
        if self.state != State::HalfOpen
            || permit.episode != self.episode
            || self.leases.get(slot) != Some(&permit.lease)
        {
            // Stale: from an earlier episode, or the lease expired (and the slot may serve
            // another probe now). An expired probe was written off; its late answer is ignored,
            // so the probe cap and the success count stay exact.
            return None;
        }
        self.leases[slot] = Nanos::ZERO;
        match failed {
            None => None,
            Some(true) => {
                self.reopens = self.reopens.saturating_add(1);
                self.open(config, now, unit, Reason::ProbeFailed)
            }
            Some(false) => {
                self.probe_successes += 1;
                if self.probe_successes >= config.half_open_success_threshold {
                    self.consecutive_failures = 0;
                    self.reopens = 0;
                    self.window.clear();
                    self.go(State::Closed, now, Reason::ProbesSucceeded)
                } else {
                    None
                }
            }
        }
    }
}
