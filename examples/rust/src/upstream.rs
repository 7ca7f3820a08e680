//! A tiny local upstream that fails on demand: what the guarded client calls.
//!
//! It listens on 127.0.0.1 (an ephemeral port), answers every request with the status it was
//! told (200 until [`Upstream::fail_with`]), after an optional delay ([`Upstream::slow_down`]),
//! and counts the requests it saw and the most it served at once, so the example can show that
//! a rejected request never reached it and that the bulkhead capped concurrency. Dropping it
//! stops the listener and every connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the upstream answers and what it saw.
#[derive(Debug, Default)]
struct Shared {
    status: AtomicU16,
    delay_ms: AtomicU64,
    hits: AtomicU64,
    inflight: AtomicUsize,
    max_inflight: AtomicUsize,
}

/// The running upstream; dropping it stops it.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Upstream {
    /// Starts it on 127.0.0.1, answering 200.
    pub async fn start() -> std::io::Result<Upstream> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        shared.status.store(200, Ordering::SeqCst);
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Upstream {
            addr,
            shared,
            accept,
        })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer every request with `status` from now on (200 heals it).
    pub fn fail_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Wait this long before answering each request.
    pub fn slow_down(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Requests received so far.
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// The most requests it was serving at once.
    pub fn max_inflight(&self) -> usize {
        self.shared.max_inflight.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let svc =
                service_fn(move |_req: Request<hyper::body::Incoming>| answer(Arc::clone(&shared)));
            // A client that goes away mid-request is no error of the upstream's.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(shared: Arc<Shared>) -> Result<Response<Full<Bytes>>, Infallible> {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let now = shared.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_inflight.fetch_max(now, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    shared.inflight.fetch_sub(1, Ordering::SeqCst);
    let status = shared.status.load(Ordering::SeqCst);
    let mut response = Response::new(Full::new(Bytes::from_static(b"stock: 7\n")));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    Ok(response)
}
