//! The filter's one direct host call, and the only `unsafe` in the crate: a local reply with
//! response code details.
//!
//! Everything else goes through the proxy-wasm SDK, whose `send_http_response` and
//! `send_grpc_response` pass no details. Envoy logs a local reply's details as
//! `%RESPONSE_CODE_DETAILS%`, and breakwater's are `breakwater_<reason>` (as the dynamic module
//! sends them), so an access log tells its replies from the upstream's and from Envoy's own.
//! The ABI is proxy-wasm 0.2.1's `proxy_send_local_response`, the one the SDK itself declares;
//! headers cross in the ABI's map encoding, written by [`encode_map`].

#[allow(unsafe_code)]
mod raw {
    use proxy_wasm::types::Status;

    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        /// proxy-wasm ABI 0.2.1: sends a local reply on the current stream.
        pub(super) fn proxy_send_local_response(
            status_code: u32,
            details_data: *const u8,
            details_size: usize,
            body_data: *const u8,
            body_size: usize,
            headers_data: *const u8,
            headers_size: usize,
            grpc_status: i32,
        ) -> Status;
    }
}

/// The ABI's map encoding: the pair count, then each key and value length (all `u32`,
/// little-endian), then each key and value followed by a NUL byte.
pub fn encode_map(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let size = 4 + pairs
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len() + 2)
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len(pairs.len()));
    for (k, v) in pairs {
        out.extend_from_slice(&len(k.len()));
        out.extend_from_slice(&len(v.len()));
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Sends a local reply: `status`, response code `details`, `body`, `headers`, and for gRPC the
/// `grpc_status` Envoy turns into a trailers-only answer (`-1`: not gRPC). `false` when the
/// host refused it (the stream is gone).
pub fn send_local_response(
    status: u32,
    details: &str,
    body: &[u8],
    headers: &[(&str, &[u8])],
    grpc_status: i32,
) -> bool {
    let map = encode_map(headers);
    #[allow(unsafe_code)]
    // SAFETY: every pointer and length describes a live slice borrowed for the call; the host
    // copies what it needs before returning.
    let status = unsafe {
        raw::proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            grpc_status,
        )
    };
    status == proxy_wasm::types::Status::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_encoded_as_the_abi_reads_them() {
        let map = encode_map(&[("a", b"xy"), ("bc", b"")]);
        let mut want = Vec::new();
        for n in [2u32, 1, 2, 2, 0] {
            want.extend_from_slice(&n.to_le_bytes());
        }
        want.extend_from_slice(b"a\0xy\0bc\0\0");
        assert_eq!(map, want);
    }
}
