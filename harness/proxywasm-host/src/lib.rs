//! A proxy-wasm ABI host on wasmtime, to run real filters deterministically.
//!
//! Envoy runs one VM per worker thread; the VMs share only shared data,
//! stats and the clock. The harness mirrors that split: a [`World`] holds the
//! shared part (with a scripted clock and CAS-failure injection), each
//! [`Worker`] is one VM instance over it, and [`Envoy`] bundles a world with N
//! workers behind a fluent scenario API. No real time, threads or sockets are
//! involved, so every run is the same run.
//!
//! The host implements the ABI 0.2.1 calls the Rust SDK 0.2.5 makes, one file
//! per area: `memory` (buffers in and out of the guest), `header_maps`,
//! `properties`, `shared_data`, `streams` (continue, local replies, effective
//! context, bodies), `timers` (clock, tick), `metrics`, `logs`. Calls it does
//! not model (HTTP/gRPC callouts, queues, foreign functions) trap by name
//! (`engine`). `http` drives streams in Envoy's order; `scenario` and
//! `expect` are the fluent layer.

mod abi;
mod engine;
mod error;
mod expect;
mod header_maps;
mod http;
mod logs;
mod memory;
mod metrics;
mod properties;
mod scenario;
mod shared_data;
mod state;
mod streams;
mod timers;
mod worker;
mod world;

pub use error::HostError;
pub use expect::ReplyCheck;
pub use scenario::{Envoy, Exchange, RequestBuilder, WorkerRef};
pub use state::{Action, Headers, LocalReply, LogLevel, LogRecord, Stream};
pub use worker::{StreamId, Worker};
pub use world::{MetricKind, World};
