//! Engine time: nanoseconds since the Unix epoch, read from a monotonic clock.
//!
//! The wall clock is read once, when the module is first used; after that time advances with
//! `Instant`, so it never steps back (the engine's saturating arithmetic would absorb a step,
//! but a monotonic clock needs no absorbing) and the epoch anchor keeps transition logs'
//! `at_ms` readable.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use breakwater_core::Nanos;

static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();

/// Now, as engine time.
pub(crate) fn now() -> Nanos {
    let (start, epoch) = ANCHOR.get_or_init(|| {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        (Instant::now(), epoch)
    });
    let since = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    Nanos::new(epoch.saturating_add(since))
}
