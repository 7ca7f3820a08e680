//! breakwater-core: a sans-IO resilience engine.
//!
//! Circuit breaking, retry policy, bulkheads, timeouts and failure injection as pure state
//! machines. Nothing here reads a clock, performs I/O or calls a host: time ([`time::Nanos`]) and
//! randomness (`rand_core::RngCore`) are arguments, and state that several workers share goes
//! through the [`store::SharedStore`] compare-and-swap seam. The Envoy filter and the WebAssembly
//! component are thin adapters over this crate.
//!
//! Modules depend one way: `time`, `random`, `store`, `validate`, `request` and `outcome` at the
//! bottom; `breaker`, `bulkhead`, `injection`, `reply` and `retry` above them (`fallback` above `reply`); `preset` and
//! `config` above those; `engine` on top (and the `component` glue over it). Nothing reaches back
//! up, so each layer can be read, tested and changed knowing only the ones below it;
//! `tests/layering.rs` reads the source and fails on a module that uses a higher one.

pub mod breaker;
pub mod bulkhead;
#[cfg(feature = "component")]
mod component;
pub mod config;
pub mod engine;
pub mod fallback;
pub mod injection;
pub mod outcome;
pub mod preset;
pub mod random;
pub mod reply;
pub mod request;
pub mod retry;
pub mod store;
pub mod time;
pub mod validate;

pub use config::{Config, Policy};
pub use engine::{Action, Decision, Engine, EngineEvent, ResponseVerdict, Ticket};
pub use request::{HeaderLookup, RequestInfo, RequestNeeds};
pub use store::{MemoryStore, SharedStore};
pub use time::Nanos;
