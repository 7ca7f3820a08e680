//! Retry policy.

pub mod backoff;

pub use backoff::{Backoff, BackoffKind, Jitter, Schedule};
