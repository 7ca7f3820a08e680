//! host-tests: every test of breakwater, in one command (`cargo test -p host-tests`).
//!
//! This crate holds tests and nothing they run on: the parts live in crates named for what
//! they are, so each can only reach what its manifest names.
//!
//! | crate | what | may depend on |
//! |---|---|---|
//! | `artifacts` (harness/artifacts) | the wasm files, built from this workspace by its build.rs | std |
//! | `proxywasm-host` (harness/proxywasm-host) | the proxy-wasm ABI host on wasmtime | artifacts, wasmtime |
//! | `component-host` (harness/component-host) | the component's bindings on wasmtime, both worlds | artifacts, breakwater-core, wasmtime |
//! | `fleet-store` (harness/fleet-store) | the Redis host store, a redis-server for tests | breakwater-core, redis |
//! | `fleet` (harness/fleet) | worker processes of the fleet tests, the store-call count | component-host, fleet-store |
//! | `conformance` (harness/conformance) | one scenario format, every adapter | breakwater-core, component-host |
//! | `envoy-kit` (harness/envoy-kit) | real Envoy, the test upstream, clients, polling | tokio, hyper |
//! | `demo` (tools/demo) | `make demo` | artifacts, envoy-kit |
//! | `loadgen` (tools/loadgen) | `make bench` | artifacts, envoy-kit |
//!
//! The tests themselves are in `tests/`, one file per area, named by what they drive:
//! `abi_*` the proxy-wasm host itself, `filter_*` the filter in that host, `component_*` the
//! component, `store_redis` and `fleet_redis` the host stores and a fleet of processes over Redis, `conformance` every adapter against the scenarios, `envoy_*`, `faults`, `soak`,
//! `demo` and `invalid_configs` real Envoy.
