//! empty-filter: the baselines of the Envoy benchmarks (`make bench`, the `loadgen` crate).
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
//!   the empty filter, is what breakwater's hot path is to be compared with;
//! - configured with `observe-retry` (**floor-retry-wasm**): the floor, plus the two router
//!   headers that hand a retry decision to Envoy (`x-envoy-max-retries: 2`, `x-envoy-retry-on`),
//!   as breakwater's retry policy adds them: what Envoy charges for honouring them.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

/// The `_initialize` export lives in a private module: the SDK macro cannot carry a doc comment.
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| Box::new(super::EmptyRoot { mode: super::Mode::Empty }));
    }}
}

/// What the streams do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Nothing.
    Empty,
    /// Read the floor.
    Observe,
    /// Read the floor and add the retry headers.
    ObserveRetry,
}

/// The root context: accepts any configuration, creates the streams.
#[derive(Debug)]
struct EmptyRoot {
    mode: Mode,
}

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.mode = match self.get_plugin_configuration().as_deref() {
            Some(b"observe") => Mode::Observe,
            Some(b"observe-retry") => Mode::ObserveRetry,
            _ => Mode::Empty,
        };
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        match self.mode {
            Mode::Empty => Some(Box::new(EmptyStream)),
            mode => Some(Box::new(ObservingStream {
                retry: mode == Mode::ObserveRetry,
                ..ObservingStream::default()
            })),
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
    retry: bool,
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
        if self.retry {
            let _ =
                hostcalls::add_map_value(MapType::HttpRequestHeaders, "x-envoy-max-retries", "2");
            let _ = hostcalls::add_map_value(
                MapType::HttpRequestHeaders,
                "x-envoy-retry-on",
                "5xx,reset,connect-failure,refused-stream",
            );
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.status = hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten();
        Action::Continue
    }
}
