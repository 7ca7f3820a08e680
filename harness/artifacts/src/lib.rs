//! artifacts: the wasm files the harness drives, built from this workspace's sources, as
//! constants.
//!
//! `build.rs` builds them with a nested cargo (see its docs), so `cargo test` never runs against
//! a stale copy. Every consumer (the proxy-wasm host, the component host, real-Envoy tests, the
//! demo, the load generator) names an artifact here; none compiles wasmtime because of this
//! crate.
//!
//! Tests name an artifact (`artifacts::ABI_PROBE`) instead of a path so a
//! renamed package breaks the build, not a test at run time. A file that is
//! missing when a test runs is an error (`HostError::Artifact`), never a skip:
//! a harness that silently skips tests proves nothing.

use std::path::Path;

/// One wasm file built by `build.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Artifact {
    package: &'static str,
    target: &'static str,
    path: &'static str,
}

impl Artifact {
    /// The cargo package it was built from.
    pub fn package(&self) -> &'static str {
        self.package
    }

    /// The target triple it was built for.
    pub fn target(&self) -> &'static str {
        self.target
    }

    /// Where the `.wasm` file is.
    pub fn path(&self) -> &'static Path {
        Path::new(self.path)
    }

    /// The file's bytes; a missing file is an error that says how to rebuild it.
    pub fn read(&self) -> Result<Vec<u8>, ArtifactError> {
        std::fs::read(self.path).map_err(|e| ArtifactError {
            path: self.path,
            message: format!("{e} (rebuild with `cargo build -p artifacts`)"),
        })
    }
}

/// An artifact file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactError {
    /// The file.
    pub path: &'static str,
    /// What went wrong, and how to rebuild it.
    pub message: String,
}

impl std::fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "artifact {}: {}", self.path, self.message)
    }
}

impl std::error::Error for ArtifactError {}

impl ArtifactError {}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
