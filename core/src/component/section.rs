//! One configuration section (`breaker`, `bulkhead`, `retry`, `injection`) from JSON, for the
//! standalone resources, with the same path-and-reason errors as the whole configuration.
//!
//! Section defaults apply; the environment profiles and presets of the full document do not
//! (they are properties of a policy, and a standalone part has none).

use serde_json::Value;

use crate::config::read::FromJson;
use crate::validate::{ConfigError, Problem, Problems};

/// Parses `text` as a `T` (unknown keys are errors), then runs `validate` over it.
pub(super) fn parse<T: FromJson>(
    text: &str,
    validate: impl FnOnce(&T, &mut Problems),
) -> Result<T, ConfigError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| ConfigError {
        problems: vec![Problem {
            path: String::new(),
            reason: format!("invalid JSON: {e}"),
        }],
    })?;
    let mut problems = Problems::new();
    let value = T::read(&doc, "", &mut problems);
    if let Some(v) = &value {
        validate(v, &mut problems);
    }
    problems.finish()?;
    // Reading gives `None` only after recording why.
    value.ok_or_else(|| ConfigError {
        problems: Vec::new(),
    })
}
