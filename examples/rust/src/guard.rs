//! The engine wrapped around a real async HTTP client: what an application embeds.
//!
//! [`Guard::get`] asks the engine before every call and does what it decides:
//!
//! - `proceed`: send the request with the decision's headers, then report the outcome with
//!   `on-response` (a status, a reset, a connect failure or a timeout);
//! - `reject`: answer with the engine's local reply; the upstream is never called;
//! - `delay` / `queue`: park the caller on a oneshot channel; the driver task (below) or a
//!   returned bulkhead permit wakes it with `resume` (send it now) or `reply` (answer locally);
//! - `pass`: no policy matched; send it untouched and report nothing.
//!
//! One driver task per engine runs the timer half of the loop in wit/engine.wit: it sleeps
//! until `poll-timeout` (brought forward by a hold's `until`), calls `handle-timeout`, hands
//! every `poll-action` to its parked caller and reads `poll-timeout` again. Calls into the
//! component are synchronous and short, so the engine sits behind a plain mutex that is never
//! held across an `.await`. A caller dropped mid-request (a client that went away, a timeout
//! around `get`) cancels its ticket, so a permit or a probe lease is never leaked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::component::{
    Action, Breakwater, Decision, Header, LocalReply, Outcome, OutcomeKind, RejectReason, Runtime,
    Transition, request,
};

/// Who answered a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The upstream, with this status.
    Upstream,
    /// breakwater, locally, for this reason; the upstream was not called.
    Breakwater(RejectReason),
    /// Nobody: the call failed this way (502 for a reset or a refused connection, 504 for a
    /// timeout).
    Failed(OutcomeKind),
}

/// What the caller of [`Guard::get`] gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status to hand on.
    pub status: u16,
    /// Who answered.
    pub from: Source,
    /// For a local reply, the seconds after which a retry may succeed (`retry-after`).
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.from {
            Source::Upstream => write!(f, "{} from the upstream", self.status),
            Source::Breakwater(reason) => {
                write!(f, "{} from breakwater ({reason:?}", self.status)?;
                match self.retry_after {
                    Some(s) => write!(f, ", retry after {s} s)"),
                    None => write!(f, ")"),
                }
            }
            Source::Failed(kind) => write!(f, "{} ({kind:?})", self.status),
        }
    }
}

impl Answer {
    fn local(reply: &LocalReply) -> Answer {
        Answer {
            status: reply.status,
            from: Source::Breakwater(reply.reason),
            retry_after: reply.retry_after,
        }
    }
}

/// What `get` does after the engine decided.
enum Next {
    Pass,
    Reply(LocalReply),
    Send(u64, u32),
    Wait(u64, oneshot::Receiver<Action>),
}

/// The engine and what the driver needs, behind one mutex.
struct State {
    engine: Breakwater,
    /// Callers parked on a `delay` or `queue`, by ticket.
    waiters: HashMap<u64, oneshot::Sender<Action>>,
    /// When `handle-timeout` is next due.
    deadline: u64,
}

impl State {
    /// Hands every waiting action to its parked caller.
    fn dispatch(&mut self) -> wasmtime::Result<()> {
        for action in self.engine.actions()? {
            let ticket = match &action {
                Action::Resume(p) => p.ticket,
                Action::Reply(r) => r.ticket,
            };
            // A caller gone meanwhile has cancelled (or is about to cancel) its ticket.
            if let Some(waiter) = self.waiters.remove(&ticket) {
                let _ = waiter.send(action);
            }
        }
        Ok(())
    }
}

struct Shared {
    clock: Clock,
    state: Mutex<State>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> wasmtime::Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| wasmtime::format_err!("the engine's lock is poisoned"))
    }
}

/// An HTTP client for one upstream, every call decided by a breakwater engine.
pub struct Guard {
    shared: Arc<Shared>,
    client: Client<HttpConnector, Empty<Bytes>>,
    base_url: String,
    timeout: Duration,
    driver: JoinHandle<()>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// An engine from `config` (the filter's JSON) in front of `base_url`, each call given
    /// `timeout`. Starts the driver task, so it must run inside a tokio runtime. A bad
    /// configuration is an error listing every problem with its JSON path.
    pub fn new(
        runtime: &Runtime,
        config: &str,
        base_url: &str,
        timeout: Duration,
    ) -> wasmtime::Result<Guard> {
        let clock = Clock::start();
        let mut engine = runtime.engine(config, clock.now())?.map_err(|e| {
            let problems: Vec<String> = e
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.reason))
                .collect();
            wasmtime::format_err!("invalid configuration: {}", problems.join("; "))
        })?;
        let deadline = engine.poll_timeout()?;
        let shared = Arc::new(Shared {
            clock,
            state: Mutex::new(State {
                engine,
                waiters: HashMap::new(),
                deadline,
            }),
            wake: Notify::new(),
        });
        let driver = tokio::spawn(drive(Arc::clone(&shared)));
        Ok(Guard {
            shared,
            client: Client::builder(TokioExecutor::new()).build_http(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout,
            driver,
        })
    }

    /// GETs `path` from the upstream as the engine decides.
    pub async fn get(&self, path: &str) -> wasmtime::Result<Answer> {
        let next = {
            let mut state = self.shared.lock()?;
            let now = self.shared.clock.now();
            match state.engine.on_request(now, &request("GET", path))? {
                Decision::Pass => Next::Pass,
                Decision::Reject(reply) => Next::Reply(reply),
                Decision::Proceed(p) => Next::Send(p.ticket, p.headers),
                Decision::Delay(hold) | Decision::Queue(hold) => {
                    // Park before unlocking: a permit returned by another call may resume it.
                    let (tx, rx) = oneshot::channel();
                    state.waiters.insert(hold.ticket, tx);
                    if hold.until < state.deadline {
                        state.deadline = hold.until;
                        self.shared.wake.notify_one();
                    }
                    Next::Wait(hold.ticket, rx)
                }
            }
        };
        let (ticket, header_set) = match next {
            Next::Pass => return Ok(self.send(path, &[]).await?.0),
            Next::Reply(reply) => return Ok(Answer::local(&reply)),
            Next::Send(ticket, header_set) => (ticket, header_set),
            Next::Wait(ticket, parked) => {
                let mut pending = Pending::new(&self.shared, ticket);
                let action = parked.await.map_err(|_| {
                    wasmtime::format_err!("the engine driver stopped while a request waited")
                })?;
                pending.finished = true;
                match action {
                    Action::Resume(p) => (p.ticket, p.headers),
                    Action::Reply(refusal) => return Ok(Answer::local(&refusal.reply)),
                }
            }
        };
        let mut pending = Pending::new(&self.shared, ticket);
        let headers = self.shared.lock()?.engine.headers(header_set).to_vec();
        let (answer, outcome) = self.send(path, &headers).await?;
        pending.finished = true;
        let mut state = self.shared.lock()?;
        let now = self.shared.clock.now();
        if state.engine.on_response(now, ticket, outcome)? > 0 {
            state.dispatch()?;
        }
        Ok(answer)
    }

    /// Sends the request with `headers` added; what the caller gets and what to report.
    async fn send(&self, path: &str, headers: &[Header]) -> wasmtime::Result<(Answer, Outcome)> {
        let mut builder = hyper::Request::get(format!("{}{path}", self.base_url));
        for h in headers {
            builder = builder.header(&h.name, &h.value);
        }
        let request = builder.body(Empty::new())?;
        let failed = |kind, status| {
            let answer = Answer {
                status,
                from: Source::Failed(kind),
                retry_after: None,
            };
            (answer, outcome(kind, None))
        };
        let call = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?; // the whole answer, or it was reset
            Ok::<u16, Box<dyn std::error::Error + Send + Sync>>(status)
        };
        Ok(match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(status)) => (
                Answer {
                    status,
                    from: Source::Upstream,
                    retry_after: None,
                },
                outcome(OutcomeKind::Response, Some(status)),
            ),
            Ok(Err(e)) if is_connect(&*e) => failed(OutcomeKind::ConnectFailure, 502),
            Ok(Err(_)) => failed(OutcomeKind::Reset, 502),
            Err(_) => failed(OutcomeKind::Timeout, 504),
        })
    }

    /// The breaker transitions since the last call, oldest first.
    pub fn transitions(&self) -> wasmtime::Result<Vec<Transition>> {
        self.shared.lock()?.engine.transitions()
    }

    /// Every policy's state and counters, as JSON.
    pub fn status_json(&self) -> wasmtime::Result<String> {
        let now = self.shared.clock.now();
        self.shared.lock()?.engine.status_json(now)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

fn outcome(kind: OutcomeKind, http_status: Option<u16>) -> Outcome {
    Outcome {
        kind,
        http_status,
        grpc_status: None,
    }
}

fn is_connect(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(hyper_util::client::legacy::Error::is_connect)
}

/// A ticket the engine tracks until it is reported: dropped unfinished (the caller went away
/// or `send` failed), it cancels the ticket, which returns its permit or probe lease.
struct Pending<'a> {
    shared: &'a Shared,
    ticket: u64,
    finished: bool,
}

impl<'a> Pending<'a> {
    fn new(shared: &'a Shared, ticket: u64) -> Pending<'a> {
        Pending {
            shared,
            ticket,
            finished: false,
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(mut state) = self.shared.lock() {
            state.waiters.remove(&self.ticket);
            let now = self.shared.clock.now();
            if state.engine.cancel(now, self.ticket).unwrap_or(0) > 0 {
                let _ = state.dispatch();
            }
        }
    }
}

/// The timer half of the driving loop: sleep until the deadline, `handle-timeout`, dispatch,
/// read `poll-timeout` again. A trap ends it; parked callers then get an error.
async fn drive(shared: Arc<Shared>) {
    loop {
        let deadline = match shared.lock() {
            Ok(state) => state.deadline,
            Err(_) => return,
        };
        tokio::select! {
            () = tokio::time::sleep_until(shared.clock.instant(deadline)) => {
                let Ok(mut state) = shared.lock() else { return };
                let now = shared.clock.now();
                let next = state
                    .engine
                    .handle_timeout(now)
                    .and_then(|()| state.dispatch())
                    .and_then(|()| state.engine.poll_timeout());
                match next {
                    Ok(next) => state.deadline = next,
                    Err(e) => {
                        eprintln!("breakwater engine trapped: {e:?}");
                        state.waiters.clear();
                        return;
                    }
                }
            }
            () = shared.wake.notified() => {}
        }
    }
}
