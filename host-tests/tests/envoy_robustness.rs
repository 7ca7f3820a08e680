//! Input a client controls never takes the filter down in real Envoy: header values that are
//! not UTF-8 (obs-text, which Envoy passes through) and forged router headers.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

mod e2e;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::start;
use envoy_kit::client::HttpRequest;

/// Sends raw bytes as one HTTP/1.1 request and returns the status line.
fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn non_utf8_header_values_never_trap_the_vm() {
    let stack = start("injection");
    for _ in 0..4 {
        let status = raw(
            stack.addr,
            b"GET /api HTTP/1.1\r\nhost: x\r\nx-failure-inject: \xff\xfe\r\n\
              content-type: \xc3\x28\r\nidempotency-key: \x80\r\nconnection: close\r\n\r\n",
        );
        assert_eq!(
            status, "HTTP/1.1 200 OK",
            "a non-UTF-8 header broke the request"
        );
    }
    let log = stack.envoy.log_text();
    assert!(!log.contains("panicked"), "the VM panicked:\n{log}");
    assert_eq!(
        stack
            .envoy
            .stat("wasm.breakwater.vm_reload")
            .ok()
            .flatten()
            .unwrap_or(0),
        0,
        "a VM was reloaded"
    );
}

#[test]
fn clients_cannot_forge_the_router_headers_breakwater_writes() {
    let stack = start("breaker");
    stack.upstream.alternate(503, 200);
    // No retry section: breakwater grants no retries, and Envoy strips the client's own
    // x-envoy-max-retries before the filter and the router see it.
    let rsp = HttpRequest::get("/pay")
        .header("x-envoy-max-retries", "5")
        .header("x-envoy-retry-on", "5xx")
        .send(stack.addr)
        .expect("answer");
    assert_eq!(rsp.status, 503, "a client-sent retry header was honoured");
    assert_eq!(stack.upstream.total(), 1);
}
