//! The health view of a dependency (source 004's "health-aware routing"): unhealthy after
//! `unhealthy_after` consecutive failures, healthy again after `healthy_after` consecutive
//! successes, and a score in [0, 1] that drops with each failure and recovers gradually with
//! each success, so an operator sees a dependency coming back before it is trusted again.
//!
//! It is a *view*, not a gate: the breaker decides what is admitted. Health reacts earlier than
//! a breaker tuned not to trip on a blip (3 failures against the breaker's 5 by default), and
//! its score says how far a dependency has recovered, which a breaker's three states cannot.
//!
//! The view lives in the breaker's shared snapshot ([`super::Snapshot::health`]), so it is fed by
//! the same outcomes, written by the same compare-and-swap, and exact across workers for the
//! same reason the breaker is. It counts every judged outcome, probes included; an outcome that
//! the breaker ignores as stale still happened, so health counts it too.

use crate::validate::{Problems, number};

/// The score's scale: a score is kept as thousandths, so the snapshot stays integers.
pub const SCORE_SCALE: u32 = 1_000;

/// The `breaker.health` section. Every field has a default (source 004's numbers where it gives
/// them: 3 and 2; see `score_recovery` for the one it does not).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct HealthConfig {
    /// Consecutive failures that mark the dependency unhealthy (source 004: 3).
    pub unhealthy_after: u32,
    /// Consecutive successes that mark an unhealthy dependency healthy again (source 004: 2).
    pub healthy_after: u32,
    /// How much of the score one success gives back, in (0, 1]: 0.1 means ten successes take
    /// a score from 0 to 1. Source 004 says only that the score "recovers gradually" and gives
    /// no rate: 0.1 is breakwater's choice (a full recovery takes five times the successes that
    /// heal the mark). A failure takes `1 / unhealthy_after` away, so `unhealthy_after`
    /// failures in a row take a full score to 0.
    pub score_recovery: f64,
}

impl Default for HealthConfig {
    /// # Default
    /// unhealthy after 3 consecutive failures, healthy after 2 consecutive successes, a
    /// success recovers a tenth of the score.
    fn default() -> Self {
        HealthConfig {
            unhealthy_after: 3,
            healthy_after: 2,
            score_recovery: 0.1,
        }
    }
}

impl HealthConfig {
    /// Records every invalid value under the JSON path `at`.
    pub fn validate(&self, at: &str, p: &mut Problems) {
        p.positive(at, "unhealthy_after", self.unhealthy_after.into());
        p.at_most(at, "unhealthy_after", self.unhealthy_after.into(), 1_000);
        p.positive(at, "healthy_after", self.healthy_after.into());
        p.at_most(at, "healthy_after", self.healthy_after.into(), 1_000);
        if !(self.score_recovery > 0.0 && self.score_recovery <= 1.0) {
            p.add(
                at,
                "score_recovery",
                format!("must be in (0, 1], got {}", number(self.score_recovery)),
            );
        }
    }

    /// Thousandths of the score a failure takes away (at least 1).
    fn penalty(&self) -> u32 {
        SCORE_SCALE.div_ceil(self.unhealthy_after.max(1))
    }

    /// Thousandths of the score a success gives back (at least 1).
    fn recovery(&self) -> u32 {
        ((self.score_recovery * f64::from(SCORE_SCALE)).round() as u32).clamp(1, SCORE_SCALE)
    }
}

/// One dependency's health, as kept in the shared snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// Marked unhealthy (after `unhealthy_after` consecutive failures, until `healthy_after`
    /// consecutive successes).
    pub unhealthy: bool,
    /// Failures in a row, ended by a success.
    pub consecutive_failures: u32,
    /// Successes in a row, ended by a failure.
    pub consecutive_successes: u32,
    /// The score in thousandths: 1000 is fully healthy.
    pub score: u32,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            unhealthy: false,
            consecutive_failures: 0,
            consecutive_successes: 0,
            score: SCORE_SCALE,
        }
    }
}

impl Health {
    /// Nothing a success could change but the success streak: healthy, no failure streak, full
    /// score. The engine batches successes only then (a success must otherwise be written at
    /// once, for every worker to see the recovery).
    pub fn is_settled(&self) -> bool {
        !self.unhealthy && self.consecutive_failures == 0 && self.score == SCORE_SCALE
    }

    /// The score as a fraction in [0, 1].
    pub fn score_fraction(&self) -> f64 {
        f64::from(self.score) / f64::from(SCORE_SCALE)
    }

    /// Records `successes` then `failures` (a batch's order is unknown; successes first, as the
    /// breaker reads a batch). Returns the change of the `unhealthy` mark, if any: `Some(true)`
    /// when the dependency became unhealthy, `Some(false)` when it became healthy again.
    pub fn record(&mut self, config: &HealthConfig, successes: u32, failures: u32) -> Option<bool> {
        let before = self.unhealthy;
        if successes > 0 {
            self.consecutive_failures = 0;
            self.consecutive_successes = self.consecutive_successes.saturating_add(successes);
            self.score = self
                .score
                .saturating_add(config.recovery().saturating_mul(successes))
                .min(SCORE_SCALE);
            if self.unhealthy && self.consecutive_successes >= config.healthy_after {
                self.unhealthy = false;
            }
        }
        if failures > 0 {
            self.consecutive_successes = 0;
            self.consecutive_failures = self.consecutive_failures.saturating_add(failures);
            self.score = self
                .score
                .saturating_sub(config.penalty().saturating_mul(failures));
            if !self.unhealthy && self.consecutive_failures >= config.unhealthy_after {
                self.unhealthy = true;
            }
        }
        (self.unhealthy != before).then_some(self.unhealthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(c: &HealthConfig) -> Vec<String> {
        let mut p = Problems::new();
        c.validate("h", &mut p);
        match p.finish() {
            Ok(()) => vec![],
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn source_004_three_failures_unhealthy_two_successes_healthy() {
        let c = HealthConfig::default();
        let mut h = Health::default();
        assert_eq!(h.record(&c, 0, 1), None);
        assert_eq!(h.record(&c, 0, 1), None);
        assert_eq!(h.record(&c, 0, 1), Some(true), "third failure in a row");
        assert_eq!(h.score, 0, "three failures take a full score to 0");
        assert_eq!(h.record(&c, 1, 0), None, "one success is not enough");
        assert_eq!(h.record(&c, 1, 0), Some(false), "the second success heals");
        assert_eq!(h.score, 200, "the score recovers a tenth per success");
        assert!(!h.is_settled(), "healthy, but the score has not recovered");
        for _ in 0..8 {
            assert_eq!(h.record(&c, 1, 0), None);
        }
        assert_eq!(h.score, SCORE_SCALE);
        assert!(h.is_settled());
    }

    #[test]
    fn a_success_breaks_the_failure_streak() {
        let c = HealthConfig::default();
        let mut h = Health::default();
        h.record(&c, 0, 2);
        h.record(&c, 1, 0);
        assert_eq!(h.record(&c, 0, 2), None, "two failures after a success");
        assert!(!h.unhealthy);
        assert_eq!(h.record(&c, 0, 1), Some(true));
        // A failure while unhealthy resets the healing streak.
        h.record(&c, 1, 0);
        h.record(&c, 0, 1);
        assert_eq!(h.record(&c, 1, 0), None, "the streak started again");
        assert!(h.unhealthy);
    }

    #[test]
    fn bad_values_are_named() {
        let c = HealthConfig {
            unhealthy_after: 0,
            healthy_after: 2_000,
            score_recovery: 1.5,
        };
        assert_eq!(
            problems(&c),
            [
                "h.unhealthy_after: must be at least 1, got 0",
                "h.healthy_after: must be at most 1000, got 2000",
                "h.score_recovery: must be in (0, 1], got 1.5",
            ]
        );
        assert!(problems(&HealthConfig::default()).is_empty());
    }
}
