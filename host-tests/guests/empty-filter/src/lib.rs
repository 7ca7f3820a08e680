//! empty-filter: the baselines of the Envoy benchmarks (`make bench`, `host_tests::bench`).
//!
//! breakwater's cost in Envoy has three parts: what *any* proxy-wasm filter costs (a V8 call per
//! callback, the context objects, the ABI glue), what *any resilience filter* must add on top
//! (reading enough of the request and of the answer to act on them), and what breakwater adds
//! beyond that. This guest measures the first two, built with the same SDK, target and profile
//! as the filter:
//!
//! - configured with anything but `observe` (**empty-wasm**): an HTTP context per stream that
//!   returns `Continue` from every callback without a single host call;
//! - configured with `observe` (**floor-wasm**): per request it also reads the request's
//!   `content-type` (is it gRPC?), the clock, and the response's `:status`: three host calls,
//!   the least a filter that answers gRPC and HTTP callers differently and learns outcomes can
//!   make. In Envoy each host call costs a few µs however little it does, so this floor, not
//!   the empty filter, is what breakwater's hot path is to be compared with.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

/// The `_initialize` export lives in a private module: the SDK macro cannot carry a doc comment.
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| Box::new(super::EmptyRoot { observe: false }));
    }}
}

/// The root context: accepts any configuration, creates the streams.
#[derive(Debug)]
struct EmptyRoot {
    /// Configured with `observe`.
    observe: bool,
}

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.observe = self.get_plugin_configuration().as_deref() == Some(b"observe".as_slice());
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.observe {
            Some(Box::new(ObservingStream::default()))
        } else {
            Some(Box::new(EmptyStream))
        }
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

/// A stream that reads what any resilience filter must, and lets everything through.
#[derive(Debug, Default)]
struct ObservingStream {
    grpc: bool,
    status: Option<Vec<u8>>,
}

impl Context for ObservingStream {}

impl HttpContext for ObservingStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let content_type =
            hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "content-type");
        self.grpc = matches!(content_type, Ok(Some(v)) if v.starts_with(b"application/grpc"));
        let _ = hostcalls::get_current_time();
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.status = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten();
        Action::Continue
    }
}
