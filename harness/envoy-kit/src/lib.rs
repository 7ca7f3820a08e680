//! envoy-kit: real Envoy for the tests and the tools, without wasmtime.
//!
//! - [`envoy`]: find the binary, render a configuration template, start Envoy, query its admin
//!   API, stop it (every process a test starts is stopped when its handle drops);
//! - [`upstream`]: a test upstream whose answers (status, latency, gRPC status) switch at run
//!   time and which counts what it saw;
//! - [`client`]: real HTTP/1.1 and gRPC clients (hyper), for one request or a concurrent burst;
//! - [`poll`]: bounded polling, the only way a real-Envoy test waits.
//!
//! The demo and the load generator depend on this crate and not on the wasmtime harness, so
//! `make demo` compiles no wasmtime.

pub mod client;
pub mod envoy;
pub mod poll;
pub mod upstream;
