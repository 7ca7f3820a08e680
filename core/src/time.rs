//! Time as a plain argument.
//!
//! breakwater-core never reads a clock: every time-dependent call takes `now`, and the adapter
//! (the Envoy filter, the component host, a test) owns the clock. [`Nanos`] is the one time type,
//! used both for instants (nanoseconds since an epoch the adapter chooses) and for durations.
//!
//! All arithmetic saturates. Envoy's proxy-wasm clock is a *wall* clock and can step backwards;
//! an instant earlier than a recorded one must yield a zero elapsed time, never an underflow
//! panic. The same holds for absurdly large configured values: they clamp at `u64::MAX`.

use core::fmt;
use core::ops::{Add, Sub};

/// Nanoseconds, as an instant or a duration, with saturating arithmetic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(u64);

impl Nanos {
    /// Zero: the epoch, or an empty duration.
    pub const ZERO: Nanos = Nanos(0);
    /// The largest representable time; used as "never".
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// From raw nanoseconds.
    pub const fn new(nanos: u64) -> Self {
        Nanos(nanos)
    }

    /// From microseconds, saturating.
    pub const fn from_micros(us: u64) -> Self {
        Nanos(us.saturating_mul(1_000))
    }

    /// From milliseconds, saturating.
    pub const fn from_millis(ms: u64) -> Self {
        Nanos(ms.saturating_mul(1_000_000))
    }

    /// From seconds, saturating.
    pub const fn from_secs(s: u64) -> Self {
        Nanos(s.saturating_mul(1_000_000_000))
    }

    /// Raw nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Whole seconds, rounded up: what a `retry-after` header should say so that a client
    /// that honours it does not come back too early.
    pub const fn as_secs_ceil(self) -> u64 {
        self.0.div_ceil(1_000_000_000)
    }

    /// `self - earlier`, or zero when `earlier` is later (a clock that stepped back).
    pub const fn saturating_since(self, earlier: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(earlier.0))
    }

    /// Multiplies a duration, saturating.
    pub const fn saturating_mul(self, factor: u64) -> Nanos {
        Nanos(self.0.saturating_mul(factor))
    }

    /// Scales a duration by a non-negative float, saturating; NaN and negatives give zero.
    pub fn mul_f64(self, factor: f64) -> Nanos {
        if factor.is_nan() || factor <= 0.0 {
            return Nanos::ZERO;
        }
        let v = self.0 as f64 * factor;
        if v >= u64::MAX as f64 {
            Nanos::MAX
        } else {
            Nanos(v as u64)
        }
    }

    /// The smaller of two values.
    pub fn min(self, other: Nanos) -> Nanos {
        if self <= other { self } else { other }
    }

    /// The larger of two values.
    pub fn max(self, other: Nanos) -> Nanos {
        if self >= other { self } else { other }
    }
}

impl Add for Nanos {
    type Output = Nanos;
    fn add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Nanos {
    type Output = Nanos;
    fn sub(self, rhs: Nanos) -> Nanos {
        self.saturating_since(rhs)
    }
}

impl From<core::time::Duration> for Nanos {
    fn from(d: core::time::Duration) -> Self {
        Nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl From<Nanos> for core::time::Duration {
    fn from(n: Nanos) -> Self {
        core::time::Duration::from_nanos(n.0)
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backwards_clock_saturates_to_zero() {
        let later = Nanos::from_secs(10);
        let earlier = Nanos::from_secs(3);
        assert_eq!(earlier - later, Nanos::ZERO);
        assert_eq!(later - earlier, Nanos::from_secs(7));
    }

    #[test]
    fn overflow_saturates() {
        assert_eq!(Nanos::MAX + Nanos::from_secs(1), Nanos::MAX);
        assert_eq!(Nanos::from_millis(u64::MAX), Nanos::MAX);
        assert_eq!(Nanos::from_secs(2).mul_f64(f64::INFINITY), Nanos::MAX);
        assert_eq!(Nanos::from_secs(2).mul_f64(f64::NAN), Nanos::ZERO);
        assert_eq!(Nanos::from_secs(2).mul_f64(1.5), Nanos::from_secs(3));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(Nanos::from_millis(1).as_secs_ceil(), 1);
        assert_eq!(Nanos::from_secs(30).as_secs_ceil(), 30);
        assert_eq!(Nanos::ZERO.as_secs_ceil(), 0);
    }
}
