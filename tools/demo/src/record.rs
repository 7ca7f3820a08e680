//! What happened during the demo: every request's outcome and latency, the breaker states
//! sampled from Envoy, and the per-step summary built from them.
//!
//! The narration tells the story as it happens; the recorder keeps the evidence, so the summary
//! table and the HTML timeline are computed from the same data the checks looked at, never
//! retyped. Everything is timestamped relative to one start instant.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use envoy_kit::client::{ClientError, GrpcResponse, HttpResponse};

/// How one request ended, as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// 2xx from the upstream (gRPC status 0).
    Ok,
    /// Passed, but held by an injected delay (recognised by its latency).
    Delayed,
    /// The upstream's own error (5xx, non-zero gRPC status) reached the client.
    UpstreamError,
    /// breakwater's `circuit_open` local reply.
    CircuitOpen,
    /// breakwater's `bulkhead_full` or `queue_timeout` local reply.
    Shed,
    /// breakwater's `injected_fault` local reply.
    Injected,
    /// No answer (connection error, timeout) or an unexpected one.
    Error,
}

impl Kind {
    /// Every kind, in table order.
    pub const ALL: [Kind; 7] = [
        Kind::Ok,
        Kind::Delayed,
        Kind::UpstreamError,
        Kind::CircuitOpen,
        Kind::Shed,
        Kind::Injected,
        Kind::Error,
    ];

    /// A short column name.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Delayed => "delayed",
            Kind::UpstreamError => "upstream err",
            Kind::CircuitOpen => "open",
            Kind::Shed => "shed",
            Kind::Injected => "injected",
            Kind::Error => "error",
        }
    }

    /// One character for the live progress strip.
    pub fn glyph(self) -> char {
        match self {
            Kind::Ok => '.',
            Kind::Delayed => 'd',
            Kind::UpstreamError => 'x',
            Kind::CircuitOpen => 'o',
            Kind::Shed => 's',
            Kind::Injected => 'i',
            Kind::Error => '!',
        }
    }

    /// Whether breakwater answered locally (the upstream never saw the request).
    pub fn is_local(self) -> bool {
        matches!(self, Kind::CircuitOpen | Kind::Shed | Kind::Injected)
    }

    /// Classifies an HTTP answer by its `x-breakwater` reason and status.
    pub fn of_http(rsp: &Result<HttpResponse, ClientError>) -> Kind {
        match rsp {
            Err(_) => Kind::Error,
            Ok(r) => Self::classify(r.status, r.header("x-breakwater"), None),
        }
    }

    /// Classifies a gRPC answer by its `x-breakwater` reason and `grpc-status`.
    pub fn of_grpc(rsp: &Result<GrpcResponse, ClientError>) -> Kind {
        match rsp {
            Err(_) => Kind::Error,
            Ok(r) => Self::classify(r.http_status, r.header("x-breakwater"), Some(r.grpc_status)),
        }
    }

    /// The pure rule behind [`Kind::of_http`] and [`Kind::of_grpc`].
    pub fn classify(status: u16, reason: Option<&str>, grpc: Option<Option<u32>>) -> Kind {
        match (reason, grpc) {
            (Some("circuit_open"), _) => Kind::CircuitOpen,
            (Some("bulkhead_full" | "queue_timeout"), _) => Kind::Shed,
            (Some("injected_fault"), _) => Kind::Injected,
            // The upstream's own failure, marked (or answered) after the router's retries.
            (Some("retries_exhausted" | "network_error" | "upstream_timeout"), _) => {
                Kind::UpstreamError
            }
            (Some(_), _) => Kind::Error,
            (None, Some(Some(0))) if status == 200 => Kind::Ok,
            (None, Some(_)) if status == 200 => Kind::UpstreamError,
            (None, Some(_)) => Kind::Error,
            (None, None) if (200..300).contains(&status) => Kind::Ok,
            (None, None) if status >= 500 => Kind::UpstreamError,
            (None, None) => Kind::Error,
        }
    }
}

/// One request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was sent, since the demo started.
    pub at: Duration,
    /// The step it belongs to (index into [`Recorder::steps`]).
    pub step: usize,
    /// How it ended.
    pub kind: Kind,
    /// How long it took.
    pub latency: Duration,
}

/// Breaker state of a policy at one instant, read from Envoy's `state` gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSample {
    /// When it was read.
    pub at: Duration,
    /// The policy.
    pub policy: String,
    /// 0 closed, 1 open, 2 half-open.
    pub state: u64,
}

/// One step's span and what the upstream saw during it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpan {
    /// The title.
    pub title: String,
    /// When it started.
    pub start: Duration,
    /// When it ended (`None` while running).
    pub end: Option<Duration>,
    /// Requests the upstream received during the step (retries included).
    pub upstream_hits: u64,
}

#[derive(Debug, Default)]
struct Log {
    samples: Vec<Sample>,
    states: Vec<StateSample>,
    steps: Vec<StepSpan>,
}

/// The shared log; `Sync`, so the state sampler thread writes to it too.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    log: Mutex<Log>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// The most samples kept (every loop of the demo is bounded far below this).
const MAX_SAMPLES: usize = 100_000;

impl Recorder {
    /// An empty log starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            log: Mutex::new(Log::default()),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Opens a step; returns its index.
    pub fn begin_step(&self, title: &str) -> usize {
        let mut log = self.log();
        log.steps.push(StepSpan {
            title: title.to_owned(),
            start: self.now(),
            end: None,
            upstream_hits: 0,
        });
        log.steps.len() - 1
    }

    /// Closes a step with the upstream hits it caused.
    pub fn end_step(&self, step: usize, upstream_hits: u64) {
        let now = self.now();
        if let Some(s) = self.log().steps.get_mut(step) {
            s.end = Some(now);
            s.upstream_hits = upstream_hits;
        }
    }

    /// Records one request that was sent at `sent` (an instant).
    pub fn record(&self, step: usize, sent: Instant, kind: Kind, latency: Duration) {
        let at = sent.saturating_duration_since(self.start);
        let mut log = self.log();
        if log.samples.len() < MAX_SAMPLES {
            log.samples.push(Sample {
                at,
                step,
                kind,
                latency,
            });
        }
    }

    /// Records a breaker state read now.
    pub fn record_state(&self, policy: &str, state: u64) {
        let at = self.now();
        let mut log = self.log();
        if log.states.len() < MAX_SAMPLES {
            log.states.push(StateSample {
                at,
                policy: policy.to_owned(),
                state,
            });
        }
    }

    /// Every request so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.log().samples.clone()
    }

    /// Every state sample so far.
    pub fn states(&self) -> Vec<StateSample> {
        self.log().states.clone()
    }

    /// Every step so far.
    pub fn steps(&self) -> Vec<StepSpan> {
        self.log().steps.clone()
    }

    /// The summary row of each step.
    pub fn summary(&self) -> Vec<StepSummary> {
        let log = self.log();
        log.steps
            .iter()
            .enumerate()
            .map(|(i, span)| StepSummary::of(span, log.samples.iter().filter(|s| s.step == i)))
            .collect()
    }
}

/// One row of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSummary {
    /// The step's title.
    pub title: String,
    /// Requests sent.
    pub requests: u64,
    /// Count per kind, in [`Kind::ALL`] order.
    pub kinds: [u64; Kind::ALL.len()],
    /// Requests the upstream received (retries included).
    pub upstream_hits: u64,
    /// Requests answered by breakwater itself: upstream calls that did not happen.
    pub saved: u64,
    /// Latency percentiles p50, p90, p99.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

impl StepSummary {
    fn of<'a>(span: &StepSpan, samples: impl Iterator<Item = &'a Sample>) -> Self {
        let mut kinds = [0; Kind::ALL.len()];
        let mut latencies = Vec::new();
        for s in samples {
            if let Some(i) = Kind::ALL.iter().position(|k| *k == s.kind) {
                kinds[i] += 1;
            }
            latencies.push(s.latency);
        }
        latencies.sort_unstable();
        let saved = Kind::ALL
            .iter()
            .zip(kinds)
            .filter(|(k, _)| k.is_local())
            .map(|(_, n)| n)
            .sum();
        Self {
            title: span.title.clone(),
            requests: latencies.len() as u64,
            kinds,
            upstream_hits: span.upstream_hits,
            saved,
            p50: percentile(&latencies, 50),
            p90: percentile(&latencies, 90),
            p99: percentile(&latencies, 99),
        }
    }

    /// The count of one kind.
    pub fn count(&self, kind: Kind) -> u64 {
        Kind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.kinds[i])
    }
}

/// The nearest-rank percentile of sorted values (zero when empty).
pub fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (pct * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_reply_contract() {
        assert_eq!(Kind::classify(200, None, None), Kind::Ok);
        assert_eq!(Kind::classify(503, None, None), Kind::UpstreamError);
        assert_eq!(
            Kind::classify(503, Some("circuit_open"), None),
            Kind::CircuitOpen
        );
        assert_eq!(Kind::classify(429, Some("queue_timeout"), None), Kind::Shed);
        assert_eq!(
            Kind::classify(503, Some("injected_fault"), None),
            Kind::Injected
        );
        assert_eq!(Kind::classify(200, None, Some(Some(0))), Kind::Ok);
        assert_eq!(
            Kind::classify(200, None, Some(Some(14))),
            Kind::UpstreamError
        );
        assert_eq!(
            Kind::classify(200, Some("circuit_open"), Some(Some(14))),
            Kind::CircuitOpen
        );
        assert_eq!(Kind::classify(404, None, None), Kind::Error);
        assert_eq!(
            Kind::classify(503, Some("retries_exhausted"), None),
            Kind::UpstreamError,
            "a failure the router retried in vain is still the upstream's"
        );
        assert_eq!(
            Kind::classify(200, Some("retries_exhausted"), Some(Some(14))),
            Kind::UpstreamError
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 90), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
