//! The plugin configuration: one JSON document, shared by the Envoy filter and the component.
//!
//! ```json
//! {
//!   "service": "checkout",
//!   "environment": "production",
//!   "status_path": "/breakwater/status",
//!   "policies": [
//!     { "name": "payments", "match": { "cluster": "payments" }, "preset": "grpc",
//!       "breaker": { "failure_threshold": 3 }, "bulkhead": { "max_concurrent": 50 } }
//!   ]
//! }
//! ```
//!
//! Parsing is strict: unknown keys are errors (a misspelt `failure_treshold` silently ignored
//! is a breaker that never trips as intended), and every problem is reported at once with its
//! JSON path. Sections layer as described in [`crate::preset`]: section defaults, then the
//! environment profile, then the preset, then explicit fields. A section exists in a policy when
//! the policy or its preset names it (presets name `breaker`, `retry` and `timeout_ms`).

pub mod explain;
mod layer;
mod matcher;
mod needs;
mod policy;
pub(crate) mod read;
#[cfg(feature = "schema")]
pub use sections::section_keys;
#[cfg(feature = "schema")]
mod schema;
pub(crate) mod sections;
mod strict;

pub use matcher::Match;
#[cfg(feature = "schema")]
pub use schema::json_schema;

use serde_json::Value;

use crate::breaker::BreakerConfig;
use crate::bulkhead::BulkheadConfig;
use crate::injection::InjectionConfig;
use crate::outcome::OutcomesConfig;
use crate::preset::{Environment, Preset};
use crate::retry::RetryConfig;
use crate::time::Nanos;
use crate::validate::{ConfigError, Problem, Problems, quoted};
#[cfg(test)]
use policy::BACKOFF_KEYS;
use policy::resolve_policy;
use read::FromJson;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Name of the protected service (in replies, keys and logs).
    pub service: String,
    /// The environment profile applied.
    pub environment: Environment,
    /// Path answered with the status JSON, if set.
    pub status_path: Option<String>,
    /// Path on which a `POST` resets a policy's breaker (`?policy=NAME`), if set; off by
    /// default, and to be guarded (see envoy/README.md: the RBAC that must front it).
    pub reset_path: Option<String>,
    /// Longest a worker's cached breaker state may be stale.
    pub sync_interval: Nanos,
    /// Policies, first match wins.
    pub policies: Vec<Policy>,
    /// Settings that are valid but that Envoy's router cannot honour as written (the retry
    /// backoff keys, retry treatments with no router condition), each at its path: the Envoy
    /// adapters log them once when the configuration is loaded. Nothing is refused silently.
    pub envoy_warnings: Vec<Problem>,
}

/// One policy, with its sections resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Name, used in metrics, replies and shared-data keys.
    pub name: String,
    /// Which requests it applies to.
    pub matcher: Match,
    /// The preset it started from.
    pub preset: Option<Preset>,
    /// Circuit breaker, if any.
    pub breaker: Option<BreakerConfig>,
    /// Retry policy, if any.
    pub retry: Option<RetryConfig>,
    /// Whole-request timeout given to the router, if any. `None` also when the policy wrote
    /// `"timeout_ms": "route"`: the route's own timeout applies, even under a preset.
    pub timeout_ms: Option<u64>,
    /// Bulkhead, if any.
    pub bulkhead: Option<BulkheadConfig>,
    /// Failure injection, if any.
    pub injection: Option<InjectionConfig>,
    /// Outcome classification (defaults when absent).
    pub outcomes: OutcomesConfig,
    /// What to answer instead of a refusal, if anything.
    pub fallback: Option<crate::fallback::FallbackConfig>,
}

/// The top level of the document as written; its policies are resolved one by one after.
#[derive(Default)]
struct Document {
    service: Option<String>,
    environment: Environment,
    status_path: Option<String>,
    reset_path: Option<String>,
    sync_interval_ms: Option<u64>,
    policies: Option<Vec<Value>>,
}

sections::fields!(
    /// The top-level keys of the document.
    TOP_KEYS => Document {
        service: opt,
        environment,
        status_path: opt,
        reset_path: opt,
        sync_interval_ms: opt,
        policies: required,
    }
);

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Config {
    /// Parses and validates a JSON document; every problem is reported with its path, a key
    /// written twice in one object and a number out of range included.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let (doc, duplicates) = strict::parse(text).map_err(|problem| ConfigError {
            problems: vec![problem],
        })?;
        let mut p = Problems::new();
        for d in duplicates {
            p.at(&d.path, d.reason);
        }
        let config = Self::read(&doc, &mut p);
        p.finish()?;
        // Reading gives `None` only after recording why.
        config.ok_or_else(|| ConfigError {
            problems: Vec::new(),
        })
    }

    /// Like [`Config::from_json`] for an already parsed document.
    pub fn from_value(doc: Value) -> Result<Config, ConfigError> {
        let mut p = Problems::new();
        let config = Self::read(&doc, &mut p);
        p.finish()?;
        // Reading gives `None` only after recording why.
        config.ok_or_else(|| ConfigError {
            problems: Vec::new(),
        })
    }

    /// Reads and validates `doc`, recording every problem; a mistake among the top-level
    /// fields stops before the policies (they would be judged under the wrong profile).
    fn read(doc: &Value, p: &mut Problems) -> Option<Config> {
        let Document {
            service,
            environment,
            status_path,
            reset_path,
            sync_interval_ms: sync_ms,
            policies: raw_policies,
        } = Document::read(doc, "", p)?;
        let raw_policies = raw_policies.unwrap_or_default();
        let service = service.unwrap_or_else(|| "default".to_owned());
        if !valid_name(&service) {
            p.add(
                "",
                "service",
                format!(
                    "must be 1-64 letters, digits, '_' or '-', got {}",
                    quoted(&service)
                ),
            );
        }
        if let Some(path) = &status_path
            && !path.starts_with('/')
        {
            p.add(
                "",
                "status_path",
                format!("must start with '/', got {}", quoted(path)),
            );
        }
        if let Some(path) = &reset_path {
            if !path.starts_with('/') {
                p.add(
                    "",
                    "reset_path",
                    format!("must start with '/', got {}", quoted(path)),
                );
            } else if status_path.as_deref() == Some(path.as_str()) {
                p.add("", "reset_path", "must differ from status_path");
            }
        }
        let sync_ms = sync_ms.unwrap_or(100);
        if !(1..=10_000).contains(&sync_ms) {
            p.add(
                "",
                "sync_interval_ms",
                format!("must be in [1, 10000], got {sync_ms}"),
            );
        }
        if raw_policies.is_empty() {
            p.add("", "policies", "must hold at least one policy");
        }
        let env = environment.layer();
        let mut policies = Vec::with_capacity(raw_policies.len());
        let mut envoy_warnings = Vec::new();
        // Names seen so far: a set, so 10,000 policies load in linear time.
        let mut names = std::collections::HashSet::with_capacity(raw_policies.len());
        for (i, raw) in raw_policies.iter().enumerate() {
            let at = format!("policies[{i}]");
            if let Some(policy) = resolve_policy(raw, &env, &at, p, &mut envoy_warnings) {
                if !names.insert(policy.name.clone()) {
                    p.add(
                        &at,
                        "name",
                        format!("duplicate policy name {}", quoted(&policy.name)),
                    );
                }
                policies.push(policy);
            }
        }
        Some(Config {
            service,
            environment,
            status_path,
            reset_path,
            sync_interval: Nanos::from_millis(sync_ms),
            policies,
            envoy_warnings,
        })
    }
}

#[cfg(test)]
mod tests;
