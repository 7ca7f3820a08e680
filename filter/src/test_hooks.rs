//! Test-only hooks, compiled in only with the cargo feature `test-hooks` (off by default; the
//! shipped filter never contains this module).
//!
//! The reliability tests need to kill a worker's VM in the middle of traffic, to prove that
//! what the dead VM held in shared data (bulkhead permits, probe leases) does not stay held.
//! The production filter has no way to panic on request, and must not get one. So the
//! host-tests build script builds a second artifact with this feature: the same filter,
//! wrapped so that a request carrying [`PANIC_HEADER`] panics in `on_http_request_headers`
//! before the engine sees it (with `failure_policy: FAIL_RELOAD` Envoy then replaces the VM).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

/// The request header that makes the VM panic (any value).
pub const PANIC_HEADER: &str = "x-breakwater-test-panic";

/// A root context whose HTTP streams honour [`PANIC_HEADER`]; everything else is `R`'s.
#[derive(Debug)]
pub struct Hooked<R>(pub R);

impl<R: RootContext> Context for Hooked<R> {
    fn on_done(&mut self) -> bool {
        self.0.on_done()
    }
}

impl<R: RootContext> RootContext for Hooked<R> {
    fn on_vm_start(&mut self, size: usize) -> bool {
        self.0.on_vm_start(size)
    }

    fn on_configure(&mut self, size: usize) -> bool {
        self.0.on_configure(size)
    }

    fn on_tick(&mut self) {
        self.0.on_tick();
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        self.0
            .create_http_context(context_id)
            .map(|inner| Box::new(PanicOnHeader(inner)) as Box<dyn HttpContext>)
    }

    fn get_type(&self) -> Option<ContextType> {
        self.0.get_type()
    }
}

/// An HTTP stream that panics on [`PANIC_HEADER`] and otherwise is the wrapped one.
struct PanicOnHeader(Box<dyn HttpContext>);

impl Context for PanicOnHeader {
    fn on_done(&mut self) -> bool {
        self.0.on_done()
    }
}

impl HttpContext for PanicOnHeader {
    fn on_http_request_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        if let Ok(Some(_)) =
            hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, PANIC_HEADER)
        {
            panic!("breakwater test hook: {PANIC_HEADER} (feature test-hooks)");
        }
        self.0.on_http_request_headers(num_headers, end_of_stream)
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.0.on_http_request_body(size, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, num_trailers: usize) -> Action {
        self.0.on_http_request_trailers(num_trailers)
    }

    fn on_http_response_headers(&mut self, num_headers: usize, end_of_stream: bool) -> Action {
        self.0.on_http_response_headers(num_headers, end_of_stream)
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        self.0.on_http_response_body(size, end_of_stream)
    }

    fn on_http_response_trailers(&mut self, num_trailers: usize) -> Action {
        self.0.on_http_response_trailers(num_trailers)
    }

    fn on_log(&mut self) {
        self.0.on_log();
    }
}
