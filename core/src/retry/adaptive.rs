//! The recent success rate that drives the `adaptive` backoff.
//!
//! Source 001's adaptive strategy "self-adjusts on the success rate": when most recent calls
//! fail, a retry is unlikely to succeed soon and should wait longer; when they succeed again,
//! retries return to the plain curve. [`SuccessRate`] remembers the last [`WINDOW`] outcomes in
//! one word (a bit each), so it costs nothing to keep per policy, and it is exact: the same
//! outcomes give the same rate, and with a seeded schedule the same delays.

/// How many recent outcomes [`SuccessRate`] remembers.
pub const WINDOW: u32 = 64;

/// The success rate over the last [`WINDOW`] recorded outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuccessRate {
    /// One bit per outcome, newest lowest; 1 is a success.
    bits: u64,
    /// Outcomes recorded, up to [`WINDOW`].
    seen: u32,
}

impl SuccessRate {
    /// No outcomes yet (the rate reads 1.0).
    pub const fn new() -> Self {
        SuccessRate { bits: 0, seen: 0 }
    }

    /// Records one call's outcome; the oldest falls out once [`WINDOW`] are held.
    pub fn record(&mut self, success: bool) {
        self.bits = (self.bits << 1) | u64::from(success);
        self.seen = (self.seen + 1).min(WINDOW);
    }

    /// Successes over outcomes held, in `[0, 1]`; 1.0 before any outcome.
    pub fn rate(&self) -> f64 {
        if self.seen == 0 {
            return 1.0;
        }
        let mask = if self.seen >= WINDOW {
            u64::MAX
        } else {
            (1u64 << self.seen) - 1
        };
        f64::from((self.bits & mask).count_ones()) / f64::from(self.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_follows_the_last_outcomes() {
        let mut r = SuccessRate::new();
        assert_eq!(r.rate(), 1.0);
        r.record(false);
        r.record(true);
        assert_eq!(r.rate(), 0.5);
        for _ in 0..WINDOW {
            r.record(false);
        }
        assert_eq!(r.rate(), 0.0, "the old success fell out");
        for _ in 0..16 {
            r.record(true);
        }
        assert_eq!(r.rate(), 0.25);
    }
}
