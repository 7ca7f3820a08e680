//! Real clients for the real-Envoy tests: HTTP/1.1 and gRPC unary over h2c.
//!
//! Envoy tests need to see what a real client sees: the status line, the
//! headers Envoy added, and, for gRPC, whether the status came in trailers or
//! in a trailers-only response (breakwater answers gRPC rejections
//! trailers-only; a real upstream answers in trailers). Both clients open one
//! fresh connection per request so concurrent requests are really concurrent
//! (bulkhead tests) and no pooled connection hides a reset; [`HttpConnection`] is
//! the exception, for tests about connections that stay open.
//!
//! Every call has a timeout (default [`DEFAULT_TIMEOUT`]). The blocking forms
//! (`send`) run on a small shared tokio runtime and work from plain `#[test]`
//! functions and from inside async code alike; the `send_async` forms are for
//! tests that drive many requests at once themselves.

mod connection;
mod error;
mod grpc;
mod http1;
mod runtime;

pub use connection::HttpConnection;
pub use error::ClientError;
pub use grpc::{GrpcRequest, GrpcResponse, grpc_frame, grpc_unframe};
pub use http1::{HttpRequest, HttpResponse, get, send_all};
pub use runtime::block_on;

use std::time::Duration;

/// The timeout of a request that does not set its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Finds a header by (case-insensitive) name in a list of lowercase pairs.
pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Turns a hyper header map into lowercase `(name, value)` pairs; values that
/// are not UTF-8 are kept lossily.
pub(crate) fn header_pairs(map: &hyper::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
