//! `breakwater render`: a YAML (or JSON) document in, the JSON Envoy and Istio take out, with
//! the environment's overrides applied.
//!
//! The source documents configure their resilience layers by environment (a profile name and
//! one variable per key, `MARTY_RESILIENCE_<SECTION>_<KEY>`); breakwater does the same when it
//! renders, so one file serves every environment:
//!
//! - `BREAKWATER_ENVIRONMENT` sets `environment`, `BREAKWATER_SERVICE` sets `service`;
//! - `BREAKWATER_POLICY_<NAME>_<SECTION>_<KEY>` sets one key of one policy's section (`NAME`
//!   is the policy name in upper case with `-` as `_`; `SECTION` one of `BREAKER`, `RETRY`,
//!   `BULKHEAD`, `INJECTION`; `KEY` the key in upper case), e.g.
//!   `BREAKWATER_POLICY_PAYMENTS_BREAKER_FAILURE_THRESHOLD=3`. A value that reads as JSON is
//!   taken as JSON (`3`, `true`, `0.5`), anything else as a string.
//!
//! The result is checked like any configuration before it is printed: a bad override is an
//! error with its path, never a file that Envoy then refuses.

use breakwater_core::Config;
use serde_json::{Map, Value};

/// One environment variable applied: its name and the JSON path it set in the document
/// (`environment`, `policies[0].breaker.failure_threshold`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Override {
    /// The variable, e.g. `BREAKWATER_POLICY_PAYMENTS_BREAKER_FAILURE_THRESHOLD`.
    pub(crate) var: String,
    /// What it set.
    pub(crate) path: String,
}

/// Applies the overrides of `vars` (name, value) to `doc`; returns what each one set.
pub(crate) fn apply(doc: &mut Value, vars: &[(String, String)]) -> Result<Vec<Override>, String> {
    let mut applied = Vec::new();
    let top = doc
        .as_object_mut()
        .ok_or("the document is not a map with `policies`")?;
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("BREAKWATER_") else {
            continue;
        };
        let path = match rest {
            "ENVIRONMENT" => {
                top.insert("environment".into(), Value::String(value.to_lowercase()));
                "environment".to_owned()
            }
            "SERVICE" => {
                top.insert("service".into(), Value::String(value.clone()));
                "service".to_owned()
            }
            _ => {
                let Some(key) = rest.strip_prefix("POLICY_") else {
                    continue;
                };
                set_policy_key(top, key, value).map_err(|e| format!("{name}: {e}"))?
            }
        };
        applied.push(Override {
            var: name.clone(),
            path,
        });
    }
    Ok(applied)
}

const SECTIONS: [&str; 4] = ["BREAKER", "RETRY", "BULKHEAD", "INJECTION"];

/// Sets one policy key; returns its JSON path (`policies[0].breaker.failure_threshold`).
fn set_policy_key(top: &mut Map<String, Value>, key: &str, value: &str) -> Result<String, String> {
    let policies = top
        .get_mut("policies")
        .and_then(Value::as_array_mut)
        .ok_or("the document has no `policies` list")?;
    for (i, p) in policies.iter_mut().enumerate() {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let prefix = format!("{}_", name.to_uppercase().replace('-', "_"));
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        for section in SECTIONS {
            if let Some(field) = rest.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
                let v = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
                let obj = p
                    .as_object_mut()
                    .ok_or("a policy is not a map")?
                    .entry(section.to_lowercase())
                    .or_insert_with(|| Value::Object(Map::new()));
                obj.as_object_mut()
                    .ok_or_else(|| format!("{} is not a map", section.to_lowercase()))?
                    .insert(field.to_lowercase(), v);
                return Ok(format!(
                    "policies[{i}].{}.{}",
                    section.to_lowercase(),
                    field.to_lowercase()
                ));
            }
        }
        return Err(format!(
            "expected a section ({}) after the policy name",
            SECTIONS.join(", ")
        ));
    }
    Err("names no policy of the document".into())
}

/// Renders `doc` as the JSON text Envoy's `configuration` (or `filter_config`) takes, after
/// checking it; `Err` lists every problem with its path.
pub(crate) fn render(doc: &Value) -> Result<String, String> {
    let text = doc.to_string();
    Config::from_json(&text).map_err(|e| e.to_string())?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_set_keys_by_policy_and_section() {
        let mut doc = json!({"policies": [{"name": "payments-api", "breaker": {"failure_threshold": 5}},
                                          {"name": "db"}]});
        let vars = vec![
            ("BREAKWATER_ENVIRONMENT".into(), "TESTING".into()),
            (
                "BREAKWATER_POLICY_PAYMENTS_API_BREAKER_FAILURE_THRESHOLD".into(),
                "3".into(),
            ),
            ("BREAKWATER_POLICY_DB_RETRY_RETRY_ON".into(), "reset".into()),
            ("HOME".into(), "/root".into()),
        ];
        let applied = apply(&mut doc, &vars).unwrap();
        let paths: Vec<&str> = applied.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "environment",
                "policies[0].breaker.failure_threshold",
                "policies[1].retry.retry_on"
            ]
        );
        assert_eq!(doc["environment"], "testing");
        assert_eq!(doc["policies"][0]["breaker"]["failure_threshold"], 3);
        assert_eq!(doc["policies"][1]["retry"]["retry_on"], "reset");
        assert!(render(&doc).is_ok());
    }

    #[test]
    fn a_bad_override_is_named() {
        let mut doc = json!({"policies": [{"name": "db"}]});
        let e = apply(
            &mut doc,
            &[("BREAKWATER_POLICY_NOPE_BREAKER_X".into(), "1".into())],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "BREAKWATER_POLICY_NOPE_BREAKER_X: names no policy of the document"
        );
        apply(
            &mut doc,
            &[(
                "BREAKWATER_POLICY_DB_BREAKER_FAILURE_TRESHOLD".into(),
                "1".into(),
            )],
        )
        .unwrap();
        let e = render(&doc).unwrap_err();
        assert!(
            e.contains("policies[0].breaker.failure_treshold: unknown field"),
            "{e}"
        );
    }
}
