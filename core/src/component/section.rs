//! One configuration section (`breaker`, `bulkhead`, `retry`, `injection`) from JSON, for the
//! standalone resources, with the same path-and-reason errors as the whole configuration.
//!
//! Section defaults apply; the environment profiles and presets of the full document do not
//! (they are properties of a policy, and a standalone part has none).

use serde::de::DeserializeOwned;

use crate::validate::{ConfigError, Problem, Problems};

/// Parses `text` as a `T` (unknown keys are errors), then runs `validate` over it.
pub(super) fn parse<T: DeserializeOwned>(
    text: &str,
    validate: impl FnOnce(&T, &mut Problems),
) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            return Err(one(path, e.into_inner().to_string()));
        }
    };
    // Trailing characters after the value.
    de.end()
        .map_err(|e| one(String::new(), format!("invalid JSON: {e}")))?;
    let mut problems = Problems::new();
    validate(&value, &mut problems);
    problems.finish().map(|()| value)
}

fn one(path: String, reason: String) -> ConfigError {
    ConfigError {
        problems: vec![Problem { path, reason }],
    }
}
