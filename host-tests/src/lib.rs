//! host-tests: drives the real breakwater artifacts deterministically.
//!
//! The crate holds the wasmtime proxy-wasm host (`proxywasm`), the real-Envoy
//! tooling (`envoy`) and the demo upstream (`upstream`).

pub mod artifacts;
pub mod component;
pub mod proxywasm;
