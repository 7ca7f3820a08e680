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

mod layer;
mod matcher;
#[cfg(feature = "schema")]
mod schema;

pub use matcher::Match;
#[cfg(feature = "schema")]
pub use schema::json_schema;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::breaker::BreakerConfig;
use crate::bulkhead::BulkheadConfig;
use crate::injection::InjectionConfig;
use crate::outcome::OutcomesConfig;
use crate::preset::{Environment, Preset};
use crate::retry::RetryConfig;
use crate::time::Nanos;
use crate::validate::{ConfigError, Problem, Problems, join};

/// Largest `timeout_ms` accepted (one day).
const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Name of the protected service (in replies, keys and logs).
    pub service: String,
    /// The environment profile applied.
    pub environment: Environment,
    /// Path answered with the status JSON, if set.
    pub status_path: Option<String>,
    /// Longest a worker's cached breaker state may be stale.
    pub sync_interval: Nanos,
    /// Policies, first match wins.
    pub policies: Vec<Policy>,
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
    /// Whole-request timeout given to the router, if any.
    pub timeout_ms: Option<u64>,
    /// Bulkhead, if any.
    pub bulkhead: Option<BulkheadConfig>,
    /// Failure injection, if any.
    pub injection: Option<InjectionConfig>,
    /// Outcome classification (defaults when absent).
    pub outcomes: OutcomesConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTop {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    environment: Environment,
    #[serde(default)]
    status_path: Option<String>,
    #[serde(default)]
    sync_interval_ms: Option<u64>,
    policies: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    #[serde(default, rename = "match")]
    matcher: Match,
    #[serde(default)]
    preset: Option<Preset>,
    #[serde(default)]
    breaker: Option<Value>,
    #[serde(default)]
    retry: Option<Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    bulkhead: Option<Value>,
    #[serde(default)]
    injection: Option<Value>,
    #[serde(default)]
    outcomes: Option<Value>,
}

/// Deserializes `value`, reporting a failure under `at` plus the path inside it.
fn typed<T: DeserializeOwned>(value: Value, at: &str, p: &mut Problems) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                at.to_owned()
            } else {
                join(at, &inner)
            };
            p.at(&path, e.inner().to_string());
            None
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Config {
    /// Parses and validates a JSON document; every problem is reported with its path.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        match serde_json::from_str(text) {
            Ok(doc) => Self::from_value(doc),
            Err(e) => Err(ConfigError {
                problems: vec![Problem {
                    path: String::new(),
                    reason: format!("invalid JSON: {e}"),
                }],
            }),
        }
    }

    /// Like [`Config::from_json`] for an already parsed document.
    pub fn from_value(doc: Value) -> Result<Config, ConfigError> {
        let mut p = Problems::new();
        let Some(top) = typed::<RawTop>(doc, "", &mut p) else {
            return p.finish().and(Err(ConfigError {
                problems: Vec::new(),
            }));
        };
        let service = top.service.unwrap_or_else(|| "default".to_owned());
        if !valid_name(&service) {
            p.add(
                "",
                "service",
                format!("must be 1-64 letters, digits, '_' or '-', got {service:?}"),
            );
        }
        if let Some(path) = &top.status_path
            && !path.starts_with('/')
        {
            p.add(
                "",
                "status_path",
                format!("must start with '/', got {path:?}"),
            );
        }
        let sync_ms = top.sync_interval_ms.unwrap_or(100);
        if !(1..=10_000).contains(&sync_ms) {
            p.add(
                "",
                "sync_interval_ms",
                format!("must be in [1, 10000], got {sync_ms}"),
            );
        }
        if top.policies.is_empty() {
            p.add("", "policies", "must hold at least one policy");
        }
        let env = top.environment.layer();
        let mut policies = Vec::with_capacity(top.policies.len());
        for (i, raw) in top.policies.into_iter().enumerate() {
            let at = format!("policies[{i}]");
            if let Some(policy) = resolve_policy(raw, &env, &at, &mut p) {
                if policies.iter().any(|q: &Policy| q.name == policy.name) {
                    p.add(
                        &at,
                        "name",
                        format!("duplicate policy name {:?}", policy.name),
                    );
                }
                policies.push(policy);
            }
        }
        p.finish()?;
        Ok(Config {
            service,
            environment: top.environment,
            status_path: top.status_path,
            sync_interval: Nanos::from_millis(sync_ms),
            policies,
        })
    }
}

/// Layers one section: environment profile, then preset, then explicit; `None` when neither
/// the preset nor the policy names the section.
fn section<T: DeserializeOwned>(
    name: &str,
    env: &Value,
    preset: Option<&Value>,
    explicit: Option<Value>,
    at: &str,
    p: &mut Problems,
) -> Option<T> {
    let from_preset = preset.and_then(|v| v.get(name));
    if from_preset.is_none() && explicit.is_none() {
        return None;
    }
    if let Some(e) = &explicit
        && !e.is_object()
    {
        p.add(at, name, "must be an object");
        return None;
    }
    let mut v = env
        .get(name)
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(pv) = from_preset {
        layer::merge(&mut v, pv);
    }
    if let Some(e) = &explicit {
        layer::merge(&mut v, e);
    }
    typed(v, &join(at, name), p)
}

fn resolve_policy(raw: Value, env: &Value, at: &str, p: &mut Problems) -> Option<Policy> {
    let raw: RawPolicy = typed(raw, at, p)?;
    if !valid_name(&raw.name) {
        p.add(
            at,
            "name",
            format!(
                "must be 1-64 letters, digits, '_' or '-', got {:?}",
                raw.name
            ),
        );
    }
    raw.matcher.validate(&join(at, "match"), p);
    let preset = raw.preset.map(Preset::layer);
    let preset = preset.as_ref();
    let breaker: Option<BreakerConfig> = section("breaker", env, preset, raw.breaker, at, p);
    let retry: Option<RetryConfig> = section("retry", env, preset, raw.retry, at, p);
    let bulkhead: Option<BulkheadConfig> = section("bulkhead", env, preset, raw.bulkhead, at, p);
    let injection: Option<InjectionConfig> =
        section("injection", env, preset, raw.injection, at, p);
    let outcomes = match raw.outcomes {
        Some(v) => typed::<OutcomesConfig>(v, &join(at, "outcomes"), p).unwrap_or_default(),
        None => OutcomesConfig::default(),
    };
    let timeout_ms = raw.timeout_ms.or_else(|| {
        preset
            .and_then(|v| v.get("timeout_ms"))
            .and_then(Value::as_u64)
    });
    if let Some(t) = timeout_ms
        && !(1..=MAX_TIMEOUT_MS).contains(&t)
    {
        p.add(
            at,
            "timeout_ms",
            format!("must be in [1, {MAX_TIMEOUT_MS}], got {t}"),
        );
    }
    if let Some(b) = &breaker {
        b.validate(&join(at, "breaker"), p);
    }
    if let Some(r) = &retry {
        r.validate(&join(at, "retry"), p);
    }
    if let Some(b) = &bulkhead {
        b.validate(&join(at, "bulkhead"), p);
    }
    if let Some(i) = &injection {
        i.validate(&join(at, "injection"), p);
    }
    outcomes.validate(&join(at, "outcomes"), p);
    Some(Policy {
        name: raw.name,
        matcher: raw.matcher,
        preset: raw.preset,
        breaker,
        retry,
        timeout_ms,
        bulkhead,
        injection,
        outcomes,
    })
}

#[cfg(test)]
mod tests;
