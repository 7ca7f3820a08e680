//! One kept-alive HTTP/1.1 connection, for tests that need requests to share a connection.
//!
//! [`HttpRequest::send`] opens a fresh connection per request on purpose (no pooled connection
//! hides a reset). Some properties are about connections that stay open, though: Envoy hands a
//! connection to one worker for its whole life, and a configuration update that must not drain
//! connections is only proven by requests on a connection opened before it. An
//! [`HttpConnection`] sends request after request on one connection and never reconnects on its
//! own: a connection that Envoy closed is an error the test sees.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ClientError;
use super::http1::{HttpRequest, HttpResponse, read_response};
use super::runtime::{block_on, spawn};

/// A kept-alive HTTP/1.1 connection to `addr`; requests go one at a time.
///
/// ```no_run
/// # use envoy_kit::client::{HttpConnection, HttpRequest};
/// # let addr: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
/// let mut conn = HttpConnection::open(addr).unwrap();
/// for _ in 0..3 {
///     assert_eq!(conn.send(&HttpRequest::get("/a")).unwrap().status, 200);
/// }
/// assert!(conn.is_open());
/// ```
#[derive(Debug)]
pub struct HttpConnection {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    sent: u64,
}

impl HttpConnection {
    /// Connects to `addr` (within the default request timeout).
    pub fn open(addr: SocketAddr) -> Result<Self, ClientError> {
        let timeout = super::DEFAULT_TIMEOUT;
        block_on(async move {
            tokio::time::timeout(timeout, Self::connect(addr))
                .await
                .unwrap_or(Err(ClientError::Timeout(timeout)))
        })
    }

    async fn connect(addr: SocketAddr) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::protocol)?;
        // Runs until the peer closes or the sender drops.
        spawn(conn);
        Ok(Self {
            addr,
            sender,
            sent: 0,
        })
    }

    /// Sends `request` on this connection and blocks until the response is complete (or the
    /// request's timeout). A closed connection is an error; it is not reopened.
    pub fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, ClientError> {
        let timeout = request.timeout_value();
        let hyper_request = request.to_hyper(self.addr)?;
        let sender = &mut self.sender;
        let result = block_on(async move {
            let exchange = async {
                sender.ready().await.map_err(ClientError::protocol)?;
                let start = Instant::now();
                read_response(sender.send_request(hyper_request).await, start).await
            };
            tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or(Err(ClientError::Timeout(timeout)))
        });
        self.sent += 1;
        result
    }

    /// Whether the connection is still open (Envoy may close it after a response, e.g. when
    /// draining a listener).
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Requests sent on this connection.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The address it is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
