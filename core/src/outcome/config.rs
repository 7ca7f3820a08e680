//! The `outcomes` section of a policy: which answers count as failures.
//!
//! Defaults suit most HTTP and gRPC services (see [`super`]), but not all: a search service may
//! answer 404 for "no results" (ignore it, as the default does), an API behind a flaky gateway may
//! need 502 retried without blaming the breaker, a cache may treat `timeout` as an ordinary miss.
//! Each entry maps an answer to a [`Treatment`]:
//!
//! ```json
//! "outcomes": {
//!   "http": { "5xx": "failure", "503": "retryable", "404": "ignore" },
//!   "grpc": { "UNAVAILABLE": "failure", "RESOURCE_EXHAUSTED": "retryable" },
//!   "reset": "failure",
//!   "connect_failure": "failure",
//!   "timeout": "failure_no_retry"
//! }
//! ```
//!
//! HTTP keys are an exact status (`"503"`, 100..=599) or a class (`"5xx"`, `1xx`..`5xx`, `x` in
//! either case). gRPC keys are a status name in either case (`"UNAVAILABLE"`, `"unavailable"`) or
//! its number (`"14"`). Keys are strings because JSON object keys are; a wrong key is reported by
//! [`OutcomesConfig::validate`] with its path, never silently ignored.

use std::collections::BTreeMap;

use super::classify::Verdict;
use super::grpc;
use crate::validate::{Problems, join};

/// What an answer means for the breaker and for retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// Counts against the breaker and may be retried (`"failure"`).
    Failure,
    /// Counts against the breaker but is not retried (`"failure_no_retry"`): the upstream is
    /// unhealthy, yet repeating this request would not help or would not be safe.
    FailureNoRetry,
    /// May be retried but does not count against the breaker (`"retryable"`).
    Retryable,
    /// Neither: a success, or the caller's own fault (`"ignore"`).
    Ignore,
}

impl Treatment {
    /// The verdict this treatment gives.
    pub const fn verdict(self) -> Verdict {
        match self {
            Treatment::Failure => Verdict::FAILURE,
            Treatment::FailureNoRetry => Verdict::FAILURE_NO_RETRY,
            Treatment::Retryable => Verdict::RETRYABLE,
            Treatment::Ignore => Verdict::IGNORE,
        }
    }
}

/// Per-policy overrides of the default outcome classification (JSON key `outcomes`).
///
/// # Default
///
/// Empty: every answer keeps its default treatment (see [`super`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(default, deny_unknown_fields))]
pub struct OutcomesConfig {
    /// HTTP status (`"503"`) or class (`"5xx"`) to treatment. An exact status beats its class.
    pub http: BTreeMap<String, Treatment>,
    /// gRPC status name (`"UNAVAILABLE"`) or number (`"14"`) to treatment.
    pub grpc: BTreeMap<String, Treatment>,
    /// The upstream connection was reset mid-request; default `failure`.
    pub reset: Option<Treatment>,
    /// No connection to the upstream could be made; default `failure`.
    pub connect_failure: Option<Treatment>,
    /// The upstream did not answer in time; default `failure`.
    pub timeout: Option<Treatment>,
}

/// A parsed HTTP key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpKey {
    /// One status, 100..=599.
    Status(u16),
    /// A class: the hundreds digit, 1..=5.
    Class(u16),
}

impl HttpKey {
    /// Parses `"503"` or `"5xx"`; anything else is `None`.
    pub(crate) fn parse(key: &str) -> Option<HttpKey> {
        match *key.as_bytes() {
            [d @ b'1'..=b'5', x, y]
                if x.eq_ignore_ascii_case(&b'x') && y.eq_ignore_ascii_case(&b'x') =>
            {
                Some(HttpKey::Class(u16::from(d - b'0')))
            }
            _ => exact_status(key),
        }
    }

    /// The canonical spelling (`"5xx"`, `"503"`), used to spot duplicates.
    fn canonical(self) -> String {
        match self {
            HttpKey::Status(s) => s.to_string(),
            HttpKey::Class(c) => format!("{c}xx"),
        }
    }
}

/// An exact status key: three digits in 100..=599, nothing around them.
fn exact_status(key: &str) -> Option<HttpKey> {
    if key.len() != 3 {
        return None;
    }
    grpc::parse_http_status(key.as_bytes()).map(HttpKey::Status)
}

/// Parses a gRPC key: a name in either case, or a number 0..=16 (one or two digits).
pub(crate) fn parse_grpc_key(key: &str) -> Option<u32> {
    if let Some(code) = grpc::grpc_code_from_name(key) {
        return Some(code);
    }
    if key.is_empty() || key.len() > 2 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|c| *c <= grpc::MAX_CODE)
}

impl OutcomesConfig {
    /// Records every key that names no status, class or gRPC code, and every key that repeats
    /// another in a different spelling (`"5xx"` and `"5XX"`), under `at` (e.g.
    /// `policies[0].outcomes`). Treatments themselves are checked when the JSON is parsed.
    pub fn validate(&self, at: &str, problems: &mut Problems) {
        let http_at = join(at, "http");
        let mut seen: Vec<HttpKey> = Vec::new();
        for key in self.http.keys() {
            match HttpKey::parse(key) {
                None => problems.add(&http_at, key, "unknown status or class"),
                Some(k) if seen.contains(&k) => {
                    problems.add(&http_at, key, format!("duplicate of {}", k.canonical()));
                }
                Some(k) => seen.push(k),
            }
        }
        let grpc_at = join(at, "grpc");
        let mut seen: Vec<u32> = Vec::new();
        for key in self.grpc.keys() {
            match parse_grpc_key(key) {
                None => problems.add(&grpc_at, key, "unknown grpc status name"),
                Some(c) if seen.contains(&c) => {
                    let name = grpc::grpc_code_name(c).unwrap_or("?");
                    problems.add(&grpc_at, key, format!("duplicate of {name}"));
                }
                Some(c) => seen.push(c),
            }
        }
    }

    /// `self` laid over `base`: every entry of `self` wins, `base` fills in the rest. Presets use
    /// this so that a user's `"5XX"` replaces a preset's `"5xx"` even though the spellings differ.
    #[must_use]
    pub fn overlay(&self, base: &OutcomesConfig) -> OutcomesConfig {
        let mut http = base.http.clone();
        for (key, t) in &self.http {
            let k = HttpKey::parse(key);
            http.retain(|old, _| k.is_none() || HttpKey::parse(old) != k);
            http.insert(key.clone(), *t);
        }
        let mut grpc = base.grpc.clone();
        for (key, t) in &self.grpc {
            let c = parse_grpc_key(key);
            grpc.retain(|old, _| c.is_none() || parse_grpc_key(old) != c);
            grpc.insert(key.clone(), *t);
        }
        OutcomesConfig {
            http,
            grpc,
            reset: self.reset.or(base.reset),
            connect_failure: self.connect_failure.or(base.connect_failure),
            timeout: self.timeout.or(base.timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(json: &str) -> Vec<String> {
        let cfg: OutcomesConfig = crate::config::read::from_str(json).unwrap();
        let mut p = Problems::new();
        cfg.validate("policies[0].outcomes", &mut p);
        match p.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn parses_every_kind_of_entry() {
        let cfg: OutcomesConfig = crate::config::read::from_str(
            r#"{"http": {"5xx": "failure", "503": "retryable", "404": "ignore"},
                "grpc": {"UNAVAILABLE": "failure_no_retry", "8": "retryable"},
                "reset": "ignore", "connect_failure": "failure", "timeout": "failure_no_retry"}"#,
        )
        .unwrap();
        assert_eq!(cfg.http["503"], Treatment::Retryable);
        assert_eq!(cfg.grpc["UNAVAILABLE"], Treatment::FailureNoRetry);
        assert_eq!(cfg.reset, Some(Treatment::Ignore));
        assert_eq!(cfg.timeout, Some(Treatment::FailureNoRetry));
        assert!(problems_of(r#"{"http": {"5xx": "failure"}, "grpc": {"8": "ignore"}}"#).is_empty());
        assert_eq!(
            crate::config::read::from_str::<OutcomesConfig>("{}").unwrap(),
            OutcomesConfig::default()
        );
    }

    #[test]
    fn unknown_fields_and_treatments_are_errors() {
        assert!(crate::config::read::from_str::<OutcomesConfig>(r#"{"htp": {}}"#).is_err());
        assert!(crate::config::read::from_str::<OutcomesConfig>(r#"{"reset": "fail"}"#).is_err());
        assert!(
            crate::config::read::from_str::<OutcomesConfig>(r#"{"http": {"503": "Failure"}}"#)
                .is_err()
        );
    }

    #[test]
    fn bad_keys_are_named_with_their_path() {
        assert_eq!(
            problems_of(
                r#"{"http": {"6xx": "failure", "600": "ignore", "99": "ignore", " 503": "ignore",
                             "5x": "ignore", "abc": "ignore", "0xx": "ignore"},
                    "grpc": {"UNAVAILBLE": "failure", "17": "ignore", "014": "ignore", "": "ignore"}}"#
            ),
            [
                "policies[0].outcomes.http. 503: unknown status or class",
                "policies[0].outcomes.http.0xx: unknown status or class",
                "policies[0].outcomes.http.5x: unknown status or class",
                "policies[0].outcomes.http.600: unknown status or class",
                "policies[0].outcomes.http.6xx: unknown status or class",
                "policies[0].outcomes.http.99: unknown status or class",
                "policies[0].outcomes.http.abc: unknown status or class",
                "policies[0].outcomes.grpc.: unknown grpc status name",
                "policies[0].outcomes.grpc.014: unknown grpc status name",
                "policies[0].outcomes.grpc.17: unknown grpc status name",
                "policies[0].outcomes.grpc.UNAVAILBLE: unknown grpc status name",
            ]
        );
    }

    #[test]
    fn duplicate_spellings_are_reported() {
        assert_eq!(
            problems_of(
                r#"{"http": {"5XX": "failure", "5xx": "ignore"},
                    "grpc": {"UNAVAILABLE": "failure", "unavailable": "ignore", "14": "ignore"}}"#
            ),
            [
                "policies[0].outcomes.http.5xx: duplicate of 5xx",
                "policies[0].outcomes.grpc.UNAVAILABLE: duplicate of UNAVAILABLE",
                "policies[0].outcomes.grpc.unavailable: duplicate of UNAVAILABLE",
            ]
        );
    }

    #[test]
    fn overlay_lets_the_user_win_across_spellings() {
        let base: OutcomesConfig = crate::config::read::from_str(
            r#"{"http": {"5xx": "failure", "404": "failure"}, "grpc": {"UNAVAILABLE": "failure"},
                "reset": "failure", "timeout": "retryable"}"#,
        )
        .unwrap();
        let user: OutcomesConfig = crate::config::read::from_str(
            r#"{"http": {"5XX": "ignore"}, "grpc": {"14": "ignore"}, "timeout": "ignore"}"#,
        )
        .unwrap();
        let merged = user.overlay(&base);
        assert_eq!(merged.http.len(), 2);
        assert_eq!(merged.http["5XX"], Treatment::Ignore);
        assert_eq!(merged.http["404"], Treatment::Failure);
        assert_eq!(merged.grpc.len(), 1);
        assert_eq!(merged.grpc["14"], Treatment::Ignore);
        assert_eq!(merged.reset, Some(Treatment::Failure));
        assert_eq!(merged.timeout, Some(Treatment::Ignore));
        assert_eq!(merged.connect_failure, None);
    }
}
