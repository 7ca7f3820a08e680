//! Turning an upstream answer into a verdict, in constant time.
//!
//! Classification runs once per upstream attempt, on every worker, inside Envoy's request path.
//! So the configuration is compiled once into flat tables ([`Classifier::new`]) and
//! [`Classifier::classify`] is two bounds checks and an array read: no map lookup, no string
//! comparison, no allocation.
//!
//! Precedence when compiling, lowest first: the defaults, then the configured classes (`"5xx"`),
//! then the configured exact statuses (`"503"`). So an exact status beats its class, and *any*
//! configured entry beats *any* default: `"5xx": "failure"` makes 501 a failure too, although 501
//! alone is not one by default.

use core::fmt;

use super::category::ErrorCategory;
use super::config::{HttpKey, OutcomesConfig, Treatment, parse_grpc_key};
use super::grpc;

/// How an attempt ended, as the host saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// The upstream answered with a status.
    Response,
    /// The connection was reset (or the stream aborted) before a complete answer.
    Reset,
    /// No connection to the upstream could be made.
    ConnectFailure,
    /// The upstream did not answer within the timeout.
    Timeout,
}

/// One upstream attempt's result, as classified.
///
/// For a gRPC call, `grpc_status` comes from the trailers (or the headers of a trailers-only
/// answer) and decides the verdict: the HTTP status of a gRPC answer is nearly always 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// How the attempt ended.
    pub kind: OutcomeKind,
    /// The HTTP `:status`, when there was one.
    pub http_status: Option<u16>,
    /// The `grpc-status`, when there was one.
    pub grpc_status: Option<u32>,
}

impl Outcome {
    /// An HTTP answer with `status`.
    pub const fn http(status: u16) -> Self {
        Outcome {
            kind: OutcomeKind::Response,
            http_status: Some(status),
            grpc_status: None,
        }
    }

    /// A gRPC answer (HTTP 200) with status `code`.
    pub const fn grpc(code: u32) -> Self {
        Outcome {
            kind: OutcomeKind::Response,
            http_status: Some(200),
            grpc_status: Some(code),
        }
    }

    /// An attempt that ended without an answer.
    pub const fn without_answer(kind: OutcomeKind) -> Self {
        Outcome {
            kind,
            http_status: None,
            grpc_status: None,
        }
    }

    /// This outcome as the answer to a gRPC request (`grpc_request`) or another one. A gRPC
    /// call answered HTTP 200 without any `grpc-status` (no trailers, or trailers without it)
    /// did not succeed: the gRPC specification treats a missing status as an error, so it is
    /// judged as `UNKNOWN`. Every adapter reports what it saw and the engine applies this
    /// rule, once, so the filter, the component and the module cannot judge it differently.
    #[must_use]
    pub const fn for_request(self, grpc_request: bool) -> Self {
        match self {
            Outcome {
                kind: OutcomeKind::Response,
                http_status: Some(200),
                grpc_status: None,
            } if grpc_request => Outcome::grpc(grpc::UNKNOWN),
            other => other,
        }
    }

    /// The error category, or `None` for a success. Resets and connect failures are
    /// `transient`; timeouts are `timeout`; an answer is categorised by its gRPC status when it
    /// has one, otherwise by its HTTP status.
    pub const fn category(&self) -> Option<ErrorCategory> {
        match self.kind {
            OutcomeKind::Reset | OutcomeKind::ConnectFailure => Some(ErrorCategory::Transient),
            OutcomeKind::Timeout => Some(ErrorCategory::Timeout),
            OutcomeKind::Response => match (self.grpc_status, self.http_status) {
                (Some(code), _) => ErrorCategory::from_grpc(code),
                (None, Some(status)) => ErrorCategory::from_http(status),
                (None, None) => None,
            },
        }
    }
}

/// What an outcome means for the breaker and for retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// Counts against the circuit breaker.
    pub failure: bool,
    /// May be retried.
    pub retryable: bool,
}

impl Verdict {
    /// Counts against the breaker and may be retried.
    pub const FAILURE: Verdict = Verdict {
        failure: true,
        retryable: true,
    };
    /// Counts against the breaker, not retried.
    pub const FAILURE_NO_RETRY: Verdict = Verdict {
        failure: true,
        retryable: false,
    };
    /// Retried, but not held against the breaker.
    pub const RETRYABLE: Verdict = Verdict {
        failure: false,
        retryable: true,
    };
    /// A success or the caller's fault: neither.
    pub const IGNORE: Verdict = Verdict {
        failure: false,
        retryable: false,
    };
}

/// Size of the HTTP table: statuses 0..=599 (only 100..=599 are ever read).
const HTTP_TABLE: usize = 600;
/// Size of the gRPC table: codes 0..=16.
const GRPC_TABLE: usize = grpc::MAX_CODE as usize + 1;

/// A compiled outcome classification: the defaults with one policy's overrides applied.
#[derive(Clone, PartialEq, Eq)]
pub struct Classifier {
    http: [Verdict; HTTP_TABLE],
    grpc: [Verdict; GRPC_TABLE],
    reset: Verdict,
    connect_failure: Verdict,
    timeout: Verdict,
}

impl Classifier {
    /// Compiles `config` over the defaults. Keys that [`OutcomesConfig::validate`] would reject
    /// are skipped here (validation reports them; compiling never fails).
    pub fn new(config: &OutcomesConfig) -> Classifier {
        let mut http = [Verdict::IGNORE; HTTP_TABLE];
        for (status, v) in http.iter_mut().enumerate().skip(500) {
            if status != 501 {
                *v = Verdict::FAILURE;
            }
        }
        let mut grpc = [Verdict::IGNORE; GRPC_TABLE];
        for code in [
            grpc::UNAVAILABLE,
            grpc::INTERNAL,
            grpc::UNKNOWN,
            grpc::DEADLINE_EXCEEDED,
            grpc::DATA_LOSS,
        ] {
            if let Some(v) = grpc.get_mut(code as usize) {
                *v = Verdict::FAILURE;
            }
        }

        // Classes first, so that exact statuses written afterwards win.
        for (key, t) in &config.http {
            if let Some(HttpKey::Class(class)) = HttpKey::parse(key) {
                let start = usize::from(class) * 100;
                for v in http.iter_mut().skip(start).take(100) {
                    *v = t.verdict();
                }
            }
        }
        for (key, t) in &config.http {
            if let Some(HttpKey::Status(status)) = HttpKey::parse(key)
                && let Some(v) = http.get_mut(usize::from(status))
            {
                *v = t.verdict();
            }
        }
        for (key, t) in &config.grpc {
            if let Some(v) = parse_grpc_key(key).and_then(|c| grpc.get_mut(c as usize)) {
                *v = t.verdict();
            }
        }

        let or_failure = |t: Option<Treatment>| t.unwrap_or(Treatment::Failure).verdict();
        Classifier {
            http,
            grpc,
            reset: or_failure(config.reset),
            connect_failure: or_failure(config.connect_failure),
            timeout: or_failure(config.timeout),
        }
    }

    /// The verdict for `outcome`: O(1), no allocation.
    ///
    /// A response with a `grpc_status` is judged by it (codes above 16 as `UNKNOWN`); otherwise
    /// by its HTTP status, where a status outside 100..=599 (not HTTP at all) is judged like 500.
    /// A response with neither status carries nothing to judge and is ignored.
    #[must_use]
    pub fn classify(&self, outcome: &Outcome) -> Verdict {
        match outcome.kind {
            OutcomeKind::Reset => self.reset,
            OutcomeKind::ConnectFailure => self.connect_failure,
            OutcomeKind::Timeout => self.timeout,
            OutcomeKind::Response => match (outcome.grpc_status, outcome.http_status) {
                (Some(code), _) => {
                    let code = grpc::normalize_grpc_code(code) as usize;
                    self.grpc.get(code).copied().unwrap_or(Verdict::FAILURE)
                }
                (None, Some(status)) => {
                    let status = if (100..=599).contains(&status) {
                        status
                    } else {
                        500
                    };
                    self.http
                        .get(usize::from(status))
                        .copied()
                        .unwrap_or(Verdict::FAILURE)
                }
                (None, None) => Verdict::IGNORE,
            },
        }
    }
}

impl Default for Classifier {
    /// The defaults alone.
    fn default() -> Self {
        Classifier::new(&OutcomesConfig::default())
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failing_http: Vec<usize> = (100..HTTP_TABLE)
            .filter(|&s| self.http.get(s).is_some_and(|v| v.failure))
            .collect();
        let failing_grpc: Vec<&str> = (0..=grpc::MAX_CODE)
            .filter(|&c| self.grpc.get(c as usize).is_some_and(|v| v.failure))
            .filter_map(grpc::grpc_code_name)
            .collect();
        f.debug_struct("Classifier")
            .field("failing_http", &failing_http)
            .field("failing_grpc", &failing_grpc)
            .field("reset", &self.reset)
            .field("connect_failure", &self.connect_failure)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
