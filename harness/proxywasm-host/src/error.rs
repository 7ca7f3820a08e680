//! The one error type of the harness.
//!
//! A guest trap must fail the test with the reason in plain sight, so every
//! guest call returns `Result<_, HostError>` and a trap carries the callback
//! that trapped, wasmtime's message (with the wasm backtrace) and the guest's
//! last critical log, which is where the proxy-wasm SDK writes panic messages.
//! Once a VM trapped it is dead, as in Envoy: later calls return
//! [`HostError::VmFailed`].

use std::fmt;

/// Why a harness call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// An artifact file is missing or unreadable.
    Artifact {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The module did not compile, link or instantiate.
    Load(String),
    /// The guest trapped (panic, unreachable, out of bounds, unimplemented host call).
    Trap {
        /// The export that was running, e.g. `proxy_on_request_headers`.
        callback: &'static str,
        /// wasmtime's error, the guest's panic message and its stderr.
        message: String,
    },
    /// The VM trapped earlier and is unusable.
    VmFailed,
    /// `proxy_on_configure` returned false.
    ConfigRejected {
        /// The worker whose VM refused the configuration.
        worker: usize,
        /// That VM's log, which should say why.
        logs: String,
    },
    /// A stream id this worker never created, or one already finished.
    UnknownStream(u32),
    /// The test asked for something Envoy would never do (e.g. an upstream
    /// response to a request the filter still holds).
    Misuse(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Artifact { path, message } => write!(f, "artifact {path}: {message}"),
            HostError::Load(message) => write!(f, "cannot load module: {message}"),
            HostError::Trap { callback, message } => {
                write!(f, "guest trapped in {callback}: {message}")
            }
            HostError::VmFailed => f.write_str("the vm trapped earlier and is dead"),
            HostError::ConfigRejected { worker, logs } => {
                write!(
                    f,
                    "worker {worker} rejected the plugin configuration; its log:\n{logs}"
                )
            }
            HostError::UnknownStream(id) => write!(f, "no live stream with context id {id}"),
            HostError::Misuse(message) => write!(f, "harness misuse: {message}"),
        }
    }
}

impl std::error::Error for HostError {}

impl From<artifacts::ArtifactError> for HostError {
    fn from(e: artifacts::ArtifactError) -> Self {
        HostError::Artifact {
            path: e.path.to_owned(),
            message: e.message,
        }
    }
}
