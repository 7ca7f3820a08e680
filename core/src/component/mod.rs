//! The WebAssembly component: breakwater-core exported through the WIT package in `wit/`.
//!
//! This module holds glue only. `wit-bindgen` generates the export traits from `wit/`; the
//! types here implement them by converting WIT records to core values, calling core, and
//! converting the answer back. Every decision is core's: a policy change made here would
//! make the component and the Envoy filter disagree, and the conformance scenarios in
//! `host-tests/scenarios/` exist to catch exactly that.
//!
//! Why resources and `RefCell`: a WIT resource method receives `&self`, while core's engine and
//! state machines advance through `&mut self`. A component instance is single-threaded and
//! never re-enters a method, so a `RefCell` borrow per call can never conflict.
//!
//! Why two worlds: world `resilience` (feature `component`) gives each engine a private
//! [`crate::MemoryStore`]; world `resilience-shared` (feature `component-shared`) imports the
//! host's `store` and gives each engine that ([`store::ImportedStore`]), so every instance over
//! one host store shares its breakers and bulkheads. The exports are the same; only the store
//! behind the `engine` resource differs, chosen at build time ([`engine::EngineStore`]).
//!
//! Why a seed argument: core never reads a random source. The host either passes a seed, which
//! makes every draw reproducible (the conformance tests run the native engine and the
//! component from the same seed and compare decisions), or passes none and the component seeds
//! itself from `wasi:random` (through `getrandom`).
//!
//! Build it with
//! `cargo rustc -p breakwater-core --features component --target wasm32-wasip2 --profile
//! component-release --crate-type cdylib`: the crate stays an rlib for everyone else.
//! (`component-release` is the filter's `wasm-release` at opt-level 3: a component's cost is
//! its speed, and the size target is the filter's.)

mod breaker;
mod bulkhead;
mod convert;
mod engine;
mod parts;
#[cfg(feature = "component-shared")]
mod store;

/// The code `wit-bindgen` generates from `wit/` (world `resilience`, or `resilience-shared`
/// with feature `component-shared`).
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_imports,
    clippy::all
)]
mod bindings {
    #[cfg(not(feature = "component-shared"))]
    wit_bindgen::generate!({ path: "../wit", world: "resilience" });
    #[cfg(feature = "component-shared")]
    wit_bindgen::generate!({ path: "../wit", world: "resilience-shared" });
}

use crate::random::SplitMix64;

/// The type every export trait is implemented on.
#[derive(Debug)]
struct Component;

// The export macro defines the `extern "C"` entry points of the component ABI.
#[allow(unsafe_code)]
mod export {
    use super::Component;
    super::bindings::export!(Component with_types_in super::bindings);
}

/// The generator every resource draws from: seeded by the host, or from `wasi:random`.
fn rng(seed: Option<u64>) -> SplitMix64 {
    SplitMix64::new(seed.unwrap_or_else(|| {
        // wasi:random cannot fail on a conforming host; if it does, the host is broken and a
        // trap says so louder than a silently fixed seed would.
        getrandom::u64().expect("wasi:random get-random-u64")
    }))
}
