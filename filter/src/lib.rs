//! breakwater-filter: the breakwater engine inside Envoy, as a proxy-wasm HTTP filter.
//!
//! Envoy runs one wasm VM per worker thread. Each VM holds one [`worker::Worker`]: a
//! `breakwater_core::Engine` over Envoy's shared data ([`store::HostStore`]), the table of
//! requests it paused, and the metrics it exports. The filter itself only translates:
//!
//! - [`root`] parses the configuration in `on_configure` (a bad one is refused with every
//!   problem logged by its JSON path, so Envoy rejects the config instead of running without
//!   protection), creates the shared-data keys, and drives time: `on_tick` hands the clock to the
//!   engine, resumes or answers paused requests, logs breaker transitions and flushes metrics.
//! - [`stream`] turns request headers (read by [`request`], as few host calls as the
//!   configuration allows) into a core `RequestInfo`, the engine's decision into an
//!   Envoy action (continue with router retry headers, pause, or a local reply), and the response
//!   into a core `Outcome`, reported once when the stream ends (`on_log`, with `on_done` as the
//!   safety net), so every permit and probe lease is returned on every path.
//!
//! - [`clock`] reads Envoy's clock and picks the tick period, for the root (ticks) and the worker
//!   (request ends) alike. Modules depend one way: `root` and `stream` use `worker`, which uses
//!   `clock`, `metrics`, `request`, `send` and `store`; nothing reaches back up.
//!
//! Policy lives in core; a callback here that grows an `if` about resilience is a bug.

pub mod clock;
pub mod ffi;
pub mod metrics;
pub mod request;
pub mod root;
pub mod send;
pub mod store;
pub mod stream;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod worker;

/// The `_initialize` export; in a private module because the SDK macro cannot carry docs.
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
        #[cfg(not(feature = "test-hooks"))]
        proxy_wasm::set_root_context(|_| Box::new(crate::root::Root::default()));
        // Test builds only (see `test_hooks`): the same root, whose streams can be told to panic.
        #[cfg(feature = "test-hooks")]
        proxy_wasm::set_root_context(|_| {
            Box::new(crate::test_hooks::Hooked(crate::root::Root::default()))
        });
    }}
}
