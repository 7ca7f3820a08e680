//! The values that go in and out of the breaker's state machine: its states, the reasons and
//! transitions it reports, the events it takes, the admissions and probe permits it gives, and
//! the statistics it keeps. Kept apart from the machine itself ([`super::Snapshot`]) so a reader
//! of the engine or of an adapter finds the vocabulary without the transition rules.

use crate::time::Nanos;

/// The three breaker states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; outcomes are measured.
    Closed,
    /// Calls are rejected until `open_until`.
    Open,
    /// A bounded number of probes decide whether to close again.
    HalfOpen,
}

impl State {
    /// `closed`, `open` or `half_open`.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }

    /// Gauge value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }
}

/// Why a transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `failure_threshold` consecutive failures.
    ConsecutiveFailures,
    /// Failure rate over the window.
    FailureRate,
    /// Slow-call rate over the window.
    SlowCallRate,
    /// The open time elapsed.
    RecoveryElapsed,
    /// A probe failed.
    ProbeFailed,
    /// Enough probes succeeded.
    ProbesSucceeded,
    /// An operator reset the breaker ([`Event::Reset`]).
    Reset,
}

impl Reason {
    /// Lowercase name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::RecoveryElapsed => "recovery_elapsed",
            Reason::ProbeFailed => "probe_failed",
            Reason::ProbesSucceeded => "probes_succeeded",
            Reason::Reset => "reset",
        }
    }
}

/// A state change, returned to the caller as an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// When.
    pub at: Nanos,
    /// Why.
    pub reason: Reason,
}

/// A half-open probe permit: a lease slot in one half-open episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePermit {
    /// The lease slot in the snapshot.
    pub(super) slot: u8,
    /// The half-open episode the lease belongs to.
    pub(super) episode: u32,
    /// The lease deadline given with the permit: identifies this lease among later ones that
    /// may reuse the slot after it expired.
    pub(super) lease: Nanos,
}

/// What an acquire decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Admit,
    /// Half-open: go ahead as a probe; report its outcome with this permit.
    Probe(ProbePermit),
    /// Open, or half-open with every probe leased: try again after `retry_after`.
    Reject {
        /// How long until the breaker may admit again.
        retry_after: Nanos,
    },
}

/// An input to the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Ask to admit one call.
    Acquire,
    /// Outcomes of ordinary (non-probe) calls, successes first, then failures.
    Record {
        /// Successful calls.
        successes: u32,
        /// Of the successes, how many were slow.
        slow_successes: u32,
        /// Failed calls.
        failures: u32,
        /// Of the failures, how many were slow.
        slow_failures: u32,
    },
    /// Outcomes a worker batched before writing them: as [`Event::Record`], but the successes
    /// reset the consecutive-failure count only if the latest of them came after the last
    /// failure recorded (by any worker). A success flushed late must not erase failures that
    /// other workers saw after it.
    Flush {
        /// Successful calls.
        successes: u32,
        /// Of the successes, how many were slow.
        slow_successes: u32,
        /// Failed calls.
        failures: u32,
        /// Of the failures, how many were slow.
        slow_failures: u32,
        /// When the latest of the successes finished.
        latest_success: Nanos,
        /// Calls this worker rejected from its cached view (counted in [`Stats::rejected`]).
        rejections: u32,
    },
    /// A probe finished.
    ProbeResult {
        /// The permit from [`Admission::Probe`].
        permit: ProbePermit,
        /// Whether it failed (a slow probe fails when a slow-call rate is configured).
        failed: bool,
    },
    /// A probe ended without an outcome (cancelled): give its lease back.
    ProbeRelease {
        /// The permit from [`Admission::Probe`].
        permit: ProbePermit,
    },
    /// An operator's reset (source 003's `reset()`): closed, every count and statistic
    /// cleared, every probe lease void.
    Reset,
}

/// Counters kept in the shared snapshot, so they include every worker's calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Outcomes recorded.
    pub calls: u64,
    /// Successful outcomes.
    pub successes: u64,
    /// Failed outcomes.
    pub failures: u64,
    /// Slow outcomes.
    pub slow: u64,
    /// State transitions.
    pub transitions: u64,
    /// Calls rejected (open, or half-open with every probe leased).
    pub rejected: u64,
}
