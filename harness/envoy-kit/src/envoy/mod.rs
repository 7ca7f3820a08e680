//! Real Envoy for end-to-end tests: find it, start it from a YAML template,
//! read its admin interface, feed it filesystem xDS, stop it.
//!
//! The wasmtime harness (`proxywasm`) proves the filter against our model of
//! the proxy-wasm ABI; only a real Envoy proves the model and the filter
//! against Envoy itself (V8, one VM per worker, real retries and timeouts).
//! These tests must be as dependable as unit tests, so:
//!
//! - a missing Envoy is an error that says to run `make envoy-install`, never a skip;
//! - nothing is left to chance: ports come from Envoy (port 0, then
//!   `--admin-address-path` and `/listeners`), readiness is bounded polling of
//!   `/ready`, every failure carries the Envoy log tail;
//! - each instance is isolated (own temp dir, `--disable-hot-restart`, so no
//!   shared memory or domain socket to clash on) and always stopped: `Drop`
//!   sends SIGTERM, then SIGKILL, and reaps the process.
//!
//! ```no_run
//! use envoy_kit::client::{GrpcRequest, HttpRequest};
//! use envoy_kit::envoy::Envoy;
//! use envoy_kit::upstream::UpstreamServer;
//!
//! let upstream = UpstreamServer::start().expect("upstream");
//! let envoy = Envoy::from_template("smoke.yaml") // <workspace>/envoy/smoke.yaml
//!     .upstream_port(upstream.port())            // {{UPSTREAM_PORT}}
//!     .start()
//!     .expect("envoy starts");
//! let main = envoy.listener("main").expect("listener");
//! assert_eq!(HttpRequest::get("/hello").send(main).expect("http").status, 200);
//! let rsp = GrpcRequest::new("/demo.Echo/Say").send(main).expect("grpc");
//! assert_eq!(rsp.grpc_status, Some(0));
//! assert!(envoy.counter("cluster.backend.upstream_rq_total").expect("stat") >= 1);
//! ```

mod admin;
mod binary;
mod error;
mod module;
mod process;
mod template;
mod xds;

pub use admin::{ADMIN_TIMEOUT, PromSample, parse_prometheus};
pub use binary::{
    ENVOY_ENV, VALIDATE_TIMEOUT, config_dir, envoy_binary, validate, validate_with_env,
    workspace_dir,
};
pub use error::EnvoyError;
pub use module::MODULE_SEARCH_PATH_ENV;
pub use process::{
    Envoy, EnvoyBuilder, KEEP_DIR_ENV, READY_STEP, READY_TIMEOUT, STATS_TAGS_FILE, STATS_TAGS_VAR,
    STOP_TIMEOUT,
};
pub use template::{render, yaml_quote};
pub use xds::{EcdsStatus, XdsFile};
