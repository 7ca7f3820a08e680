//! empty-filter: the baseline of the Envoy benchmarks (`make bench`, `host_tests::bench`).
//!
//! breakwater's cost in Envoy has two parts: what *any* proxy-wasm filter costs (a V8 call per
//! callback, the context objects, the ABI glue) and what breakwater adds on top. This guest is
//! the first part alone: an HTTP context per stream that returns `Continue` from every callback
//! without a single host call, built with the same SDK, target and profile as the filter. The
//! benchmark's "≤ 1.10× the empty filter" target is measured against it.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

/// The `_initialize` export lives in a private module: the SDK macro cannot carry a doc comment.
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| Box::new(super::EmptyRoot));
    }}
}

/// The root context: accepts any configuration, creates pass-through streams.
#[derive(Debug)]
struct EmptyRoot;

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EmptyStream))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// A stream that lets everything through (the SDK's default callbacks all `Continue`).
#[derive(Debug)]
struct EmptyStream;

impl Context for EmptyStream {}

impl HttpContext for EmptyStream {}
