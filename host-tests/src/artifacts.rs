//! The wasm artifacts `build.rs` built, as constants.
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
    pub fn read(&self) -> Result<Vec<u8>, crate::proxywasm::HostError> {
        std::fs::read(self.path).map_err(|e| crate::proxywasm::HostError::Artifact {
            path: self.path.into(),
            message: format!("{e} (rebuild with `cargo build -p host-tests`)"),
        })
    }
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
