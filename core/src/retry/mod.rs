//! Retry policy: when to try again, how long to wait, and how much retrying the system can bear.
//!
//! A retry turns a transient failure (a dropped connection, a 503 from a pod being replaced) into
//! a success the caller never sees. It also multiplies load at exactly the moment an upstream is
//! least able to take it. Every piece here exists to get the first effect without the second:
//!
//! - [`backoff`]: the delays between attempts, as a seeded iterator ([`Backoff`] →
//!   [`Schedule`]), capped and jittered so that retries do not arrive in lockstep.
//! - [`retry_after`]: the upstream's own `Retry-After` ([`parse_retry_after`]), which beats any
//!   formula when present.
//! - [`budget`]: a cap on retries as a share of recent traffic ([`RetryBudget`]), so a failing
//!   upstream sees at most `1 + budget_percent` times its load, not `1 + max_retries` times.
//! - [`config`]: the `retry` section of a policy as users write it ([`RetryConfig`]), with
//!   defaults and validation that names every bad value by its JSON path.
//! - [`conditions`]: which answers the router may retry, from the retry section and the
//!   outcome treatments together, and the narrower set for requests that are not idempotent.
//! - [`adaptive`]: the recent success rate that stretches the `adaptive` backoff.
//! - [`headers`]: what the Envoy filter writes so that Envoy's router does the retrying
//!   ([`RetryHeaders`]), precomputed per policy so the request path never formats a string; and
//!   the idempotency rule that keeps a POST from being sent twice.
//!
//! In Envoy, the filter reads the budget, picks a header list and lets the router retry; a
//! component host that performs its own requests plays a [`Schedule`] instead. Either way core
//! reads no clock and no random source: `now` and the generator are arguments.

pub mod adaptive;
pub mod backoff;
pub mod budget;
pub mod conditions;
pub mod config;
pub mod headers;
pub mod retry_after;

pub use adaptive::SuccessRate;
pub use backoff::{Backoff, BackoffKind, Jitter, Schedule};
pub use budget::RetryBudget;
pub use conditions::Conditions;
pub use config::{BackoffStrategy, BudgetConfig, RetryConfig};
pub use headers::{Header, RetryHeaders};
pub use retry_after::{MAX_RETRY_AFTER_SECS, parse_retry_after};
