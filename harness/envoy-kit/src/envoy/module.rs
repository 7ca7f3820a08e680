//! Loading breakwater as an Envoy dynamic module (`libbreakwater.so`, built by the `artifacts`
//! crate as `artifacts::BREAKWATER_MODULE`).
//!
//! Envoy 1.40 opens `$ENVOY_DYNAMIC_MODULES_SEARCH_PATH/lib<name>.so` for
//! `dynamic_module_config: {name: breakwater}`; [`EnvoyBuilder::dynamic_module`] points that
//! variable at the folder of the module, and `envoy/module.yaml` is the configuration (the
//! same listener, routes and clusters as `demo.yaml`, the same `{{PLUGIN_CONFIG}}`).
//!
//! ```no_run
//! use envoy_kit::envoy::Envoy;
//! use envoy_kit::upstream::UpstreamServer;
//! # let module = std::path::Path::new("target/guests/module/libbreakwater.so");
//! let upstream = UpstreamServer::start().expect("upstream");
//! let envoy = Envoy::from_template("module.yaml")
//!     .upstream_port(upstream.port())
//!     .dynamic_module(module)
//!     .plugin_config(r#"{"service": "s", "policies": [{"name": "api"}]}"#)
//!     .start()
//!     .expect("envoy starts");
//! ```

use std::path::Path;

use super::EnvoyBuilder;

/// The environment variable Envoy searches dynamic modules in.
pub const MODULE_SEARCH_PATH_ENV: &str = "ENVOY_DYNAMIC_MODULES_SEARCH_PATH";

impl EnvoyBuilder {
    /// Makes Envoy find the dynamic module at `so` (`…/libbreakwater.so`): sets
    /// [`MODULE_SEARCH_PATH_ENV`] to its folder.
    pub fn dynamic_module(self, so: &Path) -> Self {
        let dir = so.parent().unwrap_or_else(|| Path::new("."));
        self.env(MODULE_SEARCH_PATH_ENV, dir.display().to_string())
    }
}
