//! The scripted scenario: the ordered steps, the context they share, and the checks.
//!
//! A demo that only prints claims proves nothing; each step here states what breakwater should
//! do, makes it happen against the real Envoy, and then checks the claim against what the
//! clients got and what the upstream saw. A claim that does not hold ends the demo with
//! [`DemoError::Check`] naming the step, the claim and the evidence. The context also owns the
//! demo's discipline: every request has a timeout, every loop a bound, and every request, pause
//! and wait first looks at the Ctrl-C flag.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::DemoError;
use super::interrupt;
use super::narrate::Narrator;
use super::record::{Kind, Recorder};
use super::{steps_breaker, steps_edge};
use envoy_kit::client::{GrpcRequest, GrpcResponse, HttpRequest, HttpResponse, send_all};
use envoy_kit::envoy::Envoy;
use envoy_kit::upstream::UpstreamServer;

/// One request's timeout: far above any latency the demo provokes (300 ms delays).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the breaker states are read from Envoy for the timeline.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A step of the scenario.
pub type StepFn = fn(&mut Ctx<'_>) -> Result<(), DemoError>;

/// The steps in order: title, what it shows, and the function that runs and checks it.
pub const STEPS: [(&str, &str, StepFn); 7] = [
    (
        "Healthy traffic",
        "Requests flow through Envoy and breakwater to a healthy upstream.",
        steps_breaker::healthy,
    ),
    (
        "The upstream fails: the breaker opens",
        "The upstream answers 503; after 5 failures the checkout breaker opens and sheds load.",
        steps_breaker::breaker_opens,
    ),
    (
        "Recovery: half-open probes, then closed",
        "The upstream heals; after 3 s the breaker admits at most 2 probes, then closes.",
        steps_breaker::recovery,
    ),
    (
        "A burst at the bulkhead",
        "24 concurrent requests against /inventory (4 in flight + 4 queued, upstream 300 ms).",
        steps_edge::bulkhead,
    ),
    (
        "Failure injection",
        "/recommendations: the x-failure-inject header, then 20% aborts and 10% 300 ms delays.",
        steps_edge::injection,
    ),
    (
        "Retries absorb a flaky upstream",
        "/flaky: the upstream alternates 503 and 200; the router retries within a budget.",
        steps_edge::retries,
    ),
    (
        "gRPC: UNAVAILABLE while the payments breaker is open",
        "The payments gRPC service fails with UNAVAILABLE; breakwater answers grpc-status 14.",
        steps_edge::grpc,
    ),
];

/// What a step can reach: the stack, the recorder, the narrator.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Envoy's listener.
    pub addr: SocketAddr,
    /// The upstream behind Envoy (in-process: its counters are exact).
    pub upstream: &'a UpstreamServer,
    /// The running Envoy.
    pub envoy: &'a Envoy,
    /// The log of requests and states.
    pub rec: &'a Recorder,
    /// The narration.
    pub say: &'a Narrator,
    /// When the checkout breaker was seen open (set by step 2, used by step 3).
    pub checkout_opened: Option<Instant>,
    /// Record a 2xx that took at least this long as [`Kind::Delayed`] (the injection step).
    pub delayed_after: Option<Duration>,
    step: usize,
    title: &'static str,
}

/// One HTTP request's result.
#[derive(Debug)]
pub struct Answer {
    /// How it ended.
    pub kind: Kind,
    /// The response, if one came.
    pub rsp: Option<HttpResponse>,
    /// How long it took.
    pub latency: Duration,
}

impl Answer {
    /// A response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.rsp.as_ref().and_then(|r| r.header(name))
    }

    /// The status (0 without a response).
    pub fn status(&self) -> u16 {
        self.rsp.as_ref().map_or(0, |r| r.status)
    }
}

/// How many of `answers` ended as `kind`.
pub(crate) fn count(answers: &[Answer], kind: Kind) -> usize {
    answers.iter().filter(|a| a.kind == kind).count()
}

/// `status:kind` of every answer, for the evidence of a failed check.
pub(crate) fn kinds(answers: &[Answer]) -> String {
    answers
        .iter()
        .map(|a| format!("{}:{}", a.status(), a.kind.label()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'a> Ctx<'a> {
    /// A context for the stack; steps are entered with [`Ctx::enter`].
    pub fn new(
        addr: SocketAddr,
        upstream: &'a UpstreamServer,
        envoy: &'a Envoy,
        rec: &'a Recorder,
        say: &'a Narrator,
    ) -> Self {
        Self {
            addr,
            upstream,
            envoy,
            rec,
            say,
            checkout_opened: None,
            delayed_after: None,
            step: 0,
            title: "",
        }
    }

    /// Makes `step` the current one (its requests are recorded under it).
    pub fn enter(&mut self, step: usize, title: &'static str) {
        self.step = step;
        self.title = title;
    }

    fn stop_if_interrupted(&self) -> Result<(), DemoError> {
        if interrupt::requested() {
            Err(DemoError::Interrupted)
        } else {
            Ok(())
        }
    }

    fn answer(
        &self,
        sent: Instant,
        rsp: Result<HttpResponse, envoy_kit::client::ClientError>,
    ) -> Answer {
        let latency = rsp.as_ref().map_or_else(|_| sent.elapsed(), |r| r.elapsed);
        let kind = match Kind::of_http(&rsp) {
            Kind::Ok if self.delayed_after.is_some_and(|d| latency >= d) => Kind::Delayed,
            kind => kind,
        };
        self.rec.record(self.step, sent, kind, latency);
        self.say.strip_push(kind);
        Answer {
            kind,
            rsp: rsp.ok(),
            latency,
        }
    }

    /// `GET path` through Envoy on a fresh connection (so requests spread over both workers).
    pub fn get(&self, path: &str) -> Result<Answer, DemoError> {
        self.send(HttpRequest::get(path))
    }

    /// Sends one request through Envoy; recorded and drawn on the strip.
    pub fn send(&self, req: HttpRequest) -> Result<Answer, DemoError> {
        self.stop_if_interrupted()?;
        let sent = Instant::now();
        let rsp = req
            .header("connection", "close")
            .timeout(REQUEST_TIMEOUT)
            .send(self.addr);
        // Ctrl-C in a terminal reaches Envoy too: its dying is then not the demo's failure.
        self.stop_if_interrupted()?;
        Ok(self.answer(sent, rsp))
    }

    /// Sends every request at once (one connection each); answers in the same order.
    pub fn burst(&self, reqs: Vec<HttpRequest>) -> Result<Vec<Answer>, DemoError> {
        self.stop_if_interrupted()?;
        let sent = Instant::now();
        let reqs = reqs
            .into_iter()
            .map(|r| r.header("connection", "close").timeout(REQUEST_TIMEOUT))
            .collect();
        let results = send_all(self.addr, reqs);
        self.stop_if_interrupted()?;
        Ok(results.into_iter().map(|r| self.answer(sent, r)).collect())
    }

    /// One unary gRPC call through Envoy; recorded and drawn on the strip.
    pub fn grpc(&self, path: &str) -> Result<(Kind, Option<GrpcResponse>), DemoError> {
        self.stop_if_interrupted()?;
        let sent = Instant::now();
        let rsp = GrpcRequest::new(path)
            .message("{\"amount\": 42}")
            .timeout(REQUEST_TIMEOUT)
            .send(self.addr);
        self.stop_if_interrupted()?;
        let kind = Kind::of_grpc(&rsp);
        let latency = rsp.as_ref().map_or_else(|_| sent.elapsed(), |r| r.elapsed);
        self.rec.record(self.step, sent, kind, latency);
        self.say.strip_push(kind);
        Ok((kind, rsp.ok()))
    }

    /// Sleeps, unless Ctrl-C.
    pub fn pause(&self, duration: Duration) -> Result<(), DemoError> {
        if interrupt::sleep(duration) {
            Ok(())
        } else {
            Err(DemoError::Interrupted)
        }
    }

    /// Narrates `claim` as checked if `holds`; otherwise ends the demo with the evidence.
    pub fn check(
        &self,
        holds: bool,
        claim: &str,
        evidence: impl FnOnce() -> String,
    ) -> Result<(), DemoError> {
        if holds {
            self.say.pass(claim);
            return Ok(());
        }
        let detail = evidence();
        self.say.fail(claim, &detail);
        Err(DemoError::Check {
            step: self.title.to_owned(),
            claim: claim.to_owned(),
            detail,
        })
    }

    /// Requests the upstream has received so far (retries included).
    pub fn upstream_total(&self) -> u64 {
        self.upstream.total()
    }

    /// breakwater's status document (`/breakwater/status`): its HTTP status and JSON.
    pub fn status_doc(&self) -> Result<(u16, Value), DemoError> {
        self.stop_if_interrupted()?;
        let rsp = HttpRequest::get("/breakwater/status")
            .timeout(REQUEST_TIMEOUT)
            .send(self.addr)
            .map_err(|e| DemoError::Setup(format!("GET /breakwater/status: {e}")))?;
        let doc = serde_json::from_slice(&rsp.body).unwrap_or(Value::Null);
        Ok((rsp.status, doc))
    }

    /// A policy's breaker state in a status document (`closed`, `open`, …).
    pub fn policy_state(doc: &Value, policy: &str) -> String {
        doc.get("policies")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|p| p["name"] == policy))
            .and_then(|p| p["state"].as_str())
            .unwrap_or("unknown")
            .to_owned()
    }

    /// Whether Envoy's log holds `needle` (transition lines).
    pub fn log_has(&self, needle: &str) -> bool {
        self.envoy.log_text().contains(needle)
    }
}

/// Runs every step in order, with the state sampler alongside.
pub fn run_steps(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    let stop = AtomicBool::new(false);
    let admin = ctx.envoy.admin_addr();
    let rec = ctx.rec;
    std::thread::scope(|scope| {
        scope.spawn(|| sample_states(admin, rec, &stop));
        let result = run_in_order(ctx);
        stop.store(true, Ordering::SeqCst);
        result
    })
}

fn run_in_order(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    for (i, (title, what, run)) in STEPS.iter().enumerate() {
        let step = ctx.rec.begin_step(title);
        ctx.enter(step, title);
        ctx.say.step(i + 1, STEPS.len(), title, what);
        // Every step starts from a healthy upstream with zeroed counters (and max in-flight).
        ctx.upstream.reset();
        let result = run(ctx);
        ctx.rec.end_step(step, ctx.upstream_total());
        result?;
    }
    Ok(())
}

/// Reads every policy's breaker state gauge from Envoy's admin every [`SAMPLE_EVERY`]:
/// `envoy_breakwater_breaker_state{policy=…}` from `/stats/prometheus`, the same for both
/// adapters (the filter's through the stats tags, the module's labelled natively).
fn sample_states(admin: SocketAddr, rec: &Recorder, stop: &AtomicBool) {
    // Bounded: the demo ends in well under the hour this allows.
    for _ in 0..36_000 {
        if stop.load(Ordering::SeqCst) || interrupt::requested() {
            return;
        }
        if let Ok(rsp) = HttpRequest::get("/stats/prometheus?filter=breaker_state")
            .timeout(Duration::from_secs(1))
            .send(admin)
        {
            for (policy, state) in parse_states(&rsp.text()) {
                rec.record_state(&policy, state);
            }
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// The breaker state gauge, as Prometheus sees it.
pub const STATE_GAUGE: &str = "envoy_breakwater_breaker_state";

/// `(policy, state)` for every `envoy_breakwater_breaker_state{policy="…"} N` line of
/// `/stats/prometheus`.
pub fn parse_states(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, rest) = l.split_once('{')?;
            if name != STATE_GAUGE {
                return None;
            }
            let (labels, value) = rest.split_once('}')?;
            let policy = labels
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("policy=\""))?
                .strip_suffix('"')?;
            let value: f64 = value.trim().parse().ok()?;
            Some((policy.to_owned(), value as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_read_from_prometheus_text() {
        let text = "# TYPE envoy_breakwater_breaker_state gauge\n\
            envoy_breakwater_breaker_state{policy=\"checkout\"} 1\n\
            envoy_breakwater_bulkhead_inflight{policy=\"checkout\"} 3\n\
            envoy_breakwater_breaker_state{policy=\"payments\"} 0\n\
            envoy_breakwater_breaker_state_total{policy=\"other\"} 5\n";
        assert_eq!(
            parse_states(text),
            vec![("checkout".to_owned(), 1), ("payments".to_owned(), 0)]
        );
        assert!(parse_states("not prometheus").is_empty());
    }
}
