//! Failure injection: aborts and delays on purpose, to prove the rest works.
//!
//! A breaker that has never opened, a retry policy that has never retried and a client that has
//! never seen a 503 are untested. Injection lets an operator make a share of requests fail
//! (`abort_rate`) or slow down (`delay_rate`) at the edge, without touching the upstream, and lets
//! a single test request ask for a fault with `x-failure-inject: true`.
//!
//! Three guards keep a chaos experiment from becoming an outage:
//!
//! - **Off unless enabled.** A disabled injector never faults, ignores the header, and draws no
//!   randomness, so turning injection off cannot even shift another component's random stream.
//! - **`max_active`** caps how many injected faults are in progress at once. Delays hold requests
//!   (and their memory, and their client's patience); without a cap a 100% delay rate would pile
//!   up every request of a busy service.
//! - **`count_injected`** is off by default: an injected abort is breakwater's own doing, so it is
//!   not reported to the breaker unless the experiment is precisely "does the breaker open?".
//!   An injected *delay* is not an outcome at all: the request goes upstream afterwards, and
//!   the breaker judges that answer like any other.
//!
//! The returned [`Fault`] is itself the "injected" tag: the engine answers an abort with a local
//! reply ([`crate::reply::RejectReason::InjectedAbort`]) and counts it as injected, never as an
//! upstream outcome.
//!
//! Abort is drawn first; the delay is drawn only for a request that was not aborted. So the share
//! of aborted requests is `abort_rate` and the share of delayed ones `(1 - abort_rate) *
//! delay_rate`. A rate of 0 or 1 draws nothing.

use rand_core::RngCore;

use crate::random::chance;
use crate::time::Nanos;
use crate::validate::Problems;

/// The request header that forces an injected fault (when injection allows it: enabled, with
/// `header_trigger`).
pub const FAULT_HEADER: &str = "x-failure-inject";

/// The longest configurable delay: one hour.
pub const MAX_DELAY_MS: u64 = 3_600_000;

/// A policy's `injection` section.
///
/// # Default
///
/// Disabled; when enabled with nothing else set, only the header trigger injects, and it injects
/// a 503 (gRPC 14 `UNAVAILABLE`) abort.
///
/// | field               | default |
/// |---------------------|---------|
/// | `enabled`           | `false` |
/// | `abort_rate`        | `0.0`   |
/// | `abort_http_status` | `503`   |
/// | `abort_grpc_status` | `14`    |
/// | `delay_rate`        | `0.0`   |
/// | `delay_ms`          | `0`     |
/// | `header_trigger`    | `true`  |
/// | `max_active`        | `0` (unlimited) |
/// | `count_injected`    | `false` |
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(default, deny_unknown_fields))]
pub struct InjectionConfig {
    /// Master switch; nothing below has any effect while false.
    pub enabled: bool,
    /// Share of requests answered with an injected abort, in [0, 1].
    pub abort_rate: f64,
    /// HTTP status of an injected abort, 200..=599.
    pub abort_http_status: u16,
    /// gRPC status of an injected abort for gRPC requests, 0..=16.
    pub abort_grpc_status: u32,
    /// Share of (not aborted) requests delayed before going upstream, in [0, 1].
    pub delay_rate: f64,
    /// Length of an injected delay in milliseconds, at most one hour.
    pub delay_ms: u64,
    /// Whether a request header `x-failure-inject: true` forces a fault.
    pub header_trigger: bool,
    /// At most this many injected faults in progress at once; 0 means unlimited.
    pub max_active: u32,
    /// Whether injected aborts are reported to the circuit breaker. A delayed request is not an
    /// injected outcome: it goes upstream after its delay, and the breaker judges the
    /// upstream's answer like any other, whatever this says.
    pub count_injected: bool,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        InjectionConfig {
            enabled: false,
            abort_rate: 0.0,
            abort_http_status: 503,
            abort_grpc_status: 14,
            delay_rate: 0.0,
            delay_ms: 0,
            header_trigger: true,
            max_active: 0,
            count_injected: false,
        }
    }
}

impl InjectionConfig {
    /// Whether a request can ever be delayed under this configuration: enabled, with a delay
    /// and a delay rate above 0 (the header trigger delays only under the same conditions). An
    /// adapter that must wake up for delays to end needs to only then.
    pub fn can_delay(&self) -> bool {
        self.enabled && self.delay_ms > 0 && self.delay_rate > 0.0
    }

    /// Records every problem under `at` (e.g. `policies[0].injection`). Checked even while
    /// disabled, so that switching injection on cannot reveal a broken config.
    pub fn validate(&self, at: &str, problems: &mut Problems) {
        problems.rate(at, "abort_rate", self.abort_rate);
        problems.rate(at, "delay_rate", self.delay_rate);
        if !(200..=599).contains(&self.abort_http_status) {
            let got = self.abort_http_status;
            problems.add(
                at,
                "abort_http_status",
                format!("must be in [200, 599], got {got}"),
            );
        }
        problems.at_most(at, "abort_grpc_status", self.abort_grpc_status.into(), 16);
        problems.at_most(at, "delay_ms", self.delay_ms, MAX_DELAY_MS);
        if self.delay_rate > 0.0 && self.delay_ms == 0 {
            problems.add(
                at,
                "delay_ms",
                "must be at least 1 when delay_rate is above 0",
            );
        }
    }
}

/// An injected fault. Holding one means a slot of `max_active` is taken until
/// [`Injector::finish`].
#[must_use = "an injected fault takes a max_active slot until Injector::finish"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer locally with this status instead of going upstream.
    Abort {
        /// HTTP status for an HTTP request.
        http_status: u16,
        /// gRPC status for a gRPC request.
        grpc_status: u32,
    },
    /// Hold the request this long, then send it upstream.
    Delay(Nanos),
}

/// Decides, request by request, whether to inject a fault; tracks faults in progress.
#[derive(Clone, Debug)]
pub struct Injector {
    config: InjectionConfig,
    active: u32,
}

impl Injector {
    /// An injector for `config` (validated beforehand; out-of-range rates act as 0 or 1).
    pub fn new(config: &InjectionConfig) -> Self {
        Injector {
            config: config.clone(),
            active: 0,
        }
    }

    /// Whether a fault is injected into this request. `forced` is whether the request carried
    /// `x-failure-inject: true`; it counts only when injection is enabled and `header_trigger`
    /// allows it, and then gives an abort, or the delay when only a delay is configured.
    ///
    /// Consumes no randomness when disabled, forced, or out of `max_active` slots; otherwise one
    /// draw per rate strictly between 0 and 1. Every `Some` takes a slot: call
    /// [`Injector::finish`] once when that fault is over.
    pub fn decide<R: RngCore + ?Sized>(&mut self, forced: bool, rng: &mut R) -> Option<Fault> {
        let c = &self.config;
        if !c.enabled || (c.max_active > 0 && self.active >= c.max_active) {
            return None;
        }
        let abort = Fault::Abort {
            http_status: c.abort_http_status,
            grpc_status: c.abort_grpc_status,
        };
        let delay = Fault::Delay(Nanos::from_millis(c.delay_ms));
        let fault = if forced && c.header_trigger {
            let only_delay = c.abort_rate <= 0.0 && c.can_delay();
            if only_delay { delay } else { abort }
        } else if chance(rng, c.abort_rate) {
            abort
        } else if c.delay_ms > 0 && chance(rng, c.delay_rate) {
            delay
        } else {
            return None;
        };
        self.active = self.active.saturating_add(1);
        Some(fault)
    }

    /// Releases the slot of a fault that is over. Extra calls do nothing.
    pub fn finish(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    /// How many injected faults are in progress.
    pub fn active(&self) -> u32 {
        self.active
    }

    /// Whether injected outcomes should be reported to the circuit breaker (`count_injected`).
    pub fn counts_injected(&self) -> bool {
        self.config.count_injected
    }

    /// The configuration this injector runs.
    pub fn config(&self) -> &InjectionConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests;
