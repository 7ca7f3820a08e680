//! YAML (and JSON, which YAML 1.2 contains) to `serde_json` values.
//!
//! Envoy bootstraps, LDS and ECDS resources and Istio manifests are YAML, often several
//! documents in one file; breakwater's own configuration is JSON. Everything is read as YAML
//! and turned into JSON values, so the rest of the command sees one kind of tree.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Every document of `text`, as JSON values; a syntax error names its line and column.
pub(crate) fn documents(text: &str) -> Result<Vec<Value>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| {
        let m = e.marker();
        format!("line {}, column {}: {}", m.line(), m.col() + 1, e.info())
    })?;
    docs.iter().map(to_json).collect()
}

fn to_json(y: &Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(text) => match y.as_f64() {
            Some(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            None => return Err(format!("not a number: {text}")),
        },
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Hash(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => return Err(format!("a map key that is not a string: {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_read_alike() {
        let y = documents("a: 1\nb: [x, 2.5, true, null]\nc: {d: \"e\"}\n").unwrap();
        let j = documents(r#"{"a": 1, "b": ["x", 2.5, true, null], "c": {"d": "e"}}"#).unwrap();
        assert_eq!(y, j);
        assert_eq!(documents("a: 1\n---\nb: 2\n").unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_name_their_place() {
        let e = documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.starts_with("line "), "{e}");
    }
}
