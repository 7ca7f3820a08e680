//! host-tests: drives the real breakwater artifacts deterministically.
//!
//! The crate holds the wasmtime proxy-wasm host (`proxywasm`), the real-Envoy
//! tooling (`envoy`: start, query and stop a real Envoy), the test upstream
//! (`upstream`), real HTTP/1.1 and gRPC clients (`client`) and bounded polling
//! (`poll`).

pub mod artifacts;
pub mod bench;
pub mod client;
pub mod component;
pub mod demo;
pub mod envoy;
pub mod poll;
pub mod proxywasm;
pub mod upstream;
