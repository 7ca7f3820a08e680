//! One policy of the document: its fields as written, its sections layered (environment
//! profile, then preset, then explicit) and validated, and the settings Envoy's router cannot
//! honour noted as warnings with their paths.

use serde_json::{Map, Value};

use super::read::FromJson;
use super::{Match, Policy, layer, sections, valid_name};
use crate::breaker::BreakerConfig;
use crate::bulkhead::BulkheadConfig;
use crate::fallback::FallbackConfig;
use crate::injection::InjectionConfig;
use crate::outcome::OutcomesConfig;
use crate::preset::Preset;
use crate::retry::RetryConfig;
use crate::validate::{Problem, Problems, join, quoted};

/// Largest `timeout_ms` accepted (one day).
const MAX_TIMEOUT_MS: u64 = 86_400_000;

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
    fallback: Option<FallbackConfig>,
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
        fallback: opt,
    }
);

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
pub(super) const BACKOFF_KEYS: [&str; 7] = [
    "backoff",
    "jitter_mode",
    "base_delay_ms",
    "max_delay_ms",
    "jitter",
    "multiplier",
    "exponent",
];

pub(super) fn resolve_policy(
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
        fallback,
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
    if let Some(f) = &fallback {
        let f_at = join(at, "fallback");
        f.validate(&f_at, p);
        if f.on.contains(&crate::fallback::Trigger::CircuitOpen) && breaker.is_none() {
            p.add(
                &f_at,
                "on",
                "circuit_open needs a breaker section in the policy",
            );
        }
        if f.on.contains(&crate::fallback::Trigger::BulkheadFull) && bulkhead.is_none() {
            p.add(
                &f_at,
                "on",
                "bulkhead_full needs a bulkhead section in the policy",
            );
        }
    }
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
        fallback,
    })
}
