//! The test upstream: a loopback HTTP/1.1 + h2c server whose answers a test
//! switches at run time.
//!
//! Real-Envoy tests need a backend that fails on command (always 503, a
//! seeded fraction, alternating), is slow on command, answers gRPC with a
//! chosen `grpc-status` in trailers or trailers-only, and reports what it saw
//! (totals, per-path counts, max in-flight for bulkhead caps, `x-seq` arrival
//! order for FIFO checks, the headers Envoy sent). One server serves many
//! test cases: request headers override the behaviour per request
//! (`x-upstream-status`, `x-upstream-delay-ms`, `x-upstream-grpc-status`,
//! `x-upstream-grpc-trailers-only`). The same switches are HTTP endpoints
//! (`/_control/...`) for demos (listed below).
//!
//! The server runs on its own 2-thread tokio runtime owned by
//! [`UpstreamServer`]; dropping the handle stops it and closes every
//! connection. It binds 127.0.0.1 only. Every reply body is JSON echoing the
//! request (`{"request": 3, "method": "GET", "path": "/x", "seq": "3",
//! "status": 200, …}`); gRPC replies carry the same JSON as their message.
//!
//! # Control endpoints
//!
//! `/_control/status/N`, `/_control/fail?fraction=F&status=N&seed=S`,
//! `/_control/alternate?first=A&second=B`, `/_control/delay/MS`,
//! `/_control/grpc/CODE[?trailers_only=true]`, `/_control/grpc/auto`,
//! `/_control/behaviour`, `/_control/stats`, `/_control/reset-counters`,
//! `/_control/reset`.

mod behaviour;
mod control;
mod counters;
mod holds;
mod service;

pub use behaviour::{Behaviour, GrpcReply, MAX_DELAY_MS, Mode};
pub use counters::{MAX_RECORDS, RequestRecord, UpstreamStats};
pub use holds::{HOLD_HEADER, MAX_HOLD, Release};

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::watch;

use behaviour::Decider;
use counters::Counters;
use service::Shared;

/// A running test upstream; dropping it stops the server.
///
/// ```no_run
/// use envoy_kit::upstream::UpstreamServer;
/// let upstream = UpstreamServer::start().expect("upstream starts");
/// upstream.always(503);
/// upstream.set_delay_ms(50);
/// // ... send requests to upstream.addr() (or through Envoy) ...
/// assert_eq!(upstream.total(), 0);
/// ```
#[derive(Debug)]
pub struct UpstreamServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl UpstreamServer {
    /// Starts on 127.0.0.1 with a free port.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on(0)
    }

    /// Starts on 127.0.0.1:`port` (0 picks a free port).
    pub fn start_on(port: u16) -> std::io::Result<Self> {
        let std_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-upstream")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            decider: Mutex::new(Decider::new(Behaviour::default())),
            counters: Counters::default(),
            holds: holds::Holds::default(),
        });
        let (shutdown, mut stopped) = watch::channel(false);
        let accept_shared = Arc::clone(&shared);
        runtime.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off, keep serving.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| service::handle(Arc::clone(&shared), req));
                    // A connection error (client reset) ends only that connection.
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            shared,
            shutdown,
            runtime: Some(runtime),
        })
    }

    /// Ends the request held under `token` (see [`HOLD_HEADER`]); false when no request is
    /// held under it (not arrived yet, or already released).
    pub fn release(&self, token: &str, how: Release) -> bool {
        self.shared.holds.release(token, how)
    }

    /// Whether a request carrying `token` in [`HOLD_HEADER`] has reached the upstream.
    pub fn arrived(&self, token: &str) -> bool {
        self.shared.holds.arrived(token)
    }

    /// The address it listens on (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on (for `UPSTREAM_PORT`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces the behaviour; decisions (RNG, alternation) restart.
    ///
    /// # Panics
    /// If the behaviour is invalid ([`Behaviour::validate`]): a test bug.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        if let Err(e) = behaviour.validate() {
            panic!("invalid upstream behaviour: {e}");
        }
        self.shared.set(behaviour);
    }

    /// The current behaviour.
    pub fn behaviour(&self) -> Behaviour {
        self.shared.decider().behaviour().clone()
    }

    fn update(&self, change: impl FnOnce(&mut Behaviour)) {
        let mut b = self.behaviour();
        change(&mut b);
        self.set_behaviour(b);
    }

    /// Every request gets `status` (latency and gRPC setting kept).
    pub fn always(&self, status: u16) {
        self.update(|b| b.mode = Mode::Status(status));
    }

    /// A seeded `fraction` of requests get `status`, the rest 200.
    pub fn fail_fraction(&self, fraction: f64, status: u16, seed: u64) {
        self.update(|b| {
            b.mode = Mode::FailFraction {
                fraction,
                status,
                seed,
            }
        });
    }

    /// Requests alternate `first`, `second`, `first`, …
    pub fn alternate(&self, first: u16, second: u16) {
        self.update(|b| b.mode = Mode::Alternate { first, second });
    }

    /// Adds `ms` milliseconds of latency to every request.
    pub fn set_delay_ms(&self, ms: u64) {
        self.update(|b| b.delay_ms = ms);
    }

    /// How gRPC requests are answered.
    pub fn set_grpc(&self, reply: GrpcReply) {
        self.update(|b| b.grpc = reply);
    }

    /// Default behaviour (always 200, no latency) and zero counters.
    pub fn reset(&self) {
        self.shared.set(Behaviour::default());
        self.shared.counters.reset();
    }

    /// Zeroes the counters and forgets recorded requests.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// Requests received since the last reset (control requests excluded).
    pub fn total(&self) -> u64 {
        self.shared.counters.total()
    }

    /// Requests received for `path` (without query).
    pub fn path_count(&self, path: &str) -> u64 {
        self.shared.counters.path_count(path)
    }

    /// Requests being handled right now.
    pub fn inflight(&self) -> u64 {
        self.shared.counters.inflight()
    }

    /// The most requests handled at once since the last reset.
    pub fn max_inflight(&self) -> u64 {
        self.shared.counters.max_inflight()
    }

    /// `x-seq` header values in arrival order.
    pub fn arrivals(&self) -> Vec<String> {
        self.shared.counters.snapshot().arrivals
    }

    /// The recorded requests (up to [`MAX_RECORDS`], oldest first).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.counters.records()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RequestRecord> {
        self.shared.counters.last_record()
    }

    /// All counters at once.
    pub fn stats(&self) -> UpstreamStats {
        self.shared.counters.snapshot()
    }

    /// Waits (bounded polling) until at least `n` requests arrived.
    pub fn wait_for_total(&self, n: u64, timeout: Duration) -> bool {
        crate::poll::wait_until(timeout, || self.total() >= n)
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Dropped inside async code: waiting here would block a runtime thread.
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(Duration::from_secs(2));
            }
        }
    }
}
