//! The committed JSON Schema (`envoy/breakwater.schema.json`) is the one the Rust types generate.
//! Regenerate after a config change with `BREAKWATER_BLESS=1 cargo test -p host-tests --test
//! config_schema`.

use std::path::PathBuf;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../envoy/breakwater.schema.json")
}

#[test]
fn committed_schema_is_current() {
    let generated = breakwater_core::config::json_schema();
    let path = schema_path();
    if std::env::var_os("BREAKWATER_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with BREAKWATER_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        committed == generated,
        "{} is stale: run `BREAKWATER_BLESS=1 cargo test -p host-tests --test config_schema`",
        path.display()
    );
}

#[test]
fn schema_knows_every_section_and_refuses_unknown_keys() {
    let schema: serde_json::Value =
        serde_json::from_str(&breakwater_core::config::json_schema()).expect("schema is JSON");
    let text = schema.to_string();
    for key in [
        "failure_rate_threshold",
        "max_concurrent",
        "abort_rate",
        "budget_percent",
        "path_prefix",
        "object_storage",
    ] {
        assert!(text.contains(key), "schema lacks {key}");
    }
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["policies"]));
}

/// The parser's key lists are written by hand (`core/src/config/sections.rs`); the schema comes
/// from the Rust types. Each object must allow exactly the same keys in both, so a field added
/// to a type but not read, or a key spelt differently, fails here.
#[test]
fn the_parser_and_the_schema_allow_the_same_keys() {
    let schema: serde_json::Value =
        serde_json::from_str(&breakwater_core::config::json_schema()).expect("schema is JSON");
    for (name, keys) in breakwater_core::config::section_keys() {
        let object = if name == "Document" {
            &schema
        } else {
            &schema["$defs"][name]
        };
        assert_eq!(
            object["additionalProperties"], false,
            "{name} must refuse unknown keys"
        );
        let mut in_schema: Vec<&str> = object["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no properties in the schema"))
            .keys()
            .map(String::as_str)
            .collect();
        let mut in_parser = keys.to_vec();
        in_schema.sort_unstable();
        in_parser.sort_unstable();
        assert_eq!(in_parser, in_schema, "{name}: parser keys vs schema keys");
    }
}
