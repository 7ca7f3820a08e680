//! Where each value of a policy came from: the section default, the environment profile, the
//! preset, or the policy itself.
//!
//! A policy's values are layered field by field (see [`crate::preset`]), so the number that
//! decides when a breaker opens may have been written three layers away from the policy that
//! uses it. An operator asking "why 3 failures and not 5?" needs the layer, not just the value.
//!
//! Nothing here decides a value: the values are the resolved [`Policy`] that
//! [`Config::from_json`] builds, written back in the configuration's own spelling (the sections
//! serialise with their key names, checked by a test against the readers' key lists). Only the
//! origin is found here, by asking the very layers resolution merges ([`Environment::layer`],
//! [`Preset::layer`], the policy as written) top-most first: `layer::merge` replaces values key
//! by key, so the last layer that holds a key is the one whose value won, and a key no layer
//! holds kept its section default. A value that differs from the one its layer set was adjusted
//! after layering (a derived default, such as `minimum_calls` capped at a count window's
//! `window_size`), and is reported with the value the layer had set.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::sections::{
    BREAKER_KEYS, BUDGET_KEYS, BULKHEAD_KEYS, FALLBACK_KEYS, HEALTH_KEYS, INJECTION_KEYS,
    OUTCOMES_KEYS, RETRY_KEYS,
};
use super::{Config, Policy};
use crate::breaker::BreakerConfig;
use crate::bulkhead::BulkheadConfig;
use crate::fallback::FallbackConfig;
use crate::injection::InjectionConfig;
use crate::outcome::OutcomesConfig;
use crate::preset::{Environment, Preset};
use crate::retry::RetryConfig;
use crate::validate::{ConfigError, Problem};

/// The layer a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The section's built-in default.
    Default,
    /// The environment profile (`environment`).
    Environment(Environment),
    /// The policy's `preset`.
    Preset(Preset),
    /// Written in the policy.
    Explicit,
}

impl fmt::Display for Source {
    /// `default`, `environment production`, `preset grpc`, `explicit`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Environment(e) => write!(f, "environment {}", e.name()),
            Source::Preset(p) => write!(f, "preset {}", p.name()),
            Source::Explicit => f.write_str("explicit"),
        }
    }
}

/// One value in effect for a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The key under the policy, dotted: `timeout_ms`, `breaker.failure_threshold`,
    /// `retry.budget.window_ms`.
    pub key: String,
    /// The value in effect, as the configuration spells it (`"route"` for a `timeout_ms` left
    /// to the route).
    pub value: Value,
    /// The layer it came from.
    pub source: Source,
    /// The value that layer set, when resolution adjusted it afterwards (a derived default).
    pub layered: Option<Value>,
}

/// One policy's values and their origins, section by section in the order the configuration
/// reference lists the keys. Sections the policy does not have are absent.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyOrigins {
    /// The policy's position in `policies`.
    pub index: usize,
    /// The policy's name.
    pub name: String,
    /// Every value in effect.
    pub settings: Vec<Setting>,
}

/// A configuration with the origin of every value of every policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Explained {
    /// The configuration, as the adapters load it.
    pub config: Config,
    /// Whether `environment` was written (else the default profile, `production`, applies).
    pub environment_written: bool,
    /// Each policy's values, in configuration order.
    pub policies: Vec<PolicyOrigins>,
}

/// Reads `text` exactly as [`Config::from_json`] does (every problem with its path on error) and
/// says where each value of each policy came from.
pub fn explain(text: &str) -> Result<Explained, ConfigError> {
    let config = Config::from_json(text)?;
    // `from_json` accepted it, so it parses; its policies are the ones resolved, in order.
    let doc: Value = serde_json::from_str(text).map_err(|e| ConfigError {
        problems: vec![Problem {
            path: String::new(),
            reason: e.to_string(),
        }],
    })?;
    let written = doc.get("policies").and_then(Value::as_array);
    let env = config.environment.layer();
    let policies = config
        .policies
        .iter()
        .enumerate()
        .map(|(index, policy)| {
            let raw = written.and_then(|w| w.get(index)).unwrap_or(&Value::Null);
            origins(index, policy, raw, config.environment, &env)
        })
        .collect();
    Ok(Explained {
        environment_written: doc.get("environment").is_some(),
        config,
        policies,
    })
}

/// The layers of one policy, top-most (the one that wins) first.
struct Layers<'a> {
    stack: Vec<(Source, &'a Value)>,
}

impl Layers<'_> {
    /// The layer that holds `path` last, and the value it set there.
    fn find(&self, path: &[&str]) -> Option<(Source, &Value)> {
        self.stack
            .iter()
            .find_map(|(source, layer)| lookup(layer, path).map(|v| (*source, v)))
    }
}

fn origins(
    index: usize,
    policy: &Policy,
    raw: &Value,
    environment: Environment,
    env: &Value,
) -> PolicyOrigins {
    let preset = policy.preset.map(Preset::layer);
    let mut stack = vec![(Source::Explicit, raw)];
    if let (Some(p), Some(layer)) = (policy.preset, preset.as_ref()) {
        stack.push((Source::Preset(p), layer));
    }
    let timeout_layers = Layers {
        stack: stack.clone(),
    };
    stack.push((Source::Environment(environment), env));
    let layers = Layers { stack };

    let mut settings = vec![timeout(policy, &timeout_layers)];
    let mut add = |name: &str, effective: Option<Value>, default: Value, keys: &[&str]| {
        if let Some(effective) = effective {
            walk(&layers, &[name], &effective, &default, keys, &mut settings);
        }
    };
    add(
        "breaker",
        policy.breaker.as_ref().map(to_value),
        to_value(&BreakerConfig::default()),
        BREAKER_KEYS,
    );
    add(
        "retry",
        policy.retry.as_ref().map(to_value),
        to_value(&RetryConfig::default()),
        RETRY_KEYS,
    );
    add(
        "bulkhead",
        policy.bulkhead.as_ref().map(to_value),
        to_value(&BulkheadConfig::default()),
        BULKHEAD_KEYS,
    );
    add(
        "injection",
        policy.injection.as_ref().map(to_value),
        to_value(&InjectionConfig::default()),
        INJECTION_KEYS,
    );
    // Outcomes and fallbacks are not layered (no profile or preset sets them): shown when
    // written.
    add(
        "outcomes",
        raw.get("outcomes").map(|_| to_value(&policy.outcomes)),
        to_value(&OutcomesConfig::default()),
        OUTCOMES_KEYS,
    );
    add(
        "fallback",
        policy.fallback.as_ref().map(to_value),
        to_value(&FallbackConfig::default()),
        FALLBACK_KEYS,
    );
    PolicyOrigins {
        index,
        name: policy.name.clone(),
        settings,
    }
}

/// `timeout_ms`: written (milliseconds or `"route"`), else the preset's, else the route's own.
/// Environment profiles do not set it.
fn timeout(policy: &Policy, layers: &Layers<'_>) -> Setting {
    let value = policy
        .timeout_ms
        .map_or_else(|| Value::from("route"), Value::from);
    let (source, layered) = match layers.find(&["timeout_ms"]) {
        Some((source, v)) => (source, v.clone()),
        None => (Source::Default, Value::from("route")),
    };
    setting("timeout_ms".to_owned(), value, source, layered)
}

/// One setting per key of the section at `path`, nested sections (`retry.budget`) recursed.
fn walk(
    layers: &Layers<'_>,
    path: &[&str],
    effective: &Value,
    default: &Value,
    keys: &[&str],
    out: &mut Vec<Setting>,
) {
    for key in keys {
        let value = effective.get(*key).cloned().unwrap_or(Value::Null);
        let mut at = path.to_vec();
        at.push(key);
        // Nested objects with keys of their own: each key gets its own origin.
        let nested = match (path, *key) {
            (["retry"], "budget") => Some(BUDGET_KEYS),
            (["breaker"], "health") => Some(HEALTH_KEYS),
            _ => None,
        };
        if let Some(keys) = nested {
            let default = default.get(*key).cloned().unwrap_or(Value::Null);
            walk(layers, &at, &value, &default, keys, out);
            continue;
        }
        let (source, layered) = match layers.find(&at) {
            Some((source, v)) => (source, v.clone()),
            None => (
                Source::Default,
                default.get(*key).cloned().unwrap_or(Value::Null),
            ),
        };
        out.push(setting(at.join("."), value, source, layered));
    }
}

fn setting(key: String, value: Value, source: Source, layered: Value) -> Setting {
    let layered = (!same(&value, &layered)).then_some(layered);
    Setting {
        key,
        value,
        source,
        layered,
    }
}

/// Equal as configuration values: numbers by value (`1` and `1.0` are one threshold).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn lookup<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::read::FromJson;
    use crate::retry::BudgetConfig;
    use crate::validate::Problems;
    use serde_json::json;

    /// The sections serialise with exactly the keys their readers take, in a form the readers
    /// read back to the same value: what `explain` prints is the configuration's spelling.
    #[test]
    fn sections_serialise_in_the_configurations_spelling() {
        fn round_trip<T: FromJson + Serialize + PartialEq + std::fmt::Debug>(t: &T, keys: &[&str]) {
            let v = to_value(t);
            let mut written: Vec<&str> =
                v.as_object().unwrap().keys().map(String::as_str).collect();
            let mut expected = keys.to_vec();
            written.sort_unstable();
            expected.sort_unstable();
            assert_eq!(written, expected);
            let mut p = Problems::new();
            let back = T::read(&v, "", &mut p);
            assert!(p.finish().is_ok(), "{v}");
            assert_eq!(back.as_ref(), Some(t), "{v}");
        }
        let config = Config::from_json(
            r#"{"policies": [{"name": "a",
                "breaker": {"mode": "forced_open", "window": "time", "window_size": 30},
                "retry": {"backoff": "fibonacci", "jitter_mode": "decorrelated",
                          "per_try_timeout_ms": 250, "retriable_status_codes": [429]},
                "bulkhead": {"max_concurrent": 3},
                "injection": {"enabled": true, "abort_rate": 0.5},
                "outcomes": {"http": {"429": "retryable"}, "reset": "ignore"}}]}"#,
        )
        .unwrap();
        let p = &config.policies[0];
        round_trip(p.breaker.as_ref().unwrap(), BREAKER_KEYS);
        round_trip(&BreakerConfig::default(), BREAKER_KEYS);
        round_trip(p.retry.as_ref().unwrap(), RETRY_KEYS);
        round_trip(&RetryConfig::default(), RETRY_KEYS);
        round_trip(&BudgetConfig::default(), BUDGET_KEYS);
        round_trip(p.bulkhead.as_ref().unwrap(), BULKHEAD_KEYS);
        round_trip(p.injection.as_ref().unwrap(), INJECTION_KEYS);
        round_trip(&p.outcomes, OUTCOMES_KEYS);
    }

    fn find<'a>(e: &'a Explained, policy: usize, key: &str) -> &'a Setting {
        e.policies[policy]
            .settings
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("no {key}"))
    }

    #[test]
    fn health_keys_and_a_fallback_are_explained_one_by_one() {
        let e = explain(
            r#"{"policies": [{"name": "pay", "breaker": {"health": {"unhealthy_after": 4}},
                "fallback": {"reply": {"status": 200, "body": "[]"}}}]}"#,
        )
        .unwrap();
        let health = find(&e, 0, "breaker.health.unhealthy_after");
        assert_eq!(
            (&health.value, health.source),
            (&Value::from(4), Source::Explicit)
        );
        let healed = find(&e, 0, "breaker.health.healthy_after");
        assert_eq!(
            (&healed.value, healed.source),
            (&Value::from(2), Source::Default)
        );
        let reply = find(&e, 0, "fallback.reply");
        assert_eq!(reply.source, Source::Explicit);
        assert_eq!(reply.value["body"], "[]");
        assert_eq!(find(&e, 0, "fallback.on").source, Source::Default);
        // Not written: not shown.
        let plain = explain(r#"{"policies": [{"name": "p", "breaker": {}}]}"#).unwrap();
        assert!(
            !plain.policies[0]
                .settings
                .iter()
                .any(|s| s.key.starts_with("fallback"))
        );
    }

    #[test]
    fn each_value_names_the_layer_that_set_it() {
        let e = explain(
            r#"{"environment": "testing", "policies": [
                {"name": "pay", "preset": "redis", "breaker": {"failure_threshold": 7},
                 "retry": {"budget": {"window_ms": 500}}},
                {"name": "plain", "breaker": {"window_size": 10}, "timeout_ms": "route"}]}"#,
        )
        .unwrap();
        assert!(e.environment_written);
        let pay = |k| find(&e, 0, k);
        assert_eq!(pay("breaker.failure_threshold").source, Source::Explicit);
        assert_eq!(pay("breaker.failure_threshold").value, json!(7));
        // redis: 15 s cooldown over testing's 1 s.
        assert_eq!(
            pay("breaker.recovery_timeout_ms").source,
            Source::Preset(Preset::Redis)
        );
        assert_eq!(pay("breaker.recovery_timeout_ms").value, json!(15_000));
        assert_eq!(
            pay("breaker.probe_lease_ms").source,
            Source::Environment(Environment::Testing)
        );
        assert_eq!(pay("breaker.mode").source, Source::Default);
        assert_eq!(pay("breaker.mode").value, json!("enforce"));
        assert_eq!(pay("retry.max_retries").value, json!(2));
        assert_eq!(
            pay("retry.max_retries").source,
            Source::Preset(Preset::Redis)
        );
        assert_eq!(pay("retry.budget.window_ms").source, Source::Explicit);
        assert_eq!(pay("retry.budget.budget_percent").source, Source::Default);
        assert_eq!(pay("timeout_ms").value, json!(5_000));
        assert_eq!(pay("timeout_ms").source, Source::Preset(Preset::Redis));
        assert!(
            e.policies[0]
                .settings
                .iter()
                .all(|s| !s.key.starts_with("bulkhead"))
        );

        // testing's minimum_calls (5) stays under window_size 10; the route keeps its timeout.
        let plain = |k| find(&e, 1, k);
        assert_eq!(plain("timeout_ms").value, json!("route"));
        assert_eq!(plain("timeout_ms").source, Source::Explicit);
        assert_eq!(
            plain("breaker.minimum_calls").source,
            Source::Environment(Environment::Testing)
        );
        assert_eq!(plain("breaker.minimum_calls").layered, None);
    }

    #[test]
    fn a_derived_default_says_what_its_layer_had_set() {
        let e =
            explain(r#"{"policies": [{"name": "a", "breaker": {"window_size": 10}}]}"#).unwrap();
        assert!(!e.environment_written);
        let s = find(&e, 0, "breaker.minimum_calls");
        assert_eq!(s.value, json!(10));
        assert_eq!(s.source, Source::Default);
        assert_eq!(s.layered, Some(json!(20)));
        assert_eq!(find(&e, 0, "timeout_ms").source, Source::Default);
        assert_eq!(find(&e, 0, "timeout_ms").value, json!("route"));
    }

    #[test]
    fn a_bad_document_gets_every_problem_with_its_path() {
        let e = explain(r#"{"policies": [{"name": "a", "breaker": {"failure_treshold": 1}}]}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("policies[0].breaker.failure_treshold: unknown field"),
            "{e}"
        );
    }
}
