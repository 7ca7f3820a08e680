//! The `retry` section of a policy, as users write it.
//!
//! Every field has a default, so `"retry": {}` is a complete, sensible policy: two retries on
//! connection failures and 5xx, Envoy's own backoff (25 ms base, 250 ms cap, full jitter), idempotent
//! methods only, and a budget keeping retries under 20% of traffic. Unknown keys are errors, since a
//! misspelt `max_retires` silently ignored is a policy nobody asked for.
//!
//! Deserialising checks types; [`RetryConfig::validate`] checks values, and reports all of them
//! at once, each with its JSON path.

use super::backoff::{Backoff, BackoffKind, Jitter};
use super::budget::RetryBudget;
use crate::time::Nanos;
use crate::validate::{Problems, number, quoted};

/// The most retries a policy may ask for. Beyond this a retry policy is a load generator.
pub const MAX_RETRIES_LIMIT: u32 = 10;

/// The conditions Envoy's router accepts in `x-envoy-retry-on`.
pub const HTTP_RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
];

/// The conditions Envoy's router accepts in `x-envoy-retry-grpc-on`.
pub const GRPC_RETRY_ON: &[&str] = &[
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Which delay formula to use; see [`BackoffKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackoffStrategy {
    /// `"fixed"`: [`BackoffKind::Fixed`].
    Fixed,
    /// `"linear"`: [`BackoffKind::Linear`].
    Linear,
    /// `"exponential"`: [`BackoffKind::Exponential`].
    Exponential,
    /// `"exponential_jitter"`: [`BackoffKind::ExponentialJitter`] with `jitter_mode`.
    ExponentialJitter,
    /// `"fibonacci"`: [`BackoffKind::Fibonacci`].
    Fibonacci,
    /// `"polynomial"`: [`BackoffKind::Polynomial`] (`exponent`, default 2).
    Polynomial,
    /// `"adaptive"`: [`BackoffKind::Adaptive`]: exponential delays stretched while the recent
    /// success rate is low and back to the plain curve as it recovers (source 001).
    Adaptive,
}

/// The `retry` section of a policy.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(default, deny_unknown_fields))]
pub struct RetryConfig {
    /// Retries after the first attempt, at most [`MAX_RETRIES_LIMIT`].
    pub max_retries: u32,
    /// The delay formula.
    pub backoff: BackoffStrategy,
    /// How `exponential_jitter` randomises; ignored by the other strategies.
    pub jitter_mode: Jitter,
    /// The first delay, in milliseconds; at least 1 and at most `max_delay_ms`.
    pub base_delay_ms: u64,
    /// The cap on every delay, in milliseconds.
    pub max_delay_ms: u64,
    /// The `+-` spread, in `[0, 1]`, of the strategies without their own jitter.
    pub jitter: f64,
    /// The growth factor of the exponential strategies, in `[1, 100]`.
    pub multiplier: f64,
    /// The exponent of `polynomial`, in `(0, 10]`.
    pub exponent: f64,
    /// Envoy `x-envoy-retry-on` conditions, comma-separated (see [`HTTP_RETRY_ON`]).
    pub retry_on: String,
    /// Envoy `x-envoy-retry-grpc-on` conditions, comma-separated (see [`GRPC_RETRY_ON`]).
    pub grpc_retry_on: String,
    /// Statuses retried under `retriable-status-codes` (`x-envoy-retriable-status-codes`); a
    /// non-empty list turns that condition on by itself.
    pub retriable_status_codes: Vec<u16>,
    /// Timeout of each attempt, in milliseconds; unset leaves only the whole-request timeout.
    pub per_try_timeout_ms: Option<u64>,
    /// Hedge instead of abandoning: when an attempt outlives `per_try_timeout_ms`, the router
    /// starts the next attempt *alongside* it and the first answer wins
    /// (`x-envoy-hedge-on-per-try-timeout`). Hedges are retries to Envoy: only a request granted
    /// retries within the budget is hedged. Requires `per_try_timeout_ms`.
    pub hedge_on_per_try_timeout: bool,
    /// Answer Envoy's own plaintext upstream-failure replies (connect failure, reset, timeout)
    /// with breakwater's JSON contract (or a trailers-only `grpc-status` for gRPC) instead of
    /// passing them on: see [`crate::reply::RejectReason::RetriesExhausted`].
    pub rewrite_upstream_errors: bool,
    /// Retry POST, PATCH and other non-idempotent methods even without an idempotency key.
    pub retry_non_idempotent: bool,
    /// The request header (lowercase) whose presence makes a non-idempotent request retryable.
    pub idempotency_header: String,
    /// The retry budget.
    pub budget: BudgetConfig,
}

impl Default for RetryConfig {
    /// - `max_retries`: 2
    /// - `backoff`: `"exponential_jitter"`, `jitter_mode`: `"full"`, `base_delay_ms`: 25,
    ///   `max_delay_ms`: 250, `jitter`: 0, `multiplier`: 2, `exponent`: 2 (Envoy's router
    ///   backoff; equal to [`Backoff::default`]). In Envoy the router's own backoff applies
    ///   (a request header cannot set it): these keys shape [`RetryConfig::backoff`] for hosts
    ///   that retry by themselves, and the Envoy adapters log a warning when a policy sets one.
    /// - `retry_on`: `"5xx,reset,connect-failure,refused-stream"`
    /// - `retriable_status_codes`: empty
    /// - `grpc_retry_on`: `"unavailable,cancelled"`: the codes that mean "the call did not run
    ///   or was cut off, try elsewhere". `resource-exhausted` is left out because it means the
    ///   upstream is overloaded or over quota, where a retry adds to the problem;
    ///   `deadline-exceeded` because the deadline is the caller's and a retry cannot beat it;
    ///   `internal` because it may follow a partial side effect.
    /// - `per_try_timeout_ms`: unset
    /// - `hedge_on_per_try_timeout`: false (a timed-out attempt is abandoned, then retried)
    /// - `rewrite_upstream_errors`: false (Envoy's own replies pass unchanged, marked only)
    /// - `retry_non_idempotent`: false (POST and PATCH are not retried)
    /// - `idempotency_header`: `"idempotency-key"`
    /// - `budget`: [`BudgetConfig::default`]
    fn default() -> Self {
        RetryConfig {
            max_retries: 2,
            backoff: BackoffStrategy::ExponentialJitter,
            jitter_mode: Jitter::Full,
            base_delay_ms: 25,
            max_delay_ms: 250,
            jitter: 0.0,
            multiplier: 2.0,
            exponent: 2.0,
            retry_on: "5xx,reset,connect-failure,refused-stream".to_owned(),
            grpc_retry_on: "unavailable,cancelled".to_owned(),
            retriable_status_codes: Vec::new(),
            per_try_timeout_ms: None,
            hedge_on_per_try_timeout: false,
            rewrite_upstream_errors: false,
            retry_non_idempotent: false,
            idempotency_header: "idempotency-key".to_owned(),
            budget: BudgetConfig::default(),
        }
    }
}

/// The `retry.budget` section; see [`RetryBudget`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(default, deny_unknown_fields))]
pub struct BudgetConfig {
    /// Retries allowed as a percentage of recent requests, in `(0, 100]`.
    pub budget_percent: f64,
    /// Retries always allowed per window, however little traffic there was.
    pub min_retry_concurrency: u32,
    /// The sliding window, in milliseconds; at least 1.
    pub window_ms: u64,
}

impl Default for BudgetConfig {
    /// `budget_percent` 20, `min_retry_concurrency` 3, `window_ms` 10000 (Envoy's retry budget
    /// defaults, over tower's 10 s window).
    fn default() -> Self {
        BudgetConfig {
            budget_percent: 20.0,
            min_retry_concurrency: 3,
            window_ms: 10_000,
        }
    }
}

impl RetryConfig {
    /// Records every invalid value under the path `at` (e.g. `policies[1].retry`).
    pub fn validate(&self, at: &str, p: &mut Problems) {
        p.at_most(
            at,
            "max_retries",
            u64::from(self.max_retries),
            u64::from(MAX_RETRIES_LIMIT),
        );
        p.positive(at, "base_delay_ms", self.base_delay_ms);
        if self.base_delay_ms > self.max_delay_ms {
            p.add(
                at,
                "base_delay_ms",
                format!(
                    "must be at most max_delay_ms ({}), got {}",
                    self.max_delay_ms, self.base_delay_ms
                ),
            );
        }
        p.rate(at, "jitter", self.jitter);
        conditions(p, at, "retry_on", &self.retry_on, HTTP_RETRY_ON);
        conditions(p, at, "grpc_retry_on", &self.grpc_retry_on, GRPC_RETRY_ON);
        if !(self.multiplier >= 1.0 && self.multiplier <= 100.0) {
            p.add(
                at,
                "multiplier",
                format!("must be in [1, 100], got {}", number(self.multiplier)),
            );
        }
        if !(self.exponent > 0.0 && self.exponent <= 10.0) {
            p.add(
                at,
                "exponent",
                format!("must be in (0, 10], got {}", number(self.exponent)),
            );
        }
        for (i, s) in self.retriable_status_codes.iter().enumerate() {
            if !(100..=599).contains(s) {
                p.at(
                    &format!(
                        "{}[{i}]",
                        crate::validate::join(at, "retriable_status_codes")
                    ),
                    format!("must be an HTTP status in [100, 599], got {s}"),
                );
            }
        }
        if self.retriable_status_codes.is_empty()
            && tokens(&self.retry_on).any(|t| t == "retriable-status-codes")
        {
            p.add(
                at,
                "retry_on",
                "names retriable-status-codes but retriable_status_codes lists no status",
            );
        }
        if self.max_retries > 0
            && self.retriable_status_codes.is_empty()
            && tokens(&self.retry_on)
                .chain(tokens(&self.grpc_retry_on))
                .next()
                .is_none()
        {
            p.add(
                at,
                "retry_on",
                "must name a condition (here or in grpc_retry_on) when max_retries is above 0",
            );
        }
        if let Some(ms) = self.per_try_timeout_ms {
            p.positive(at, "per_try_timeout_ms", ms);
        }
        if self.hedge_on_per_try_timeout && self.per_try_timeout_ms.is_none() {
            p.add(
                at,
                "hedge_on_per_try_timeout",
                "requires per_try_timeout_ms: a hedge starts when an attempt outlives it",
            );
        }
        let h = &self.idempotency_header;
        if h.is_empty() || !h.bytes().all(is_lower_tchar) {
            p.add(
                at,
                "idempotency_header",
                format!("must be a lowercase header name, got {}", quoted(h)),
            );
        }
        let at = crate::validate::join(at, "budget");
        let b = &self.budget;
        if !(b.budget_percent > 0.0 && b.budget_percent <= 100.0) {
            p.add(
                &at,
                "budget_percent",
                format!("must be in (0, 100], got {}", number(b.budget_percent)),
            );
        }
        p.positive(&at, "window_ms", b.window_ms);
    }

    /// The backoff this section describes.
    pub fn backoff(&self) -> Backoff {
        let kind = match self.backoff {
            BackoffStrategy::Fixed => BackoffKind::Fixed,
            BackoffStrategy::Linear => BackoffKind::Linear,
            BackoffStrategy::Exponential => BackoffKind::Exponential,
            BackoffStrategy::ExponentialJitter => BackoffKind::ExponentialJitter(self.jitter_mode),
            BackoffStrategy::Fibonacci => BackoffKind::Fibonacci,
            BackoffStrategy::Polynomial => BackoffKind::Polynomial,
            BackoffStrategy::Adaptive => BackoffKind::Adaptive,
        };
        Backoff::new(kind)
            .with_base(Nanos::from_millis(self.base_delay_ms))
            .with_max(Nanos::from_millis(self.max_delay_ms))
            .with_jitter(self.jitter)
            .with_multiplier(self.multiplier)
            .with_exponent(self.exponent)
            .with_max_retries(self.max_retries)
    }

    /// A fresh, empty retry budget as this section describes.
    pub fn budget(&self) -> RetryBudget {
        RetryBudget::new(
            self.budget.budget_percent,
            self.budget.min_retry_concurrency,
            Nanos::from_millis(self.budget.window_ms),
        )
    }
}

/// The non-empty, trimmed entries of a comma-separated list; an all-blank list has none.
pub(crate) fn tokens(list: &str) -> impl Iterator<Item = &str> {
    let blank = list.trim().is_empty();
    list.split(',').map(str::trim).filter(move |_| !blank)
}

fn conditions(p: &mut Problems, at: &str, field: &str, list: &str, known: &[&str]) {
    for t in tokens(list) {
        if !known.contains(&t) {
            p.add(
                at,
                field,
                format!(
                    "unknown value {}; expected one of {}",
                    quoted(t),
                    known.join(", ")
                ),
            );
        }
    }
}

/// A lowercase `tchar` (RFC 9110 §5.6.2).
fn is_lower_tchar(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
