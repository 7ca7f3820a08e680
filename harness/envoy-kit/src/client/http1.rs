//! The HTTP/1.1 client: one request per connection, status, headers, body, elapsed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::runtime::{block_on, spawn};
use super::{ClientError, DEFAULT_TIMEOUT, find_header, header_pairs};

/// An HTTP/1.1 request to send to an address (Envoy's listener, the upstream).
///
/// `host` is set to the target address unless a `host` header is given.
///
/// ```no_run
/// # use envoy_kit::client::HttpRequest;
/// # let addr: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
/// let rsp = HttpRequest::get("/orders").header("x-seq", "1").send(addr).unwrap();
/// assert_eq!(rsp.status, 200);
/// ```
#[derive(Debug, Clone)]
pub struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    timeout: Duration,
}

/// What came back: status, lowercase headers, the whole body, time taken.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers as lowercase `(name, value)` pairs, in wire order.
    pub headers: Vec<(String, String)>,
    /// The complete body.
    pub body: Bytes,
    /// From starting to connect until the body was read.
    pub elapsed: Duration,
}

impl HttpResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl HttpRequest {
    /// A request with any method.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A GET request.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    /// A POST request.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    /// Adds a request header (repeatable).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the request body (`content-length` follows).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the timeout for the whole exchange (connect to last body byte).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request and blocks until the response is complete.
    pub fn send(&self, addr: SocketAddr) -> Result<HttpResponse, ClientError> {
        block_on(self.send_async(addr))
    }

    /// Sends the request from async code.
    pub async fn send_async(&self, addr: SocketAddr) -> Result<HttpResponse, ClientError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(addr))
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)))
    }

    async fn exchange(&self, addr: SocketAddr) -> Result<HttpResponse, ClientError> {
        let start = Instant::now();
        let request = self.to_hyper(addr)?;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::protocol)?;
        // The connection task ends when the response is read and `sender` drops.
        tokio::spawn(conn);
        read_response(sender.send_request(request).await, start).await
    }

    /// The request as hyper sends it to `addr` (`host` set to `addr` unless given).
    pub(crate) fn to_hyper(
        &self,
        addr: SocketAddr,
    ) -> Result<hyper::Request<Full<Bytes>>, ClientError> {
        let mut builder = hyper::Request::builder()
            .method(self.method.as_str())
            .uri(self.path.as_str());
        if find_header(&self.headers, "host").is_none() {
            builder = builder.header("host", addr.to_string());
        }
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder
            .body(Full::new(self.body.clone()))
            .map_err(ClientError::request)
    }

    /// This request's timeout.
    pub(crate) fn timeout_value(&self) -> Duration {
        self.timeout
    }
}

/// Reads a whole response (status, headers, body) sent at `start`.
pub(crate) async fn read_response(
    response: Result<hyper::Response<hyper::body::Incoming>, hyper::Error>,
    start: Instant,
) -> Result<HttpResponse, ClientError> {
    let response = response.map_err(ClientError::protocol)?;
    let status = response.status().as_u16();
    let headers = header_pairs(response.headers());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(ClientError::protocol)?
        .to_bytes();
    Ok(HttpResponse {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
    })
}

/// `GET path` on `addr` with the default timeout.
pub fn get(addr: SocketAddr, path: &str) -> Result<HttpResponse, ClientError> {
    HttpRequest::get(path).send(addr)
}

/// Sends all `requests` at once (one connection each) and returns their
/// results in the same order: the tool for concurrency (bulkhead) tests.
pub fn send_all(
    addr: SocketAddr,
    requests: Vec<HttpRequest>,
) -> Vec<Result<HttpResponse, ClientError>> {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|r| spawn(async move { r.send_async(addr).await }))
        .collect();
    block_on(async move {
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.unwrap_or_else(|e| Err(ClientError::protocol(e))));
        }
        out
    })
}
