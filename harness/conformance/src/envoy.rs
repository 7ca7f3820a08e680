//! The Envoy driver: the same scenario through real Envoy 1.40 (one worker) with either of
//! breakwater's Envoy adapters, the wasm filter or the dynamic module ([`Adapter`]), in front
//! of the test upstream, through real clients.
//!
//! Real Envoy is seen from outside, as its users see it. The upstream holds every request
//! (`x-upstream-hold`) until the scenario answers it, so the driver knows what the filter did:
//! a request that reached the upstream was forwarded; one answered without reaching it was
//! rejected (its reply as the client got it); one that did neither within a short wait is held
//! (delayed or queued: the driver cannot tell which, nor until when). The router consumes its
//! `x-envoy-*` headers and Envoy shapes local replies its own way, so this driver sees neither
//! the router headers nor the reply's exact header list ([`Sight`]); the reason, `retry-after`,
//! the status, the gRPC status and the body are compared.
//!
//! What it cannot play, a scenario must list in `not_for` ([`EnvoyDriver::cannot_play`]):
//! several workers (Envoy chooses the worker, not the client), a request's cluster or route
//! name (Envoy's route table decides them), a connect failure or a timeout
//! as an answer, and time that must be exact to the millisecond (a real clock runs on while the
//! driver works, so `advance_ms` means "at least that long").

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use artifacts::{BREAKWATER_FILTER, BREAKWATER_MODULE};
use envoy_kit::client::GrpcRequest;
use envoy_kit::envoy::Envoy;
use envoy_kit::upstream::{HOLD_HEADER, Release, UpstreamServer};

use super::{
    Driver, Observed, ObservedAction, Reply, ResponseStep, Scenario, ScenarioRequest, Sight, Step,
};

/// The status path the driver adds when a scenario's configuration sets none.
const STATUS_PATH: &str = "/__conformance/status";
use super::filter::RESET_PATH;

/// The longest the driver waits for any one answer.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// How long an action may take to show after the step that causes it (the filter acts on its
/// 10 ms tick, or at once on a response).
const ACTION_WAIT: Duration = Duration::from_millis(300);

/// How often the driver looks again while it waits.
const POLL: Duration = Duration::from_millis(2);

/// How long an action seen for a later request waits for an earlier held one to show its own
/// (see `poll_action`).
const ORDER_GRACE: Duration = Duration::from_millis(150);

/// What a client got.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    grpc_status: Option<u32>,
}

/// One request in flight.
#[derive(Debug)]
struct Flight {
    token: String,
    grpc: bool,
    held: bool,
    answer: Option<Answer>,
    rx: Receiver<Result<Answer, String>>,
    /// The client's connection (HTTP only), to go away on `cancel`.
    conn: Option<TcpStream>,
}

impl Flight {
    /// The answer, if it has come (without waiting).
    fn answered(&mut self) -> Result<Option<&Answer>, String> {
        if self.answer.is_none() {
            match self.rx.try_recv() {
                Ok(a) => self.answer = Some(a?),
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => return Err("client thread died".into()),
            }
        }
        Ok(self.answer.as_ref())
    }

    /// Waits for the answer, at most `wait`.
    fn wait(&mut self, wait: Duration) -> Result<&Answer, String> {
        if self.answer.is_none() {
            match self.rx.recv_timeout(wait) {
                Ok(a) => self.answer = Some(a?),
                Err(RecvTimeoutError::Timeout) => return Err("no answer in time".into()),
                Err(RecvTimeoutError::Disconnected) => return Err("client thread died".into()),
            }
        }
        self.answer.as_ref().ok_or_else(|| "no answer".into())
    }
}

/// Which of breakwater's Envoy adapters Envoy loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// The proxy-wasm filter (`envoy/demo.yaml`); `envoy_filter` in a scenario's `not_for`.
    Filter,
    /// The dynamic module (`envoy/module.yaml`); `envoy_module` in a scenario's `not_for`.
    Module,
}

/// Real Envoy with one of breakwater's adapters, one worker.
#[derive(Debug)]
pub struct EnvoyDriver {
    adapter: Adapter,
    upstream: UpstreamServer,
    _envoy: Envoy,
    addr: SocketAddr,
    status_path: String,
    reset_path: String,
    /// How long a request that neither reached the upstream nor was answered counts as held.
    held_after: Duration,
    flights: BTreeMap<u64, Flight>,
    next: u64,
    /// Scenario time reached so far.
    scenario_ms: u64,
}

impl EnvoyDriver {
    /// Why this driver cannot play `scenario`, if it cannot.
    pub fn cannot_play(scenario: &Scenario) -> Option<String> {
        if scenario.workers > 1 {
            return Some("Envoy, not the client, chooses a request's worker".into());
        }
        for step in &scenario.steps {
            match step {
                Step::Request { request, .. }
                    if !request.cluster.is_empty() || !request.route.is_empty() =>
                {
                    return Some(
                        "a request's cluster and route come from Envoy's route table, not the \
                         client"
                            .into(),
                    );
                }
                Step::Response(r) if matches!(r.kind.as_str(), "connect_failure" | "timeout") => {
                    return Some(format!("the upstream cannot stage a {} on cue", r.kind));
                }
                _ => {}
            }
        }
        None
    }

    /// Envoy with `adapter` and the upstream for `scenario`; a refused configuration is an
    /// error.
    pub fn new(scenario: &Scenario, adapter: Adapter) -> wasmtime::Result<EnvoyDriver> {
        let mut config = scenario.config.clone();
        let status_path = super::filter::ensure_path(&mut config, "status_path", STATUS_PATH);
        let reset_path = super::filter::ensure_path(&mut config, "reset_path", RESET_PATH);
        let upstream = UpstreamServer::start()?;
        let builder = match adapter {
            Adapter::Filter => {
                Envoy::from_template("demo.yaml").filter_wasm(BREAKWATER_FILTER.path())
            }
            Adapter::Module => {
                Envoy::from_template("module.yaml").dynamic_module(BREAKWATER_MODULE.path())
            }
        };
        let envoy = builder
            .upstream_port(upstream.port())
            .plugin_config(&config.to_string())
            .concurrency(1)
            .start()
            .map_err(|e| wasmtime::format_err!("envoy: {e}"))?;
        let addr = envoy
            .listener("main")
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        Ok(EnvoyDriver {
            adapter,
            upstream,
            _envoy: envoy,
            addr,
            status_path,
            reset_path,
            held_after: held_after(scenario),
            flights: BTreeMap::new(),
            next: 1,
            scenario_ms: 0,
        })
    }

    fn flight(&mut self, ticket: u64) -> wasmtime::Result<&mut Flight> {
        self.flights
            .get_mut(&ticket)
            .ok_or_else(|| wasmtime::format_err!("unknown ticket {ticket}"))
    }
}

/// Half the shortest deadline a held request could have (queue timeouts, injected delays),
/// between 20 and 200 ms: long enough for a forwarded request to reach the upstream, short
/// enough that a held one is still held when the driver decides.
fn held_after(scenario: &Scenario) -> Duration {
    let mut shortest = 400u64;
    for p in scenario.config["policies"].as_array().into_iter().flatten() {
        for ms in [
            &p["bulkhead"]["queue_timeout_ms"],
            &p["injection"]["delay_ms"],
        ] {
            if let Some(ms) = ms.as_u64().filter(|ms| *ms > 0) {
                shortest = shortest.min(ms);
            }
        }
    }
    Duration::from_millis((shortest / 2).clamp(20, 200))
}

/// Sends `request` on a thread; the answer comes through the receiver.
fn launch(
    addr: SocketAddr,
    request: &ScenarioRequest,
    token: &str,
) -> (Receiver<Result<Answer, String>>, Option<TcpStream>, bool) {
    let (tx, rx) = mpsc::channel();
    let grpc = request
        .headers
        .get("content-type")
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        let mut call = GrpcRequest::new(&request.path).metadata(HOLD_HEADER, token);
        for (k, v) in &request.headers {
            if k != "content-type" {
                call = call.metadata(k, v);
            }
        }
        thread::spawn(move || {
            let answer = call
                .timeout(ANSWER_WAIT * 6)
                .send(addr)
                .map(|r| Answer {
                    status: r.http_status,
                    headers: r.headers.clone(),
                    body: String::new(),
                    grpc_status: r.grpc_status,
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(answer);
        });
        return (rx, None, true);
    }
    let mut text = format!(
        "{} {} HTTP/1.1\r\nhost: conformance\r\nconnection: close\r\n{HOLD_HEADER}: {token}\r\n",
        request.method, request.path
    );
    for (k, v) in &request.headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    if request.method == "POST" || request.method == "PUT" || request.method == "PATCH" {
        text.push_str("content-length: 0\r\n");
    }
    text.push_str("\r\n");
    let conn = TcpStream::connect(addr).ok();
    let mine = conn.as_ref().and_then(|c| c.try_clone().ok());
    thread::spawn(move || {
        let answer = match mine {
            Some(mut c) => http_exchange(&mut c, text.as_bytes()),
            None => Err("cannot connect to envoy".to_owned()),
        };
        let _ = tx.send(answer);
    });
    (rx, conn, false)
}

/// Writes `request` and reads the answer: the head, then `content-length` bytes of body (or
/// up to the close when there is none).
fn http_exchange(conn: &mut TcpStream, request: &[u8]) -> Result<Answer, String> {
    conn.set_read_timeout(Some(ANSWER_WAIT * 6))
        .map_err(|e| e.to_string())?;
    conn.write_all(request).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = conn.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the head ended".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = raw[head_end + 4..].to_vec();
    loop {
        if length.is_some_and(|l| body.len() >= l) {
            break;
        }
        let n = conn.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        grpc_status: None,
    })
}

/// A local reply as the client got it, in the driver-neutral form.
fn reply(a: &Answer) -> Reply {
    let header = |name: &str| {
        a.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    Reply {
        status: a.status,
        grpc_status: a.grpc_status,
        reason: header("x-breakwater").unwrap_or_default(),
        retry_after: header("retry-after").and_then(|v| v.parse().ok()),
        headers: Vec::new(),
        body: a.body.clone(),
    }
}

impl Driver for EnvoyDriver {
    fn adapter(&self) -> &'static str {
        match self.adapter {
            Adapter::Filter => "envoy_filter",
            Adapter::Module => "envoy_module",
        }
    }

    fn sight(&self) -> Sight {
        Sight {
            pass: false,
            holds: false,
            router_headers: false,
            reply_headers: false,
        }
    }

    fn on_request(
        &mut self,
        _now_ms: u64,
        request: &ScenarioRequest,
    ) -> wasmtime::Result<(Observed, Option<u64>)> {
        let ticket = self.next;
        self.next += 1;
        let token = format!("r{ticket}");
        let (rx, conn, grpc) = launch(self.addr, request, &token);
        let mut flight = Flight {
            token: token.clone(),
            grpc,
            held: false,
            answer: None,
            rx,
            conn,
        };
        let started = Instant::now();
        let observed = loop {
            if let Some(a) = flight.answered().map_err(wasmtime::Error::msg)? {
                break Observed::Reject(reply(a));
            }
            if self.upstream.arrived(&token) {
                break Observed::Forward(Vec::new());
            }
            if started.elapsed() >= self.held_after {
                flight.held = true;
                break Observed::Held;
            }
            thread::sleep(POLL);
        };
        if matches!(observed, Observed::Reject(_)) {
            return Ok((observed, None));
        }
        self.flights.insert(ticket, flight);
        Ok((observed, Some(ticket)))
    }

    fn on_response(&mut self, _now_ms: u64, ticket: u64, r: &ResponseStep) -> wasmtime::Result<()> {
        let f = self.flight(ticket)?;
        let how = match (r.kind.as_str(), f.grpc) {
            ("reset", _) => Release::Reset,
            ("response", true) if r.grpc_status.is_some() || r.status == Some(200) => {
                Release::Grpc(r.grpc_status)
            }
            ("response", _) => Release::Status(r.status.unwrap_or(200)),
            (other, _) => wasmtime::bail!("cannot stage a {other}"),
        };
        let token = f.token.clone();
        self.upstream.release(&token, how);
        let f = self.flight(ticket)?;
        f.wait(ANSWER_WAIT).map_err(wasmtime::Error::msg)?;
        Ok(())
    }

    fn cancel(&mut self, _now_ms: u64, ticket: u64) -> wasmtime::Result<()> {
        let f = self.flight(ticket)?;
        let conn = f
            .conn
            .take()
            .ok_or_else(|| wasmtime::format_err!("a gRPC call cannot be cancelled here"))?;
        let _ = conn.shutdown(Shutdown::Both);
        // The client is gone: Envoy resets the stream, the filter cancels it. Nothing more
        // comes for this ticket.
        self.flights.remove(&ticket);
        Ok(())
    }

    fn handle_timeout(&mut self, now_ms: u64) -> wasmtime::Result<()> {
        // At least the scenario's step of time passes; the real clock never waits for the
        // driver, so the engine may be a little later than the scenario.
        let step = now_ms.saturating_sub(self.scenario_ms);
        self.scenario_ms = now_ms;
        thread::sleep(Duration::from_millis(step));
        Ok(())
    }

    fn poll_action(&mut self) -> wasmtime::Result<Option<(u64, ObservedAction)>> {
        let started = Instant::now();
        // When a later request shows its action first while an earlier one is still held.
        let mut early: Option<Instant> = None;
        loop {
            let mut earlier_held = false;
            let mut found = None;
            for (ticket, f) in self.flights.iter_mut() {
                if !f.held {
                    continue;
                }
                if let Some(a) = f.answered().map_err(wasmtime::Error::msg)? {
                    found = Some((*ticket, ObservedAction::Reply(reply(a))));
                    break;
                }
                if self.upstream.arrived(&f.token) {
                    found = Some((*ticket, ObservedAction::Resume(Vec::new())));
                    break;
                }
                earlier_held = true;
            }
            if let Some((ticket, action)) = found {
                // Requests resumed together (permits returned at once go to the queue in FIFO
                // order) race through Envoy to the upstream, so arrivals can swap: give an
                // earlier held request a moment to show its action first, as the engine's
                // order says it comes first.
                let waited = early.get_or_insert_with(Instant::now).elapsed();
                if !earlier_held || waited >= ORDER_GRACE {
                    if let Some(f) = self.flights.get_mut(&ticket) {
                        f.held = false;
                    }
                    return Ok(Some((ticket, action)));
                }
            }
            if started.elapsed() >= ACTION_WAIT + ORDER_GRACE {
                return Ok(None);
            }
            thread::sleep(POLL);
        }
    }

    fn reset(&mut self, _now_ms: u64, policy: &str) -> wasmtime::Result<u16> {
        let mut conn = TcpStream::connect(self.addr)?;
        // The operator's identity the templates' RBAC filter asks of the reset path.
        let request = format!(
            "POST {}?policy={policy} HTTP/1.1\r\nhost: conformance\r\n\
             x-breakwater-operator: demo-operator\r\ncontent-length: 0\r\n\
             connection: close\r\n\r\n",
            self.reset_path
        );
        let a = http_exchange(&mut conn, request.as_bytes()).map_err(wasmtime::Error::msg)?;
        Ok(a.status)
    }

    fn status(&mut self, _now_ms: u64) -> wasmtime::Result<serde_json::Value> {
        let mut conn = TcpStream::connect(self.addr)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nhost: conformance\r\nconnection: close\r\n\r\n",
            self.status_path
        );
        let a = http_exchange(&mut conn, request.as_bytes()).map_err(wasmtime::Error::msg)?;
        Ok(serde_json::from_str(&a.body)?)
    }
}

impl Drop for EnvoyDriver {
    /// Lets every request still held go (so no client thread waits out its timeout).
    fn drop(&mut self) {
        for f in self.flights.values() {
            self.upstream.release(&f.token, Release::Status(200));
        }
    }
}
