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

/// `s` as a JSON string literal, for messages: `"api"`. The user wrote JSON, so the message
/// quotes as JSON does; and serde_json's escaping keeps the Unicode tables of `{:?}` out of the
/// Envoy filter.
pub fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `x` for messages, as Rust's `{}` would show it (`1.5`, `2`), but through integer formatting
/// and serde_json's float writer: that keeps core's float formatting (about 11 KB) out of the
/// Envoy filter.
pub fn number(x: f64) -> String {
    // Integral and exactly representable: show it as the integer the user most likely wrote.
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)] // integral and in range, checked above
        return (x as i64).to_string();
    }
    serde_json::Value::from(x).to_string()
}

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
            self.add(
                at,
                field,
                format!("must be in [0, 1], got {}", number(value)),
            );
        }
    }

    /// Requires `0 < value <= 1` (a threshold that zero would make meaningless).
    pub fn threshold(&mut self, at: &str, field: &str, value: f64) {
        if !(value > 0.0 && value <= 1.0) {
            self.add(
                at,
                field,
                format!("must be in (0, 1], got {}", number(value)),
            );
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

    #[test]
    fn numbers_and_strings_are_shown_as_the_user_wrote_them() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(0.125), "0.125");
        assert_eq!(number(1e20), "1e+20");
        assert_eq!(quoted("api"), "\"api\"");
        assert_eq!(quoted("a \"b\"\n"), r#""a \"b\"\n""#);
    }
}
