//! Typed reading of the configuration's JSON values, every mistake recorded with its path.
//!
//! Why by hand and not `#[derive(Deserialize)]`: the derive, monomorphised over a path-tracking
//! deserializer, was a third of the Envoy filter's bytes (about 110 KB of 384 KB) for a document
//! read once per VM. These few generic readers cost a fraction of that, and they do better for
//! the operator: every wrong field of a section is reported, not only the first. The messages keep
//! serde's wording (`unknown field `x`, expected one of ...`, `invalid type: string "x", expected
//! u32`) so they read the same as before.
//!
//! A section type implements [`FromJson`] with [`Fields`]: absent keys keep the section default,
//! unknown keys are errors, and a section with any wrong field is dropped whole (its `validate`
//! would only repeat the mistake).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::validate::{ConfigError, Problems, join, quoted};

/// A value of the configuration that can be read from JSON.
pub(crate) trait FromJson: Sized {
    /// Reads `v`; when it is wrong, records why under `path` and returns `None`.
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self>;
}

/// How serde names a JSON value it did not expect: `string "x"`, `integer `3``, `map`.
fn unexpected(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {}", quoted(s)),
        Value::Array(_) => "sequence".to_owned(),
        Value::Object(_) => "map".to_owned(),
    }
}

/// Records that `v` has the wrong type: `invalid type: <v>, expected <what>`.
pub(crate) fn wrong_type(v: &Value, what: &str, path: &str, p: &mut Problems) {
    p.at(
        path,
        format!("invalid type: {}, expected {what}", unexpected(v)),
    );
}

/// `` `a`, `b`, `c` ``: the names a value may take, for the messages.
fn one_of<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// Reads a string naming one of `table`'s variants (the enums of the configuration).
pub(crate) fn variant<T: Copy>(
    v: &Value,
    table: &[(&str, T)],
    path: &str,
    p: &mut Problems,
) -> Option<T> {
    let names = || one_of(table.iter().map(|(n, _)| *n));
    let Value::String(s) = v else {
        wrong_type(v, &format!("one of {}", names()), path, p);
        return None;
    };
    match table.iter().find(|(n, _)| n == s) {
        Some((_, t)) => Some(*t),
        None => {
            p.at(
                path,
                format!("unknown variant `{s}`, expected one of {}", names()),
            );
            None
        }
    }
}

/// Reads an unsigned integer no larger than `max`; `name` is its Rust type, for messages.
fn unsigned(v: &Value, max: u64, name: &str, path: &str, p: &mut Problems) -> Option<u64> {
    let Value::Number(n) = v else {
        wrong_type(v, name, path, p);
        return None;
    };
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) if u <= max => Some(u),
        (Some(_), _) | (None, Some(_)) => {
            p.at(
                path,
                format!("invalid value: integer `{n}`, expected {name}"),
            );
            None
        }
        (None, None) => {
            wrong_type(v, name, path, p);
            None
        }
    }
}

impl FromJson for u64 {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        unsigned(v, u64::MAX, "u64", path, p)
    }
}

impl FromJson for u32 {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        unsigned(v, u32::MAX.into(), "u32", path, p).and_then(|u| u32::try_from(u).ok())
    }
}

impl FromJson for u16 {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        unsigned(v, u16::MAX.into(), "u16", path, p).and_then(|u| u16::try_from(u).ok())
    }
}

impl FromJson for f64 {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let f = v.as_f64();
        if f.is_none() {
            wrong_type(v, "f64", path, p);
        }
        f
    }
}

impl FromJson for bool {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let b = v.as_bool();
        if b.is_none() {
            wrong_type(v, "a boolean", path, p);
        }
        b
    }
}

impl FromJson for String {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        match v {
            Value::String(s) => Some(s.clone()),
            _ => {
                wrong_type(v, "a string", path, p);
                None
            }
        }
    }
}

impl FromJson for Value {
    /// Any JSON, kept as it is (policies, read one by one later).
    fn read(v: &Value, _path: &str, _p: &mut Problems) -> Option<Self> {
        Some(v.clone())
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    /// Every wrong element is reported (`methods[2]`).
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let Value::Array(items) = v else {
            wrong_type(v, "a sequence", path, p);
            return None;
        };
        let read: Vec<Option<T>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| T::read(item, &format!("{path}[{i}]"), p))
            .collect();
        read.into_iter().collect()
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    /// Every wrong value is reported (`outcomes.http.503`).
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let Value::Object(map) = v else {
            wrong_type(v, "a map", path, p);
            return None;
        };
        // Inserted one by one: collecting into a map would link a sort into the filter.
        let mut out = Some(BTreeMap::new());
        for (k, item) in map {
            match (T::read(item, &join(path, k), p), &mut out) {
                (Some(t), Some(out)) => {
                    out.insert(k.clone(), t);
                }
                _ => out = None,
            }
        }
        out
    }
}

/// The fields of one JSON object, read one by one against the list of keys it may have
/// (`sections::fields!` writes these readers, each key spelled once).
///
/// ```ignore
/// let d = BulkheadConfig::default();
/// let mut f = Fields::new(v, path, &["max_concurrent", "queue_size"], p)?;
/// let c = BulkheadConfig { max_concurrent: f.get("max_concurrent", d.max_concurrent), .. };
/// f.done(c)
/// ```
#[derive(Debug)]
pub(crate) struct Fields<'v, 'p> {
    map: &'v Map<String, Value>,
    path: &'p str,
    p: &'p mut Problems,
    ok: bool,
}

impl<'v, 'p> Fields<'v, 'p> {
    /// `v` must be an object whose keys are all in `known`; each unknown key is a problem.
    pub(crate) fn new(
        v: &'v Value,
        path: &'p str,
        known: &[&str],
        p: &'p mut Problems,
    ) -> Option<Fields<'v, 'p>> {
        let Value::Object(map) = v else {
            wrong_type(v, "an object", path, p);
            return None;
        };
        let mut ok = true;
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            p.at(
                &join(path, key),
                format!(
                    "unknown field `{key}`, expected one of {}",
                    one_of(known.iter().copied())
                ),
            );
            ok = false;
        }
        Some(Fields { map, path, p, ok })
    }

    /// The field `key` read as a `T`; `None` when absent, `null`, or wrong (recorded).
    pub(crate) fn opt<T: FromJson>(&mut self, key: &str) -> Option<T> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => {
                let t = T::read(v, &join(self.path, key), self.p);
                self.ok &= t.is_some();
                t
            }
        }
    }

    /// The field `key` read as a `T`, or `default` when absent (or wrong, which is recorded).
    pub(crate) fn get<T: FromJson>(&mut self, key: &str, default: T) -> T {
        match self.map.get(key) {
            None => default,
            Some(v) => match T::read(v, &join(self.path, key), self.p) {
                Some(t) => t,
                None => {
                    self.ok = false;
                    default
                }
            },
        }
    }

    /// The field `key`, which must be present: `missing field` is recorded at the object.
    pub(crate) fn required<T: FromJson>(&mut self, key: &str) -> Option<T> {
        let t = match self.map.get(key) {
            None => {
                self.p.at(self.path, format!("missing field `{key}`"));
                None
            }
            Some(v) => T::read(v, &join(self.path, key), self.p),
        };
        self.ok &= t.is_some();
        t
    }

    /// The field `key` as raw JSON, for sections layered before they are read.
    pub(crate) fn raw(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// `value` when every field read well and no key was unknown, otherwise `None`.
    pub(crate) fn done<T>(self, value: T) -> Option<T> {
        self.ok.then_some(value)
    }
}

/// Reads one section from JSON text on its own (its defaults apply; the environment profiles and
/// presets of a whole document do not, they belong to a policy), then runs `validate` over it:
/// types and values, every problem with its path inside the section.
pub(crate) fn section_from_json<T: FromJson>(
    text: &str,
    validate: impl FnOnce(&mut T, &Value, &mut Problems),
) -> Result<T, ConfigError> {
    let (doc, duplicates) = super::strict::parse(text).map_err(|problem| ConfigError {
        problems: vec![problem],
    })?;
    let mut problems = Problems::new();
    for d in duplicates {
        problems.at(&d.path, d.reason);
    }
    let mut value = T::read(&doc, "", &mut problems);
    if let Some(v) = &mut value {
        validate(v, &doc, &mut problems);
    }
    problems.finish()?;
    // Reading gives `None` only after recording why.
    value.ok_or_else(|| ConfigError {
        problems: Vec::new(),
    })
}

/// Reads `text` as a `T` with no validation: the type-level checks alone (tests of the types).
#[cfg(test)]
pub(crate) fn from_str<T: FromJson>(text: &str) -> Result<T, ConfigError> {
    let doc: Value = serde_json::from_str(text).expect("test JSON is valid");
    let mut p = Problems::new();
    let t = T::read(&doc, "", &mut p);
    p.finish()?;
    Ok(t.expect("None only with a problem"))
}

#[cfg(test)]
mod tests;
