//! `{{NAME}}` placeholders in Envoy YAML templates.
//!
//! Envoy configs live as real YAML files under `envoy/` (readable, usable by
//! `make demo`); tests fill in what only exists at run time: the upstream
//! port, the filter's path, the plugin configuration JSON. A placeholder left
//! without a value is an error that names it, never a silently broken config.

use std::collections::BTreeMap;

use super::EnvoyError;

/// Replaces every `{{NAME}}` (NAME: `A-Z`, `0-9`, `_`) with its value; errors
/// on placeholders that have no value, listing them all.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, EnvoyError> {
    let mut out = String::with_capacity(template.len());
    let mut missing = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if is_name(&after[..end]) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None if !missing.iter().any(|m| m == name) => missing.push(name.to_owned()),
                    None => {}
                }
                rest = &after[end + 2..];
            }
            // Not a placeholder (e.g. `{{` inside a JSON string): keep it.
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(EnvoyError::Template(format!(
            "no value for placeholder(s) {}",
            missing.join(", ")
        )))
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Quotes text as a YAML double-quoted scalar (a JSON string is one), so a
/// plugin configuration JSON can be substituted as `value: {{PLUGIN_CONFIG}}`.
pub fn yaml_quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn fills_placeholders_and_keeps_other_braces() {
        let out = render(
            "port: {{UPSTREAM_PORT}} x: '{{not a name}}' {{A}}{{A}}",
            &vars(&[("UPSTREAM_PORT", "8080"), ("A", "a")]),
        )
        .expect("all placeholders have values");
        assert_eq!(out, "port: 8080 x: '{{not a name}}' aa");
    }

    #[test]
    fn names_every_missing_placeholder() {
        let err = render("{{B}} {{A}} {{B}}", &vars(&[])).expect_err("missing values");
        assert!(err.to_string().ends_with("B, A"), "{err}");
    }

    #[test]
    fn quotes_json_for_yaml() {
        assert_eq!(yaml_quote(r#"{"a": "b"}"#), r#""{\"a\": \"b\"}""#);
    }
}
