//! Where breakwater's configuration lives in a file, and finding it there.
//!
//! An operator keeps it in one of four places: a document of its own (JSON or YAML, a map with
//! `policies`); the wasm filter's `configuration` in an Envoy bootstrap, an LDS listener or an
//! ECDS resource (a `google.protobuf.StringValue` holding the JSON); the dynamic module's
//! `filter_config` there; or an Istio `WasmPlugin`'s `pluginConfig` (the document as YAML).
//! [`find`] walks a parsed file and returns each one with where it was, so a problem can be
//! named by file, place and JSON path.

use serde_json::Value;

/// The `@type` of Envoy's wasm HTTP filter.
const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
/// The `@type` of Envoy's dynamic-module HTTP filter.
const MODULE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";

/// One breakwater configuration found in a file.
#[derive(Debug)]
pub(crate) struct Found {
    /// Where: the path inside the document (`static_resources.listeners[0]…`), empty for a
    /// document of its own.
    pub(crate) place: String,
    /// The configuration as JSON text, or why it could not be read there.
    pub(crate) text: Result<String, String>,
}

/// Every breakwater configuration in `doc`.
pub(crate) fn find(doc: &Value) -> Vec<Found> {
    let mut found = Vec::new();
    if doc.get("policies").is_some() {
        found.push(Found {
            place: String::new(),
            text: Ok(doc.to_string()),
        });
        return found;
    }
    if doc.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
        let text = match doc.pointer("/spec/pluginConfig") {
            Some(c @ Value::Object(_)) => Ok(c.to_string()),
            Some(_) => Err("pluginConfig must be a map".to_owned()),
            None => Err("a WasmPlugin without pluginConfig".to_owned()),
        };
        found.push(Found {
            place: "spec.pluginConfig".into(),
            text,
        });
        return found;
    }
    walk(doc, "", &mut found);
    if found.is_empty() && doc.is_object() && !looks_like_envoy_or_kubernetes(doc) {
        // A map that is neither Envoy's nor Kubernetes': take it for breakwater's own
        // document, so that a broken one (say, without `policies`) gets its problems named.
        found.push(Found {
            place: String::new(),
            text: Ok(doc.to_string()),
        });
    }
    found
}

/// Whether `doc` is an Envoy bootstrap or xDS resource, or a Kubernetes manifest.
fn looks_like_envoy_or_kubernetes(doc: &Value) -> bool {
    [
        "static_resources",
        "dynamic_resources",
        "resources",
        "admin",
        "@type",
        "typed_config",
        "apiVersion",
        "kind",
    ]
    .iter()
    .any(|k| doc.get(k).is_some())
}

fn walk(v: &Value, path: &str, found: &mut Vec<Found>) {
    match v {
        Value::Object(map) => {
            match map.get("@type").and_then(Value::as_str) {
                Some(WASM_TYPE) if is_breakwater_wasm(v) => {
                    found.push(Found {
                        place: join(path, "config.configuration"),
                        text: string_value(v.pointer("/config/configuration")),
                    });
                    return;
                }
                Some(MODULE_TYPE) if is_breakwater_module(v) => {
                    found.push(Found {
                        place: join(path, "filter_config"),
                        text: string_value(v.get("filter_config")),
                    });
                    return;
                }
                _ => {}
            }
            for (k, child) in map {
                walk(child, &join(path, k), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// A wasm filter is breakwater's when its root id or VM is named so, or its configuration reads
/// like breakwater's (it has `policies`).
fn is_breakwater_wasm(v: &Value) -> bool {
    let named = ["/config/root_id", "/config/name", "/config/vm_config/vm_id"]
        .iter()
        .any(|p| v.pointer(p).and_then(Value::as_str) == Some("breakwater"));
    named
        || string_value(v.pointer("/config/configuration"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|c| c.get("policies").is_some())
}

/// A dynamic module filter is breakwater's when its module or filter is named so.
fn is_breakwater_module(v: &Value) -> bool {
    ["/dynamic_module_config/name", "/filter_name"]
        .iter()
        .any(|p| v.pointer(p).and_then(Value::as_str) == Some("breakwater"))
}

/// The text of a `google.protobuf.StringValue` (`{"@type": …, "value": "…"}`), or of a plain
/// string.
fn string_value(v: Option<&Value>) -> Result<String, String> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Object(m)) => match m.get("value") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err("a StringValue without a string `value`".into()),
        },
        Some(_) => Err("expected a StringValue holding breakwater's JSON".into()),
        None => Err("no configuration (a StringValue holding breakwater's JSON)".into()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The names of the clusters a bootstrap defines statically (`static_resources.clusters`).
pub(crate) fn cluster_names(doc: &Value) -> Option<Vec<String>> {
    let clusters = doc.pointer("/static_resources/clusters")?.as_array()?;
    Some(
        clusters
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_each_kind_of_home() {
        let doc = json!({"policies": []});
        assert_eq!(find(&doc)[0].place, "");
        let plugin = json!({"kind": "WasmPlugin", "spec": {"pluginConfig": {"policies": []}}});
        assert_eq!(find(&plugin)[0].text.as_deref(), Ok(r#"{"policies":[]}"#));
        let bootstrap = json!({"static_resources": {"listeners": [{"filters": [
            {"typed_config": {"@type": WASM_TYPE, "config": {"root_id": "breakwater",
                "configuration": {"@type": "x", "value": "{\"policies\":[]}"}}}},
            {"typed_config": {"@type": WASM_TYPE, "config": {"root_id": "other",
                "configuration": {"value": "{}"}}}},
            {"typed_config": {"@type": MODULE_TYPE, "filter_name": "breakwater",
                "filter_config": {"value": "{\"policies\":[1]}"}}}]}]}});
        let found = find(&bootstrap);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].place,
            "static_resources.listeners[0].filters[0].typed_config.config.configuration"
        );
        assert_eq!(found[1].text.as_deref(), Ok(r#"{"policies":[1]}"#));
    }
}
