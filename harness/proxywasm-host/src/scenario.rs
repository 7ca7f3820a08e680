//! The fluent scenario API: an Envoy with N workers, requests, upstream
//! answers and time, in a few lines per test.
//!
//! ```ignore
//! let envoy = Envoy::start(&artifacts::ABI_PROBE, 2, r#"{"tick_ms": 1000}"#)?;
//! let req = envoy.worker(0).get("/x").header("x-probe-pause", "resume").send()?;
//! req.expect_paused();
//! envoy.advance_secs(1)?; // fires worker 0's tick, which resumes it
//! req.expect_continued().upstream(200)?.expect_status(200);
//! ```
//!
//! Everything takes `&self` (workers sit in `RefCell`s, borrowed only inside
//! one call), so an [`Exchange`] stays usable while time moves. `expect_*`
//! methods panic with the worker's log on a mismatch; driving methods return
//! `Result<_, HostError>` so a trap fails the test with its reason.

use std::cell::{RefCell, RefMut};
use std::time::Duration;

use super::state::{Action, LogRecord, Stream};
use super::worker::{StreamId, Worker};
use super::{HostError, World};
use artifacts::Artifact;

/// One Envoy process: a [`World`] and its workers, all configured alike.
#[derive(Debug)]
pub struct Envoy {
    world: World,
    workers: Vec<RefCell<Worker>>,
}

impl Envoy {
    /// Starts `workers` VMs of `artifact` over a new world and configures each;
    /// a refused configuration is [`HostError::ConfigRejected`].
    pub fn start(
        artifact: &Artifact,
        workers: usize,
        plugin_config: &str,
    ) -> Result<Envoy, HostError> {
        Envoy::start_seeded(artifact, workers, plugin_config, |_| Vec::new())
    }

    /// [`Envoy::start`] with the first random bytes of each worker chosen by `entropy(index)`
    /// (see [`Worker::with_entropy`]).
    pub fn start_seeded(
        artifact: &Artifact,
        workers: usize,
        plugin_config: &str,
        entropy: impl Fn(usize) -> Vec<u8>,
    ) -> Result<Envoy, HostError> {
        let world = World::new();
        let mut started = Vec::with_capacity(workers);
        for index in 0..workers {
            let mut worker = Worker::with_entropy(&world, artifact, index, entropy(index))?;
            if !worker.configure(plugin_config)? {
                return Err(HostError::ConfigRejected {
                    worker: index,
                    logs: worker.log_text(),
                });
            }
            started.push(RefCell::new(worker));
        }
        Ok(Envoy {
            world,
            workers: started,
        })
    }

    /// The shared world (clock, shared data, metrics).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Worker `index`; panics if there is no such worker.
    #[track_caller]
    pub fn worker(&self, index: usize) -> WorkerRef<'_> {
        assert!(
            index < self.workers.len(),
            "no worker {index}: started {}",
            self.workers.len()
        );
        WorkerRef { envoy: self, index }
    }

    /// A metric's value (the sum over workers).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.world.metric(name)
    }

    /// Moves the clock by `by`, firing every tick that falls due on the way,
    /// in time order (ties: lower worker index first).
    pub fn advance(&self, by: Duration) -> Result<(), HostError> {
        let target = self
            .world
            .now_nanos()
            .saturating_add(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX));
        loop {
            let due = self
                .workers
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.borrow().next_tick_nanos().map(|at| (at, i)))
                .filter(|(at, _)| *at <= target)
                .min();
            let Some((at, index)) = due else { break };
            let now = self.world.now_nanos();
            self.world
                .advance(Duration::from_nanos(at.saturating_sub(now)));
            self.workers[index].borrow_mut().tick()?;
        }
        let now = self.world.now_nanos();
        self.world
            .advance(Duration::from_nanos(target.saturating_sub(now)));
        Ok(())
    }

    /// [`Envoy::advance`] by whole seconds.
    pub fn advance_secs(&self, secs: u64) -> Result<(), HostError> {
        self.advance(Duration::from_secs(secs))
    }

    /// [`Envoy::advance`] by milliseconds.
    pub fn advance_millis(&self, millis: u64) -> Result<(), HostError> {
        self.advance(Duration::from_millis(millis))
    }

    fn borrow(&self, index: usize) -> RefMut<'_, Worker> {
        self.workers[index].borrow_mut()
    }
}

/// One worker of an [`Envoy`].
#[derive(Debug, Clone, Copy)]
pub struct WorkerRef<'a> {
    envoy: &'a Envoy,
    index: usize,
}

impl<'a> WorkerRef<'a> {
    /// A GET request to `path`.
    pub fn get(self, path: &str) -> RequestBuilder<'a> {
        self.request("GET", path)
    }

    /// A POST request to `path`.
    pub fn post(self, path: &str) -> RequestBuilder<'a> {
        self.request("POST", path)
    }

    /// A request with any method.
    pub fn request(self, method: &str, path: &str) -> RequestBuilder<'a> {
        let headers = [
            (":method", method),
            (":path", path),
            (":authority", "service"),
            (":scheme", "http"),
        ];
        RequestBuilder {
            worker: self,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            properties: Vec::new(),
            body: None,
        }
    }

    /// Fires this worker's tick now (without moving the clock).
    pub fn tick(self) -> Result<(), HostError> {
        self.envoy.borrow(self.index).tick()
    }

    /// This worker's log lines.
    pub fn logs(self) -> Vec<LogRecord> {
        self.envoy.borrow(self.index).logs().to_vec()
    }

    /// This worker's log as text.
    pub fn log_text(self) -> String {
        self.envoy.borrow(self.index).log_text()
    }

    /// Runs `f` on the low-level [`Worker`] (escape hatch).
    pub fn with<R>(self, f: impl FnOnce(&mut Worker) -> R) -> R {
        f(&mut self.envoy.borrow(self.index))
    }
}

/// A request being built; [`RequestBuilder::send`] delivers it.
#[derive(Debug)]
pub struct RequestBuilder<'a> {
    worker: WorkerRef<'a>,
    headers: Vec<(String, String)>,
    properties: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

impl<'a> RequestBuilder<'a> {
    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Makes it a gRPC request (`content-type: application/grpc`, POST).
    pub fn grpc(mut self) -> Self {
        self.headers.retain(|(k, _)| k != ":method");
        self.headers.insert(0, (":method".into(), "POST".into()));
        self.header("content-type", "application/grpc")
    }

    /// Sets a stream property (dotted path, raw bytes).
    pub fn property(mut self, path: &str, value: impl Into<Vec<u8>>) -> Self {
        self.properties.push((path.to_owned(), value.into()));
        self
    }

    /// Sets a stream property to an 8-byte LE u64, Envoy's integer encoding
    /// (e.g. `upstream.request_attempt_count`).
    pub fn property_u64(self, path: &str, value: u64) -> Self {
        self.property(path, value.to_le_bytes())
    }

    /// Sets `xds.cluster_name`.
    pub fn cluster(self, name: &str) -> Self {
        self.property("xds.cluster_name", name)
    }

    /// Sends a body after the headers (in one chunk, ending the request).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Creates the stream and delivers headers (and body).
    pub fn send(self) -> Result<Exchange<'a>, HostError> {
        let WorkerRef { envoy, index } = self.worker;
        let mut worker = envoy.borrow(index);
        let id = worker.http_request()?;
        for (path, value) in self.properties {
            worker.set_stream_property(id, &path, value)?;
        }
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let action = worker.request_headers(id, &headers, self.body.is_none())?;
        if let Some(body) = self.body
            && worker.stream(id).is_some_and(|s| !s.is_finished())
        {
            let _ = worker.request_body(id, &body, true)?;
        }
        Ok(Exchange {
            envoy,
            index,
            id,
            action,
        })
    }
}

/// A request in flight on one worker: drive the upstream side, check what the
/// filter did.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub(super) envoy: &'a Envoy,
    pub(super) index: usize,
    pub(super) id: StreamId,
    pub(super) action: Action,
}

impl<'a> Exchange<'a> {
    /// The stream's id on its worker.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// What `on_http_request_headers` returned.
    pub fn action(&self) -> Action {
        self.action
    }

    /// A snapshot of the stream as the host sees it now.
    pub fn stream(&self) -> Stream {
        self.envoy
            .borrow(self.index)
            .stream(self.id)
            .cloned()
            .expect("an exchange's stream exists")
    }

    /// The worker's log as text (for assertion messages).
    pub fn log_text(&self) -> String {
        self.envoy.borrow(self.index).log_text()
    }

    /// The upstream answers `status` with no body (ends the response).
    pub fn upstream(&self, status: u32) -> Result<&Self, HostError> {
        self.upstream_with(status, &[], b"", &[])
    }

    /// The upstream answers with headers, a body (if not empty) and trailers (if any).
    pub fn upstream_with(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
        trailers: &[(&str, &str)],
    ) -> Result<&Self, HostError> {
        let status = status.to_string();
        let mut all = vec![(":status", status.as_str())];
        all.extend_from_slice(headers);
        let mut worker = self.envoy.borrow(self.index);
        let _ = worker.response_headers(self.id, &all, body.is_empty() && trailers.is_empty())?;
        if !body.is_empty() {
            let _ = worker.response_body(self.id, body, trailers.is_empty())?;
        }
        if !trailers.is_empty() {
            let _ = worker.response_trailers(self.id, trailers)?;
        }
        Ok(self)
    }

    /// A gRPC upstream answers 200 with `grpc-status` in the trailers.
    pub fn upstream_grpc(&self, grpc_status: u32) -> Result<&Self, HostError> {
        let code = grpc_status.to_string();
        self.upstream_with(
            200,
            &[("content-type", "application/grpc")],
            b"\0\0\0\0\0",
            &[("grpc-status", &code)],
        )
    }

    /// The client goes away.
    pub fn reset(&self) -> Result<&Self, HostError> {
        self.envoy.borrow(self.index).reset(self.id)?;
        Ok(self)
    }
}
