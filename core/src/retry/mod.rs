//! Retry policy.

pub mod backoff;
pub mod budget;
pub mod config;
pub mod headers;
pub mod retry_after;

pub use backoff::{Backoff, BackoffKind, Jitter, Schedule};
pub use budget::RetryBudget;
pub use config::{BackoffStrategy, BudgetConfig, RetryConfig};
pub use headers::{Header, RetryHeaders};
pub use retry_after::{MAX_RETRY_AFTER_SECS, parse_retry_after};
