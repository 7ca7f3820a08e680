//! Real time for the engine: nanoseconds since an `Instant` taken at start-up.
//!
//! The component never reads a clock; every call takes `now` as a `u64` of nanoseconds since
//! an epoch the host picks and keeps. A monotonic `Instant` is the right epoch: it never jumps,
//! so a breaker's open time is measured, not guessed. The same clock turns an engine deadline
//! (`poll-timeout`, a hold's `until`) back into an instant to sleep until.

use std::time::Duration;

use tokio::time::Instant;

/// The host's clock, shared by every call into one engine.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch, for the engine's `now` arguments.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant an engine time stands for; a deadline too far away to represent (the
    /// engine answers `u64::MAX` when nothing is due) becomes a day from now.
    pub fn instant(&self, nanos: u64) -> Instant {
        self.epoch
            .checked_add(Duration::from_nanos(nanos))
            .filter(|at| *at <= Instant::now() + Duration::from_secs(86_400))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
    }
}
