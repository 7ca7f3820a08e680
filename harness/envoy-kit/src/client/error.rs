//! The one error type of the clients: connect, protocol, timeout.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a client request got no response.
#[derive(Debug)]
pub enum ClientError {
    /// The TCP connection could not be opened.
    Connect {
        /// Where to.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The request could not be built (bad method, header name or value).
    Request(String),
    /// The HTTP exchange failed (handshake, reset, malformed response).
    Protocol(String),
    /// No complete response within the timeout.
    Timeout(Duration),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { addr, source } => write!(f, "connect to {addr}: {source}"),
            Self::Request(m) => write!(f, "bad request: {m}"),
            Self::Protocol(m) => write!(f, "HTTP exchange failed: {m}"),
            Self::Timeout(d) => write!(f, "no complete response within {d:?}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl ClientError {
    pub(crate) fn protocol(e: impl fmt::Display) -> Self {
        Self::Protocol(e.to_string())
    }

    pub(crate) fn request(e: impl fmt::Display) -> Self {
        Self::Request(e.to_string())
    }
}
