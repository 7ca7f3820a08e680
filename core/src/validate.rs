//! Configuration problems, each with the JSON path of the value at fault.
//!
//! Validation never stops at the first problem: an operator fixing a config file wants every
//! mistake at once, each named by where it is (`policies[1].breaker.failure_rate_threshold`) and
//! why it is wrong (`must be in (0, 1], got 1.5`). Every section's `validate` pushes into one
//! [`Problems`] list; [`ConfigError`] is what callers finally see.

use core::fmt;

/// One thing wrong with a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// JSON path of the offending value, e.g. `policies[1].retry.max_retries`.
    pub path: String,
    /// Why it is wrong, lowercase, e.g. `must be at most 10, got 12`.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every problem found in a configuration; displayed one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in document order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Joins a parent path and a field name: `join("policies[0].retry", "max_retries")`.
pub fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

/// Collects problems while a configuration is validated.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `at.field` is wrong because of `reason`.
    pub fn add(&mut self, at: &str, field: &str, reason: impl Into<String>) {
        self.list.push(Problem {
            path: join(at, field),
            reason: reason.into(),
        });
    }

    /// Records that the value at the full path `path` is wrong because of `reason`.
    pub fn at(&mut self, path: &str, reason: impl Into<String>) {
        self.list.push(Problem {
            path: path.to_owned(),
            reason: reason.into(),
        });
    }

    /// Requires `0 <= value <= 1` (a probability or a rate that may be zero).
    pub fn rate(&mut self, at: &str, field: &str, value: f64) {
        if !(0.0..=1.0).contains(&value) {
            self.add(at, field, format!("must be in [0, 1], got {value}"));
        }
    }

    /// Requires `0 < value <= 1` (a threshold that zero would make meaningless).
    pub fn threshold(&mut self, at: &str, field: &str, value: f64) {
        if !(value > 0.0 && value <= 1.0) {
            self.add(at, field, format!("must be in (0, 1], got {value}"));
        }
    }

    /// Requires `value >= 1`.
    pub fn positive(&mut self, at: &str, field: &str, value: u64) {
        if value == 0 {
            self.add(at, field, "must be at least 1, got 0");
        }
    }

    /// Requires `value <= max`.
    pub fn at_most(&mut self, at: &str, field: &str, value: u64, max: u64) {
        if value > max {
            self.add(at, field, format!("must be at most {max}, got {value}"));
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok(())` when nothing was recorded, otherwise every problem.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.list,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem_with_its_path() {
        let mut p = Problems::new();
        p.threshold("policies[1].breaker", "failure_rate_threshold", 1.5);
        p.positive("policies[1].bulkhead", "max_concurrent", 0);
        p.rate("", "abort_rate", 0.5);
        let err = p.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "policies[1].breaker.failure_rate_threshold: must be in (0, 1], got 1.5\n\
             policies[1].bulkhead.max_concurrent: must be at least 1, got 0"
        );
    }
}
