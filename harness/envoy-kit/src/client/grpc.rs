//! The gRPC unary client over HTTP/2 cleartext (prior knowledge).
//!
//! gRPC on the wire is HTTP/2 with `content-type: application/grpc`, each
//! message framed as 1 flag byte + 4-byte big-endian length + bytes, and the
//! status in `grpc-status`/`grpc-message` trailers, or in the response headers
//! of a "trailers-only" response. The payload is raw bytes: no protobuf is
//! needed to test status handling, and the test upstream echoes JSON.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::runtime::block_on;
use super::{ClientError, DEFAULT_TIMEOUT, find_header, header_pairs};

/// A unary gRPC call: a method path like `/pkg.Service/Method` and one message.
///
/// ```no_run
/// # use envoy_kit::client::GrpcRequest;
/// # let addr: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
/// let rsp = GrpcRequest::new("/demo.Echo/Say").message("hi").send(addr).unwrap();
/// assert_eq!(rsp.grpc_status, Some(0));
/// ```
#[derive(Debug, Clone)]
pub struct GrpcRequest {
    path: String,
    message: Bytes,
    metadata: Vec<(String, String)>,
    timeout: Duration,
}

/// What came back from a gRPC call.
#[derive(Debug, Clone)]
pub struct GrpcResponse {
    /// The HTTP status (200 for every proper gRPC answer).
    pub http_status: u16,
    /// `grpc-status` from the trailers, or from the headers if trailers-only;
    /// `None` if neither had one (a malformed or non-gRPC answer).
    pub grpc_status: Option<u32>,
    /// `grpc-message`, percent-decoded.
    pub grpc_message: Option<String>,
    /// The status came in the response headers with no body and no trailers.
    pub trailers_only: bool,
    /// Response headers, lowercase pairs.
    pub headers: Vec<(String, String)>,
    /// Response trailers, lowercase pairs (empty when trailers-only).
    pub trailers: Vec<(String, String)>,
    /// The response messages, unframed.
    pub messages: Vec<Bytes>,
    /// From starting to connect until the trailers were read.
    pub elapsed: Duration,
}

impl GrpcResponse {
    /// The first value of a response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The first value of a trailer.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        find_header(&self.trailers, name)
    }

    /// The first message as text (lossy), or "" if there was none.
    pub fn message_text(&self) -> String {
        self.messages
            .first()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_default()
    }
}

impl GrpcRequest {
    /// A call to `path` (`/package.Service/Method`) with an empty message.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: Bytes::new(),
            metadata: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the request message (raw bytes, framed by the client).
    pub fn message(mut self, message: impl Into<Bytes>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a metadata entry (a request header), e.g. `x-upstream-grpc-status`.
    pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((name.into(), value.into()));
        self
    }

    /// Sets the timeout for the whole call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes the call and blocks until the status is known.
    pub fn send(&self, addr: SocketAddr) -> Result<GrpcResponse, ClientError> {
        block_on(self.send_async(addr))
    }

    /// Makes the call from async code.
    pub async fn send_async(&self, addr: SocketAddr) -> Result<GrpcResponse, ClientError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(addr))
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)))
    }

    async fn exchange(&self, addr: SocketAddr) -> Result<GrpcResponse, ClientError> {
        let start = Instant::now();
        let mut builder = hyper::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}{}", self.path))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (k, v) in &self.metadata {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(grpc_frame(&self.message)))
            .map_err(ClientError::request)?;

        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(ClientError::protocol)?;
        tokio::spawn(conn);

        let response = sender
            .send_request(request)
            .await
            .map_err(ClientError::protocol)?;
        let http_status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let collected = response
            .into_body()
            .collect()
            .await
            .map_err(ClientError::protocol)?;
        let trailers = collected.trailers().map(header_pairs).unwrap_or_default();
        let body = collected.to_bytes();
        let messages = grpc_unframe(&body).map_err(ClientError::Protocol)?;

        let in_trailers = find_header(&trailers, "grpc-status").is_some();
        let trailers_only = !in_trailers
            && body.is_empty()
            && trailers.is_empty()
            && find_header(&headers, "grpc-status").is_some();
        let source = if in_trailers { &trailers } else { &headers };
        let grpc_status = find_header(source, "grpc-status").and_then(|s| s.trim().parse().ok());
        let grpc_message = find_header(source, "grpc-message").map(percent_decode);
        Ok(GrpcResponse {
            http_status,
            grpc_status,
            grpc_message,
            trailers_only,
            headers,
            trailers,
            messages,
            elapsed: start.elapsed(),
        })
    }
}

/// Frames one gRPC message: flag 0 (uncompressed), 4-byte length, bytes.
pub fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    // A message over 4 GiB cannot be framed; the tests send a few bytes.
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// Splits a gRPC body into its messages; an incomplete frame is an error.
pub fn grpc_unframe(mut body: &[u8]) -> Result<Vec<Bytes>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 5 {
            return Err(format!(
                "truncated gRPC frame header ({} bytes)",
                body.len()
            ));
        }
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let rest = &body[5..];
        if rest.len() < len {
            return Err(format!(
                "truncated gRPC message: length {len}, {} bytes present",
                rest.len()
            ));
        }
        out.push(Bytes::copy_from_slice(&rest[..len]));
        body = &rest[len..];
    }
    Ok(out)
}

/// Decodes the `%XX` escapes gRPC uses in `grpc-message`.
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut body = grpc_frame(b"ab").to_vec();
        body.extend_from_slice(&grpc_frame(b""));
        assert_eq!(
            grpc_unframe(&body).expect("valid frames"),
            vec![Bytes::from_static(b"ab"), Bytes::new()]
        );
        assert!(grpc_unframe(&body[..3]).is_err());
        assert!(grpc_unframe(&[0, 0, 0, 0, 9, 1]).is_err());
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(percent_decode("no%20upstream%"), "no upstream%");
        assert_eq!(percent_decode("100%25 %zz"), "100% %zz");
    }
}
