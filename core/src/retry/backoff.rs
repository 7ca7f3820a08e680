//! How long to wait before each retry.
//!
//! A backoff is a value ([`Backoff`]) that describes a policy, and an iterator ([`Schedule`]) that
//! plays it: `Some(delay)` means "retry after `delay`", `None` means "stop, the retries are spent".
//! Keeping the two apart means one policy, validated once per configuration, yields a fresh
//! schedule per request at the cost of a few words on the stack and no heap allocation.
//!
//! Randomness is an argument. Retries that all fire after the same delay arrive at a recovering
//! upstream in lockstep and knock it over again, so production schedules want jitter; tests want
//! exact sequences. Handing the schedule a seeded generator gives both.
//!
//! Every delay is capped at [`Backoff::max`], and the arithmetic saturates: a huge attempt number,
//! a huge base or an infinite multiplier yields the cap, never an overflow or a panic.

use core::iter::FusedIterator;

use rand_core::RngCore;

use crate::random::unit_f64;
use crate::time::Nanos;

/// How an exponential backoff draws its random delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Uniform in `[0, d)`, where `d` is the capped exponential delay ("full jitter"). Spreads
    /// retries the most; may retry almost at once.
    Full,
    /// `d / 2` plus uniform in `[0, d / 2)` ("equal jitter"): never less than half the delay.
    Equal,
    /// Uniform in `[base, 3 * previous]`, capped ("decorrelated jitter"): each delay grows from
    /// the last one drawn rather than from the attempt number.
    Decorrelated,
}

/// The shape of the delay sequence; `n` is the retry number, starting at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackoffKind {
    /// `base` every time.
    Fixed,
    /// `base * (n + 1)`.
    Linear,
    /// `base * multiplier^n`.
    Exponential,
    /// `base * multiplier^n`, randomised as the [`Jitter`] says.
    ExponentialJitter(Jitter),
    /// `base * fib(n + 1)`: `base, base, 2 base, 3 base, 5 base, ...`.
    Fibonacci,
    /// `base * (n + 1)^exponent`.
    Polynomial,
    /// `base * multiplier^n / max(success_rate, 0.1)`: the exponential curve stretched up to
    /// ten times while the recent success rate is low, back to the plain curve as it recovers
    /// (source 001's `ADAPTIVE`). The rate is an input
    /// ([`Schedule::set_success_rate`], measured by [`super::SuccessRate`]), so the delays stay
    /// exact under a seed. The `jitter` spread applies.
    Adaptive,
}

/// A retry delay policy. Build it with [`Backoff::new`] and the `with_*` methods, then call
/// [`Backoff::schedule`] once per request.
///
/// ```
/// use breakwater_core::retry::{Backoff, BackoffKind};
/// use breakwater_core::random::SplitMix64;
/// use breakwater_core::time::Nanos;
///
/// let b = Backoff::new(BackoffKind::Exponential)
///     .with_base(Nanos::from_millis(10))
///     .with_max(Nanos::from_millis(50))
///     .with_max_retries(4);
/// let ms: Vec<u64> = b.schedule(SplitMix64::new(1)).map(|d| d.as_millis()).collect();
/// assert_eq!(ms, [10, 20, 40, 50]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    kind: BackoffKind,
    base: Nanos,
    max: Nanos,
    jitter: f64,
    max_retries: u32,
    multiplier: f64,
    exponent: f64,
}

impl Default for Backoff {
    /// `Backoff::new(BackoffKind::ExponentialJitter(Jitter::Full))`: Envoy's own retry backoff.
    fn default() -> Self {
        Backoff::new(BackoffKind::ExponentialJitter(Jitter::Full))
    }
}

impl Backoff {
    /// A backoff of the given kind with every other setting at its default.
    ///
    /// # Default
    ///
    /// base 25 ms and max 250 ms (Envoy's router defaults), jitter 0, 2 retries,
    /// multiplier 2.0, exponent 2.0.
    pub const fn new(kind: BackoffKind) -> Self {
        Backoff {
            kind,
            base: Nanos::from_millis(25),
            max: Nanos::from_millis(250),
            jitter: 0.0,
            max_retries: 2,
            multiplier: 2.0,
            exponent: 2.0,
        }
    }

    /// Sets the kind.
    pub fn with_kind(mut self, kind: BackoffKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the first delay, the unit every kind scales.
    ///
    /// # Default
    ///
    /// 25 ms.
    pub fn with_base(mut self, base: Nanos) -> Self {
        self.base = base;
        self
    }

    /// Sets the cap on every delay, jitter included. A base above the cap yields the cap.
    ///
    /// # Default
    ///
    /// 250 ms.
    pub fn with_max(mut self, max: Nanos) -> Self {
        self.max = max;
        self
    }

    /// Sets the random spread for the kinds without their own jitter: each delay is scaled by
    /// a uniform factor in `[1 - jitter, 1 + jitter)`, then capped. Clamped to `[0, 1]`; NaN
    /// counts as 0. [`BackoffKind::ExponentialJitter`] ignores it.
    ///
    /// # Default
    ///
    /// 0 (no spread, no randomness consumed).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// Sets how many delays a schedule yields before it stops.
    ///
    /// # Default
    ///
    /// 2.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the growth factor of the exponential kinds. Below 1 or NaN counts as 1.
    ///
    /// # Default
    ///
    /// 2.0.
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier >= 1.0 { multiplier } else { 1.0 };
        self
    }

    /// Sets the exponent of [`BackoffKind::Polynomial`]. Negative or NaN counts as 1.
    ///
    /// # Default
    ///
    /// 2.0.
    pub fn with_exponent(mut self, exponent: f64) -> Self {
        self.exponent = if exponent >= 0.0 { exponent } else { 1.0 };
        self
    }

    /// The kind.
    pub fn kind(&self) -> BackoffKind {
        self.kind
    }

    /// The first delay.
    pub fn base(&self) -> Nanos {
        self.base
    }

    /// The cap on every delay.
    pub fn max(&self) -> Nanos {
        self.max
    }

    /// The random spread of the non-jitter kinds, in `[0, 1]`.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// How many delays a schedule yields.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The exponential growth factor, at least 1.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The polynomial exponent, at least 0.
    pub fn exponent(&self) -> f64 {
        self.exponent
    }

    /// A fresh schedule for one request. Pass an owned generator or `&mut rng`.
    pub fn schedule<R: RngCore>(&self, rng: R) -> Schedule<R> {
        Schedule {
            policy: *self,
            rng,
            attempt: 0,
            fib: (self.base, self.base),
            previous: self.base,
            success_rate: 1.0,
        }
    }

    /// The deterministic delay of retry `n` before the cap, for the kinds that have one.
    fn raw(&self, n: u32) -> Nanos {
        let steps = f64::from(n);
        match self.kind {
            BackoffKind::Fixed => self.base,
            BackoffKind::Linear => self.base.saturating_mul(u64::from(n) + 1),
            BackoffKind::Exponential
            | BackoffKind::ExponentialJitter(_)
            | BackoffKind::Adaptive => self.base.mul_f64(self.multiplier.powf(steps)),
            BackoffKind::Polynomial => self.base.mul_f64((steps + 1.0).powf(self.exponent)),
            // Played from the schedule's running pair; never reached.
            BackoffKind::Fibonacci => self.base,
        }
    }
}

/// One request's delays: an iterator that yields exactly [`Backoff::max_retries`] delays, each
/// at most [`Backoff::max`], then `None` for ever.
#[derive(Clone, Debug)]
pub struct Schedule<R> {
    policy: Backoff,
    rng: R,
    attempt: u32,
    /// The Fibonacci pair `(current, next)`, saturating.
    fib: (Nanos, Nanos),
    /// The last delay drawn, for decorrelated jitter.
    previous: Nanos,
    /// The recent success rate, for [`BackoffKind::Adaptive`].
    success_rate: f64,
}

/// The lowest success rate [`BackoffKind::Adaptive`] stretches for: at or below it, delays are
/// ten times the plain curve.
pub const ADAPTIVE_FLOOR: f64 = 0.1;

impl<R> Schedule<R> {
    /// How many delays have been yielded so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Sets the recent success rate in `[0, 1]` that [`BackoffKind::Adaptive`] stretches its
    /// later delays by (other kinds ignore it). NaN counts as 1, the plain curve.
    ///
    /// # Default
    ///
    /// 1.0.
    pub fn set_success_rate(&mut self, rate: f64) {
        self.success_rate = if rate.is_nan() {
            1.0
        } else {
            rate.clamp(0.0, 1.0)
        };
    }
}

/// A uniform value in `[lo, hi]` (or `lo` when the range is empty).
fn between<R: RngCore + ?Sized>(rng: &mut R, lo: Nanos, hi: Nanos) -> Nanos {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_nanos();
    lo + Nanos::new(span)
        .mul_f64(unit_f64(rng))
        .min(Nanos::new(span))
}

impl<R: RngCore> Iterator for Schedule<R> {
    type Item = Nanos;

    fn next(&mut self) -> Option<Nanos> {
        if self.attempt >= self.policy.max_retries {
            return None;
        }
        let n = self.attempt;
        self.attempt += 1;
        let p = &self.policy;
        let delay = match p.kind {
            BackoffKind::ExponentialJitter(Jitter::Full) => {
                let d = p.raw(n).min(p.max);
                d.mul_f64(unit_f64(&mut self.rng))
            }
            BackoffKind::ExponentialJitter(Jitter::Equal) => {
                let half = Nanos::new(p.raw(n).min(p.max).as_nanos() / 2);
                half + half.mul_f64(unit_f64(&mut self.rng))
            }
            BackoffKind::ExponentialJitter(Jitter::Decorrelated) => {
                let hi = self.previous.saturating_mul(3).min(p.max);
                let d = between(&mut self.rng, p.base.min(p.max), hi);
                self.previous = d;
                d
            }
            BackoffKind::Fibonacci => {
                let (cur, next) = self.fib;
                self.fib = (next, cur + next);
                self.spread(cur.min(self.policy.max))
            }
            BackoffKind::Adaptive => {
                let stretch = 1.0 / self.success_rate.max(ADAPTIVE_FLOOR);
                self.spread(p.raw(n).mul_f64(stretch).min(p.max))
            }
            _ => self.spread(p.raw(n).min(p.max)),
        };
        Some(delay.min(self.policy.max))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.policy.max_retries.saturating_sub(self.attempt) as usize;
        (left, Some(left))
    }
}

impl<R: RngCore> Schedule<R> {
    /// Applies the `+-jitter` spread of the non-jitter kinds.
    fn spread(&mut self, d: Nanos) -> Nanos {
        if self.policy.jitter <= 0.0 {
            return d;
        }
        let factor = 1.0 + self.policy.jitter * (2.0 * unit_f64(&mut self.rng) - 1.0);
        d.mul_f64(factor).min(self.policy.max)
    }
}

impl<R: RngCore> ExactSizeIterator for Schedule<R> {}

impl<R: RngCore> FusedIterator for Schedule<R> {}

#[cfg(test)]
mod tests;
