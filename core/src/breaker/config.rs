//! Circuit-breaker settings: the `breaker` section of a policy.
//!
//! The model is resilience4j's: a breaker trips on consecutive failures (Hystrix, Polly's
//! "consecutive") *or* on a failure/slow-call rate measured over a sliding window once enough calls
//! were seen, waits `recovery_timeout_ms` open, then lets a bounded number of probes through.
//! Two additions matter at the edge: the open time can grow per consecutive re-open (a dependency
//! that keeps failing its probes is not hammered every 30 s forever), and probe permits are leases
//! that expire, so a probe whose response never arrives cannot strand the breaker half-open.

use super::health::HealthConfig;
use super::keys::{
    DEFAULT_KEY_IDLE_MS, DEFAULT_MAX_KEYS, KeyBy, MAX_KEYS_LIMIT, valid_header_name,
};
use crate::time::Nanos;
use crate::validate::{Problems, number};

/// Most probes a half-open breaker may lease at once (bounded so the snapshot is fixed-size).
pub const MAX_PROBES: usize = 16;
/// Largest count-based window (two bits per call in the snapshot).
pub const MAX_COUNT_WINDOW: u32 = 256;
/// Most buckets of a time-based window.
pub const MAX_BUCKETS: u32 = 16;

/// What the breaker does with its decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Decide and act: reject while open. The default.
    #[default]
    Enforce,
    /// Decide and count, never reject: for rolling a breaker out safely.
    Shadow,
    /// Reject every call (an operator's kill switch).
    ForcedOpen,
    /// Admit every call and record nothing.
    Disabled,
}

/// How the failure-rate window is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// The last `window_size` calls. The default.
    #[default]
    Count,
    /// The calls of the last `window_size` seconds, in `window_buckets` buckets.
    Time,
}

/// The `breaker` section. Every field has a default (see [`BreakerConfig::default`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct BreakerConfig {
    /// Enforce, shadow, forced_open or disabled.
    pub mode: Mode,
    /// Consecutive failures that trip the breaker; 0 turns this trigger off.
    pub failure_threshold: u32,
    /// Failure rate in (0, 1] over the window that trips the breaker.
    pub failure_rate_threshold: f64,
    /// Slow-call rate in (0, 1] over the window that trips the breaker (1.0: only all-slow).
    pub slow_call_rate_threshold: f64,
    /// A call at least this long is slow.
    pub slow_call_duration_ms: u64,
    /// Count or time window.
    pub window: WindowKind,
    /// Calls (count window, ≤ 256) or seconds (time window).
    pub window_size: u32,
    /// Buckets of a time window (1..=16).
    pub window_buckets: u32,
    /// Calls the window must hold before rates are judged. Unless written explicitly, capped at
    /// a count window's `window_size` (so `window_size: 10` alone judges over 10 calls); written
    /// above it, an error.
    pub minimum_calls: u32,
    /// Time open before the first probe.
    pub recovery_timeout_ms: u64,
    /// Factor applied to the open time per consecutive re-open (1.0: constant).
    pub recovery_backoff: f64,
    /// Cap of the grown open time.
    pub max_recovery_timeout_ms: u64,
    /// Random spread of the open time, a fraction in [0, 1] (0.1: ±10%).
    pub recovery_jitter: f64,
    /// Probes a half-open breaker admits (1..=16).
    pub half_open_max_calls: u32,
    /// Successful probes that close the breaker (≤ half_open_max_calls).
    pub half_open_success_threshold: u32,
    /// How long a probe permit lives before it is reclaimed (its response never came).
    pub probe_lease_ms: u64,
    /// Inactivity after which the consecutive-failure count starts again from zero; 0: never.
    pub failure_reset_timeout_ms: u64,
    /// The health view kept with the breaker (see [`super::health`]).
    pub health: HealthConfig,
    /// One breaker per gRPC method, path or header value (the `breaker::keys` module); none:
    /// one breaker for the policy.
    pub key_by: Option<KeyBy>,
    /// Keys tracked across all workers when keyed (1..=1024); more share the catch-all breaker.
    pub max_keys: u32,
    /// Time without a request after which a closed key may be evicted for a new one.
    pub key_idle_ms: u64,
}

impl Default for BreakerConfig {
    /// # Default
    /// enforce; 5 consecutive failures; 50% failure rate or 100% slow calls (≥ 60 s) over the
    /// last 100 calls once 20 were seen; 30 s open, constant (backoff 1.0, cap 300 s, no jitter);
    /// 3 probes, 2 successes close; probe lease 30 s; consecutive count reset after 60 s idle;
    /// not keyed (when keyed: at most 64 keys, evictable after 10 min idle); health as
    /// [`HealthConfig::default`].
    fn default() -> Self {
        BreakerConfig {
            mode: Mode::Enforce,
            failure_threshold: 5,
            failure_rate_threshold: 0.5,
            slow_call_rate_threshold: 1.0,
            slow_call_duration_ms: 60_000,
            window: WindowKind::Count,
            window_size: 100,
            window_buckets: 10,
            minimum_calls: 20,
            recovery_timeout_ms: 30_000,
            recovery_backoff: 1.0,
            max_recovery_timeout_ms: 300_000,
            recovery_jitter: 0.0,
            half_open_max_calls: 3,
            half_open_success_threshold: 2,
            probe_lease_ms: 30_000,
            failure_reset_timeout_ms: 60_000,
            health: HealthConfig::default(),
            key_by: None,
            max_keys: DEFAULT_MAX_KEYS,
            key_idle_ms: DEFAULT_KEY_IDLE_MS,
        }
    }
}

impl BreakerConfig {
    /// Records every invalid value under the JSON path `at`.
    pub fn validate(&self, at: &str, p: &mut Problems) {
        p.threshold(at, "failure_rate_threshold", self.failure_rate_threshold);
        p.threshold(
            at,
            "slow_call_rate_threshold",
            self.slow_call_rate_threshold,
        );
        p.positive(at, "slow_call_duration_ms", self.slow_call_duration_ms);
        p.positive(at, "window_size", u64::from(self.window_size));
        match self.window {
            WindowKind::Count => p.at_most(
                at,
                "window_size",
                self.window_size.into(),
                MAX_COUNT_WINDOW.into(),
            ),
            WindowKind::Time => {
                p.positive(at, "window_buckets", self.window_buckets.into());
                p.at_most(
                    at,
                    "window_buckets",
                    self.window_buckets.into(),
                    MAX_BUCKETS.into(),
                );
                if self.window_buckets > 0 && !self.window_size.is_multiple_of(self.window_buckets)
                {
                    p.add(
                        at,
                        "window_size",
                        format!(
                            "must be a multiple of window_buckets ({}), got {}",
                            self.window_buckets, self.window_size
                        ),
                    );
                }
            }
        }
        p.positive(at, "minimum_calls", self.minimum_calls.into());
        if self.window == WindowKind::Count && self.minimum_calls > self.window_size {
            p.add(
                at,
                "minimum_calls",
                format!(
                    "must be at most window_size ({}), got {}",
                    self.window_size, self.minimum_calls
                ),
            );
        }
        p.positive(at, "recovery_timeout_ms", self.recovery_timeout_ms);
        if !(self.recovery_backoff >= 1.0 && self.recovery_backoff <= 100.0) {
            p.add(
                at,
                "recovery_backoff",
                format!("must be in [1, 100], got {}", number(self.recovery_backoff)),
            );
        }
        if self.max_recovery_timeout_ms < self.recovery_timeout_ms {
            p.add(
                at,
                "max_recovery_timeout_ms",
                format!(
                    "must be at least recovery_timeout_ms ({}), got {}",
                    self.recovery_timeout_ms, self.max_recovery_timeout_ms
                ),
            );
        }
        p.rate(at, "recovery_jitter", self.recovery_jitter);
        p.positive(at, "half_open_max_calls", self.half_open_max_calls.into());
        p.at_most(
            at,
            "half_open_max_calls",
            self.half_open_max_calls.into(),
            MAX_PROBES as u64,
        );
        p.positive(
            at,
            "half_open_success_threshold",
            self.half_open_success_threshold.into(),
        );
        if self.half_open_success_threshold > self.half_open_max_calls {
            p.add(
                at,
                "half_open_success_threshold",
                format!(
                    "must be at most half_open_max_calls ({}), got {}",
                    self.half_open_max_calls, self.half_open_success_threshold
                ),
            );
        }
        p.positive(at, "probe_lease_ms", self.probe_lease_ms);
        self.health
            .validate(&crate::validate::join(at, "health"), p);
        p.positive(at, "max_keys", self.max_keys.into());
        p.at_most(at, "max_keys", self.max_keys.into(), MAX_KEYS_LIMIT.into());
        p.positive(at, "key_idle_ms", self.key_idle_ms);
        if let Some(h) = self.key_by.as_ref().and_then(KeyBy::header)
            && !valid_header_name(h)
        {
            p.add(
                at,
                "key_by.header",
                format!("must be a header name, got {}", crate::validate::quoted(h)),
            );
        }
    }

    /// Open time after `reopens` consecutive re-opens, before jitter: grows by
    /// `recovery_backoff` per re-open, capped at `max_recovery_timeout_ms`.
    pub fn recovery_timeout(&self, reopens: u32) -> Nanos {
        let base = Nanos::from_millis(self.recovery_timeout_ms);
        let cap = Nanos::from_millis(self.max_recovery_timeout_ms).max(base);
        let factor = self.recovery_backoff.powi(reopens.min(1_000) as i32);
        base.mul_f64(factor).min(cap)
    }

    /// Open time with jitter applied, given a uniform sample `unit` in [0, 1).
    pub fn jittered_recovery(&self, reopens: u32, unit: f64) -> Nanos {
        let t = self.recovery_timeout(reopens);
        if self.recovery_jitter <= 0.0 {
            return t;
        }
        let spread = (unit.clamp(0.0, 1.0) * 2.0 - 1.0) * self.recovery_jitter;
        t.mul_f64(1.0 + spread).max(Nanos::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(c: &BreakerConfig) -> Vec<String> {
        let mut p = Problems::new();
        c.validate("b", &mut p);
        match p.finish() {
            Ok(()) => vec![],
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(problems(&BreakerConfig::default()).is_empty());
    }

    #[test]
    fn every_bad_value_is_named() {
        let c = BreakerConfig {
            failure_rate_threshold: 1.5,
            half_open_max_calls: 2,
            half_open_success_threshold: 3,
            max_recovery_timeout_ms: 1,
            ..BreakerConfig::default()
        };
        assert_eq!(
            problems(&c),
            vec![
                "b.failure_rate_threshold: must be in (0, 1], got 1.5",
                "b.max_recovery_timeout_ms: must be at least recovery_timeout_ms (30000), got 1",
                "b.half_open_success_threshold: must be at most half_open_max_calls (2), got 3",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = crate::config::read::from_str::<BreakerConfig>(r#"{"failure_treshold": 3}"#)
            .unwrap_err();
        assert!(
            e.to_string().contains("unknown field `failure_treshold`"),
            "{e}"
        );
    }

    #[test]
    fn recovery_grows_and_caps() {
        let c = BreakerConfig {
            recovery_timeout_ms: 1_000,
            recovery_backoff: 2.0,
            max_recovery_timeout_ms: 5_000,
            ..BreakerConfig::default()
        };
        let got: Vec<u64> = (0..5).map(|n| c.recovery_timeout(n).as_millis()).collect();
        assert_eq!(got, vec![1_000, 2_000, 4_000, 5_000, 5_000]);
        assert_eq!(c.recovery_timeout(u32::MAX).as_millis(), 5_000);
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let c = BreakerConfig {
            recovery_timeout_ms: 10_000,
            recovery_jitter: 0.1,
            ..BreakerConfig::default()
        };
        assert_eq!(c.jittered_recovery(0, 0.0).as_millis(), 9_000);
        assert_eq!(c.jittered_recovery(0, 0.5).as_millis(), 10_000);
        assert!(c.jittered_recovery(0, 0.999_999).as_millis() <= 11_000);
    }
}
