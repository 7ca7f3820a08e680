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
mod needs;
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

use serde_json::{Map, Value};

use crate::breaker::BreakerConfig;
use crate::bulkhead::BulkheadConfig;
use crate::injection::InjectionConfig;
use crate::outcome::OutcomesConfig;
use crate::preset::{Environment, Preset};
use crate::retry::RetryConfig;
use crate::time::Nanos;
use crate::validate::{ConfigError, Problem, Problems, join, quoted};
use read::FromJson;

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
}

/// The top level of the document as written; its policies are resolved one by one after.
#[derive(Default)]
struct Document {
    service: Option<String>,
    environment: Environment,
    status_path: Option<String>,
    sync_interval_ms: Option<u64>,
    policies: Option<Vec<Value>>,
}

sections::fields!(
    /// The top-level keys of the document.
    TOP_KEYS => Document {
        service: opt,
        environment,
        status_path: opt,
        sync_interval_ms: opt,
        policies: required,
    }
);

/// One policy as written: its sections stay raw JSON until they are layered over the
/// environment profile and the preset.
#[derive(Default)]
struct PolicyDocument<'v> {
    name: Option<String>,
    matcher: Match,
    preset: Option<Preset>,
    breaker: Option<&'v Value>,
    retry: Option<&'v Value>,
    timeout_ms: Option<&'v Value>,
    bulkhead: Option<&'v Value>,
    injection: Option<&'v Value>,
    outcomes: Option<&'v Value>,
}

sections::fields!(
    /// The keys of a policy.
    POLICY_KEYS => PolicyDocument<'v> {
        name: required,
        matcher as "match",
        preset: opt,
        breaker: raw,
        retry: raw,
        timeout_ms: raw,
        bulkhead: raw,
        injection: raw,
        outcomes: raw,
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
        for (i, raw) in raw_policies.iter().enumerate() {
            let at = format!("policies[{i}]");
            if let Some(policy) = resolve_policy(raw, &env, &at, p, &mut envoy_warnings) {
                if policies.iter().any(|q: &Policy| q.name == policy.name) {
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
            sync_interval: Nanos::from_millis(sync_ms),
            policies,
            envoy_warnings,
        })
    }
}

/// Layers one section: environment profile, then preset, then explicit; `None` when neither
/// the preset nor the policy names the section.
fn section<T: FromJson + sections::Settle>(
    name: &str,
    env: &Value,
    preset: Option<&Value>,
    explicit: Option<&Value>,
    at: &str,
    p: &mut Problems,
) -> Option<T> {
    let from_preset = preset.and_then(|v| v.get(name));
    if from_preset.is_none() && explicit.is_none() {
        return None;
    }
    if let Some(e) = explicit
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
    if let Some(e) = explicit {
        layer::merge(&mut v, e);
    }
    let mut t = T::read(&v, &join(at, name), p)?;
    t.settle(explicit);
    Some(t)
}

/// A policy's `timeout_ms` as written: milliseconds, `"route"`, or absent.
enum TimeoutSetting {
    Absent,
    Millis(u64),
    Route,
}

/// Reads `timeout_ms`: a number of milliseconds or the word `"route"`.
fn timeout_setting(v: Option<&Value>, at: &str, p: &mut Problems) -> Option<TimeoutSetting> {
    match v {
        None => Some(TimeoutSetting::Absent),
        Some(Value::String(s)) if s == "route" => Some(TimeoutSetting::Route),
        Some(Value::String(s)) => {
            p.add(
                at,
                "timeout_ms",
                format!("must be milliseconds or \"route\", got {}", quoted(s)),
            );
            None
        }
        Some(v) => u64::read(v, &join(at, "timeout_ms"), p).map(TimeoutSetting::Millis),
    }
}

/// The backoff keys of a `retry` section: Envoy's router applies its own backoff (a request
/// header cannot set one), so in Envoy these shape nothing.
const BACKOFF_KEYS: [&str; 7] = [
    "backoff",
    "jitter_mode",
    "base_delay_ms",
    "max_delay_ms",
    "jitter",
    "multiplier",
    "exponent",
];

fn resolve_policy(
    raw: &Value,
    env: &Value,
    at: &str,
    p: &mut Problems,
    envoy_warnings: &mut Vec<Problem>,
) -> Option<Policy> {
    let PolicyDocument {
        name,
        matcher,
        preset: preset_name,
        breaker,
        retry,
        timeout_ms: timeout_raw,
        bulkhead,
        injection,
        outcomes,
    } = PolicyDocument::read(raw, at, p)?;
    let name = name?;
    if !valid_name(&name) {
        p.add(
            at,
            "name",
            format!(
                "must be 1-64 letters, digits, '_' or '-', got {}",
                quoted(&name)
            ),
        );
    }
    matcher.validate(&join(at, "match"), p);
    let preset = preset_name.map(Preset::layer);
    let preset = preset.as_ref();
    let breaker: Option<BreakerConfig> = section("breaker", env, preset, breaker, at, p);
    let retry_raw = retry;
    let retry: Option<RetryConfig> = section("retry", env, preset, retry, at, p);
    let bulkhead: Option<BulkheadConfig> = section("bulkhead", env, preset, bulkhead, at, p);
    let injection: Option<InjectionConfig> = section("injection", env, preset, injection, at, p);
    let outcomes = match outcomes {
        Some(v) => OutcomesConfig::read(v, &join(at, "outcomes"), p).unwrap_or_default(),
        None => OutcomesConfig::default(),
    };
    let timeout_ms = match timeout_setting(timeout_raw, at, p) {
        Some(TimeoutSetting::Millis(ms)) => Some(ms),
        Some(TimeoutSetting::Route) | None => None,
        Some(TimeoutSetting::Absent) => preset
            .and_then(|v| v.get("timeout_ms"))
            .and_then(Value::as_u64),
    };
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
        let retry_at = join(at, "retry");
        for key in BACKOFF_KEYS {
            if retry_raw.is_some_and(|v| v.get(key).is_some()) {
                envoy_warnings.push(Problem {
                    path: join(&retry_at, key),
                    reason: "has no effect in Envoy: the router applies its own backoff (set \
                             retry_back_off on the route's retry_policy); hosts that retry by \
                             themselves use it"
                        .to_owned(),
                });
            }
        }
        for (field, reason) in crate::retry::Conditions::new(r, &outcomes).notes {
            envoy_warnings.push(Problem {
                path: join(at, &field),
                reason,
            });
        }
    }
    if let Some(b) = &bulkhead {
        b.validate(&join(at, "bulkhead"), p);
    }
    if let Some(i) = &injection {
        i.validate(&join(at, "injection"), p);
    }
    outcomes.validate(&join(at, "outcomes"), p);
    Some(Policy {
        name,
        matcher,
        preset: preset_name,
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
