//! The circuit breaker: configuration, sliding window, and a pure, shareable state machine.
//!
//! A breaker's whole state is a [`Snapshot`]: a small fixed-size value with a versioned binary
//! encoding, advanced by [`Snapshot::apply`]. Keeping it pure and serialisable is what lets the
//! engine keep one breaker exact across Envoy's worker threads (see `engine`), and lets tests
//! assert exact transition sequences under a virtual clock.

pub(crate) mod codec;
mod config;
pub mod health;
pub mod keys;
mod state;
mod types;
mod window;

#[cfg(test)]
mod tests;

pub use codec::SNAPSHOT_VERSION;
pub use config::{BreakerConfig, MAX_BUCKETS, MAX_COUNT_WINDOW, MAX_PROBES, Mode, WindowKind};
pub use health::{Health, HealthConfig};
pub use keys::KeyBy;
pub use state::{Snapshot, Step};
pub use types::{Admission, Event, ProbePermit, Reason, State, Stats, Transition};
pub use window::{Totals, Window};
