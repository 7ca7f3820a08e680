//! JSON text to a [`Value`], with the two mistakes `serde_json::from_str` lets through or
//! reports without a place: a key written twice in one object, and a value that is not a valid
//! JSON value for this document (a number out of range, `1e400`).
//!
//! serde_json keeps the last of two equal keys without a word, so `{"failure_threshold": 5,
//! "failure_threshold": 50}` silently means 50; and its errors say a line and a column, not
//! which setting was wrong. Reading the document through a visitor that knows the JSON path it
//! is at fixes both: a duplicate is a problem at its path (reading goes on, so every problem is
//! reported at once), and a parse error is reported at the path of the value that failed.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::validate::{Problem, join};

/// What went wrong while reading, shared by every node of one document.
#[derive(Default)]
struct Log {
    /// Keys written twice, at their paths.
    duplicates: Vec<Problem>,
    /// The deepest path where parsing failed (set once, by the innermost failing value).
    failed_at: Option<String>,
}

/// Parses `text` as JSON. `Ok` carries the document (the last of duplicate keys kept) and the
/// duplicate keys found, each a problem at its path; `Err` is the one problem that stopped
/// parsing, at the path of the value being read when it failed (empty at the top level).
pub(crate) fn parse(text: &str) -> Result<(Value, Vec<Problem>), Problem> {
    let log = RefCell::new(Log::default());
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Node {
        path: "",
        log: &log,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    let log = log.into_inner();
    match result {
        Ok(doc) => Ok((doc, log.duplicates)),
        Err(e) => Err(Problem {
            path: log.failed_at.unwrap_or_default(),
            reason: format!("invalid JSON: {e}"),
        }),
    }
}

/// One value being read, at `path`.
#[derive(Clone, Copy)]
struct Node<'a> {
    path: &'a str,
    log: &'a RefCell<Log>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    /// Reads the value; when that fails, and no value inside it failed first, this value's path
    /// is where. (An error met before a value starts, such as the end of the text where an
    /// element was expected, is left to the container: no value was there to name.)
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self).inspect_err(|_| {
            let mut log = self.log.borrow_mut();
            if log.failed_at.is_none() {
                log.failed_at = Some(self.path.to_owned());
            }
        })
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        // serde_json refuses non-finite numbers before this; `from` maps them to null anyway.
        Ok(Value::from(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            let node = Node {
                path: &path,
                log: self.log,
            };
            match seq.next_element_seed(node) {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => return Err(e),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        loop {
            let key: String = match map.next_key() {
                Ok(Some(k)) => k,
                Ok(None) => return Ok(Value::Object(object)),
                Err(e) => return Err(e),
            };
            let path = join(self.path, &key);
            let node = Node {
                path: &path,
                log: self.log,
            };
            let value = map.next_value_seed(node)?;
            if object.insert(key.clone(), value).is_some() {
                self.log.borrow_mut().duplicates.push(Problem {
                    path,
                    reason: format!("duplicate key `{key}`: a key may appear once per object"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        parse(text).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 2.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        let (doc, dups) = parse(text).unwrap();
        assert_eq!(doc, serde_json::from_str::<Value>(text).unwrap());
        assert!(dups.is_empty());
    }

    #[test]
    fn duplicate_keys_are_problems_at_their_path() {
        let (doc, dups) = parse(
            r#"{"policies": [{"name": "a", "breaker": {"failure_threshold": 5,
                "failure_threshold": 50}}], "service": "x", "service": "y"}"#,
        )
        .unwrap();
        let dups: Vec<String> = dups.iter().map(ToString::to_string).collect();
        assert_eq!(
            dups,
            [
                "policies[0].breaker.failure_threshold: duplicate key `failure_threshold`: a key may appear once per object",
                "service: duplicate key `service`: a key may appear once per object",
            ]
        );
        assert_eq!(doc["service"], "y", "reading goes on with the last value");
    }

    #[test]
    fn a_number_out_of_range_is_named_by_its_path() {
        let p = problem(r#"{"policies": [{"breaker": {"failure_rate_threshold": 1e400}}]}"#);
        assert!(
            p.starts_with(
                "policies[0].breaker.failure_rate_threshold: invalid JSON: number out of range"
            ),
            "{p}"
        );
        assert!(problem("[1, 2, 1e999]").starts_with("[2]: invalid JSON: number out of range"));
    }

    #[test]
    fn syntax_errors_keep_their_line_and_column() {
        let p = problem("{\"a\": 1,\n \"b\": }");
        assert!(
            p.starts_with("b: invalid JSON: expected value at line 2"),
            "{p}"
        );
        assert!(
            problem("").starts_with("invalid JSON: EOF"),
            "{}",
            problem("")
        );
        assert!(problem("{} x").starts_with("invalid JSON: trailing characters"));
    }
}
