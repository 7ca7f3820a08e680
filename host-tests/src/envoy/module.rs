//! Loading breakwater as an Envoy dynamic module (`libbreakwater.so`, built by `build.rs`).
//!
//! Envoy 1.40 opens `$ENVOY_DYNAMIC_MODULES_SEARCH_PATH/lib<name>.so` for
//! `dynamic_module_config: {name: breakwater}`; [`EnvoyBuilder::dynamic_module`] points that
//! variable at the freshly built module, and `envoy/module.yaml` is the configuration (the
//! same listener, routes and clusters as `demo.yaml`, the same `{{PLUGIN_CONFIG}}`).
//!
//! ```no_run
//! use host_tests::envoy::Envoy;
//! use host_tests::upstream::UpstreamServer;
//! let upstream = UpstreamServer::start().expect("upstream");
//! let envoy = Envoy::from_template("module.yaml")
//!     .upstream_port(upstream.port())
//!     .dynamic_module()
//!     .plugin_config(r#"{"service": "s", "policies": [{"name": "api"}]}"#)
//!     .start()
//!     .expect("envoy starts");
//! ```

use std::path::PathBuf;

use super::EnvoyBuilder;
use crate::artifacts::BREAKWATER_MODULE;

/// The environment variable Envoy searches dynamic modules in.
pub const MODULE_SEARCH_PATH_ENV: &str = "ENVOY_DYNAMIC_MODULES_SEARCH_PATH";

/// The folder holding `libbreakwater.so`.
pub fn module_dir() -> PathBuf {
    BREAKWATER_MODULE
        .path()
        .parent()
        .map_or_else(PathBuf::new, PathBuf::from)
}

impl EnvoyBuilder {
    /// Makes Envoy find breakwater's dynamic module (sets [`MODULE_SEARCH_PATH_ENV`]).
    pub fn dynamic_module(self) -> Self {
        self.env(MODULE_SEARCH_PATH_ENV, module_dir().display().to_string())
    }
}
