//! breakwater-module: the breakwater engine inside Envoy as a native dynamic module
//! (`libbreakwater.so`, Envoy 1.40).
//!
//! The third adapter over `breakwater-core`, beside the proxy-wasm filter and the WebAssembly
//! component, and like them it only translates: request headers into a core `RequestInfo`,
//! the engine's decision into a continue, a pause or a local reply, the response into a core
//! `Outcome`. Policy lives in core; a `match` on a policy here is a bug.
//!
//! What a native module changes is where state lives. Envoy loads the `.so` once per process,
//! so every worker shares one address space, and breakwater keeps **one engine per filter
//! configuration behind a mutex** (`config`): the breaker opens after exactly
//! `failure_threshold` failures whichever workers saw them, and the retry budget, the bulkhead
//! and `injection.max_active` are shared by all workers, on every request, with no staleness
//! window. (The proxy-wasm filter cannot do that: its VMs share only Envoy's shared data, which
//! costs a process-wide lock and a copy per access, so it caches and syncs.)
//!
//! - [`abi`] is the Envoy 1.40 ABI: the only `unsafe` code, the exported hooks (each inside
//!   `catch_unwind`), and small safe handle types.
//! - `config` parses the JSON (the same document as the filter's), defines the labelled
//!   metrics, owns the engine and the held table, and reports metrics and logs on Envoy's main
//!   thread.
//! - `stream` is one HTTP stream; `held` the requests breakwater holds (queued or delayed)
//!   and how they are woken through the module scheduler; `timer` the thread that hands the
//!   clock to the engine at its `poll_timeout`.

pub mod abi;
mod clock;
mod config;
mod failures;
mod held;
mod metrics;
mod store;
mod stream;
mod timer;
