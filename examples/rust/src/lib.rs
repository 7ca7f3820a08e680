//! The Rust embedding guide: breakwater's component in wasmtime, guarding real async HTTP
//! calls (tokio and hyper-util's client) to a local upstream. README.md beside this crate
//! walks through it; `cargo run -p embed-example` runs it.
//!
//! Why the component and not `breakwater-core` as a crate? A Rust program can link the engine
//! natively, but the component is the artifact every language embeds (the Python and
//! JavaScript guides load the very same file), it is isolated from the host's memory, and it
//! can be replaced without rebuilding the host. The driving loop is the same either way.
//!
//! - [`component`]: load the component once, build an engine per instance, call it.
//! - [`clock`]: real time (`Instant`) as the engine's nanoseconds, and back.
//! - [`guard`]: the engine wrapped around an HTTP client: decisions acted on, outcomes
//!   reported, held requests woken by a driver task.
//! - [`upstream`]: a local upstream that fails, or slows down, on demand.
//! - [`scenario`]: the story (breaker opens, rejects, recovers; bulkhead caps; a delay waits)
//!   and the [`scenario::Report`] the tests check.

pub mod clock;
pub mod component;
pub mod guard;
pub mod scenario;
pub mod upstream;

use std::path::PathBuf;

/// The component to load: `$BREAKWATER_COMPONENT`, else the one this workspace builds
/// (`artifacts::BREAKWATER_COMPONENT`).
pub fn component_path() -> PathBuf {
    std::env::var_os("BREAKWATER_COMPONENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| artifacts::BREAKWATER_COMPONENT.path().to_path_buf())
}
