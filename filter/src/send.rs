//! Sending a core [`LocalReply`] through Envoy.
//!
//! HTTP replies go out as they are (status, headers, JSON body). For gRPC, Envoy builds the
//! trailers-only answer itself from the status and message given to `proxy_send_local_response`,
//! so those two are passed separately and the reply's own `grpc-status`, `grpc-message` and
//! `content-type` headers are left out (they would be duplicated).

use breakwater_core::reply::LocalReply;

use crate::ffi;
use proxy_wasm::types::GrpcStatusCode;

/// Headers Envoy writes itself for a gRPC local reply.
const GRPC_OWN: &[&str] = &["content-type", "grpc-status", "grpc-message"];

/// Sends `reply` on the current (effective) stream, with `breakwater_<reason>` as its response
/// code details ([`LocalReply::response_code_details`]).
pub fn local_reply(reply: &LocalReply) {
    let details = reply.response_code_details();
    match reply.grpc_status {
        Some(code) => {
            let metadata: Vec<(&str, &[u8])> = reply
                .headers
                .iter()
                .filter(|(k, _)| !GRPC_OWN.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            let message = reply.grpc_message.as_deref().unwrap_or_default();
            ffi::send_local_response(
                200,
                &details,
                message.as_bytes(),
                &metadata,
                grpc_code(code) as i32,
            );
        }
        None => {
            let headers: Vec<(&str, &[u8])> = reply
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect();
            ffi::send_local_response(
                u32::from(reply.http_status),
                &details,
                &reply.body,
                &headers,
                -1,
            );
        }
    }
}

/// The SDK's enum for a gRPC code (out of range: `Unavailable`).
fn grpc_code(code: u32) -> GrpcStatusCode {
    use GrpcStatusCode::*;
    match code {
        0 => Ok,
        1 => Cancelled,
        2 => Unknown,
        3 => InvalidArgument,
        4 => DeadlineExceeded,
        5 => NotFound,
        6 => AlreadyExists,
        7 => PermissionDenied,
        8 => ResourceExhausted,
        9 => FailedPrecondition,
        10 => Aborted,
        11 => OutOfRange,
        12 => Unimplemented,
        13 => Internal,
        15 => DataLoss,
        16 => Unauthenticated,
        _ => Unavailable,
    }
}
