//! The worker's side: [`serve`] runs one engine of the shared-state component over a Redis
//! store and answers one line per command line.
//!
//! Commands (`now` in milliseconds of virtual time; replies as the parent reads them, after
//! the `@@ ` prefix):
//!
//! | command | reply |
//! |---|---|
//! | `req <now> <path>` | `proceed <ticket>`, `queue <ticket>`, `delay <ticket>`, `reject <reason>` or `pass` |
//! | `grab <now> <path> <max>` | `granted <n> <tickets,…>`: requests until one does not proceed (a held one is cancelled), at most `max` |
//! | `resp <now> <ticket> <status>` | `ok` |
//! | `tick <now>` | `ok <resumed>`: `handle-timeout`, then the actions (resumed tickets count; replies go) |
//! | `state <now> <policy>` | `state <closed\|open\|half_open\|none>` |
//! | `status <now>` | `status <json>` (the engine's `status-json`) |
//! | `calls` | `calls <gets> <sets> <unavailable> <conflicts>`: this process's store calls |
//! | `quit` | (exits) |
//!
//! Anything wrong answers `error <what>`; a trap is an error too (and would fail the test).

use std::io::{BufRead, Write};
use std::sync::Arc;

use component_host::{
    Action, BreakerState, Decision, GuestEngine, Outcome, OutcomeKind, RejectReason, StoreLink,
    request,
};
use fleet_store::{RedisOptions, RedisStore};

use super::worker::{REPLY, Spec, WORKER_ENV};

const MS: u64 = 1_000_000;

/// Runs the worker described by [`WORKER_ENV`] until `quit` or the end of stdin. Does nothing
/// when the variable is not set (the test that calls it is then being run by hand).
pub fn serve() {
    let Ok(text) = std::env::var(WORKER_ENV) else {
        return;
    };
    let out = std::io::stdout();
    let say = |line: &str| {
        let mut out = out.lock();
        let _ = writeln!(out, "{REPLY}{line}");
        let _ = out.flush();
    };
    let mut engine = match start(&text) {
        Ok(engine) => engine,
        Err(e) => {
            say(&format!("error {e}"));
            return;
        }
    };
    say("ready");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "quit" {
            break;
        }
        match engine.run(&line) {
            Ok(reply) => say(&reply),
            Err(e) => say(&format!("error {line}: {e}")),
        }
    }
}

/// One engine and its store's counters.
struct Served {
    engine: GuestEngine,
    link: StoreLink,
}

fn start(text: &str) -> Result<Served, String> {
    let spec = Spec::from_json(text)?;
    let store = RedisStore::open(
        &spec.url,
        RedisOptions {
            prefix: spec.prefix.clone(),
            ..RedisOptions::default()
        },
    )?;
    let link = StoreLink::new(Arc::new(store));
    let engine = GuestEngine::shared(link.clone(), &spec.config, 0, Some(spec.seed))
        .map_err(|e| format!("trap: {e:?}"))?
        .map_err(|e| format!("config: {e:?}"))?;
    Ok(Served { engine, link })
}

fn num(word: Option<&str>, what: &str) -> Result<u64, String> {
    word.ok_or_else(|| format!("missing {what}"))?
        .parse()
        .map_err(|e| format!("{what}: {e}"))
}

fn trap(e: wasmtime::Error) -> String {
    format!("trap: {e:?}")
}

impl Served {
    fn run(&mut self, line: &str) -> Result<String, String> {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        match command {
            "req" => {
                let now = num(words.next(), "now")? * MS;
                let path = words.next().unwrap_or("/");
                let d = self
                    .engine
                    .on_request(now, &request("GET", path))
                    .map_err(trap)?;
                Ok(match d {
                    Decision::Pass => "pass".to_owned(),
                    Decision::Proceed(p) => format!("proceed {}", p.ticket),
                    Decision::Queue(h) => format!("queue {}", h.ticket),
                    Decision::Delay(h) => format!("delay {}", h.ticket),
                    Decision::Reject(r) => {
                        format!("reject {}", reason_name(r.reason))
                    }
                })
            }
            "grab" => {
                let now = num(words.next(), "now")? * MS;
                let path = words.next().unwrap_or("/").to_owned();
                let max = num(words.next(), "max")?;
                let mut tickets = Vec::new();
                while (tickets.len() as u64) < max {
                    match self
                        .engine
                        .on_request(now, &request("GET", &path))
                        .map_err(trap)?
                    {
                        Decision::Proceed(p) => tickets.push(p.ticket.to_string()),
                        Decision::Queue(h) | Decision::Delay(h) => {
                            self.engine.cancel(now, h.ticket).map_err(trap)?;
                            break;
                        }
                        Decision::Pass | Decision::Reject(_) => break,
                    }
                }
                Ok(format!("granted {} {}", tickets.len(), tickets.join(",")))
            }
            "resp" => {
                let now = num(words.next(), "now")? * MS;
                let ticket = num(words.next(), "ticket")?;
                let status = u16::try_from(num(words.next(), "status")?)
                    .map_err(|e| format!("status: {e}"))?;
                let outcome = Outcome {
                    kind: OutcomeKind::Response,
                    http_status: Some(status),
                    grpc_status: None,
                };
                self.engine
                    .on_response(now, ticket, outcome, 1)
                    .map_err(trap)?;
                Ok("ok".to_owned())
            }
            "tick" => {
                let now = num(words.next(), "now")? * MS;
                self.engine.handle_timeout(now).map_err(trap)?;
                let mut resumed = 0;
                while let Some(a) = self.engine.poll_action().map_err(trap)? {
                    if matches!(a, Action::Resume(_)) {
                        resumed += 1;
                    }
                }
                Ok(format!("ok {resumed}"))
            }
            "state" => {
                let now = num(words.next(), "now")? * MS;
                let policy = words.next().ok_or("missing policy")?;
                let status = self.engine.status(now).map_err(trap)?;
                let state = status
                    .policies
                    .iter()
                    .find(|p| p.name == policy)
                    .ok_or_else(|| format!("no policy {policy}"))?
                    .state;
                Ok(format!("state {}", state.map_or("none", state_name)))
            }
            "status" => {
                let now = num(words.next(), "now")? * MS;
                Ok(format!(
                    "status {}",
                    self.engine.status_json(now).map_err(trap)?
                ))
            }
            "calls" => {
                let c = self.link.calls.snapshot();
                Ok(format!(
                    "calls {} {} {} {}",
                    c.gets, c.sets, c.unavailable, c.conflicts
                ))
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }
}

/// The `x-breakwater` name of a WIT reason.
fn reason_name(r: RejectReason) -> &'static str {
    match r {
        RejectReason::CircuitOpen => "circuit_open",
        RejectReason::BulkheadFull => "bulkhead_full",
        RejectReason::QueueTimeout => "queue_timeout",
        RejectReason::InjectedFault => "injected_fault",
    }
}

/// Core's name of a WIT breaker state.
fn state_name(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    }
}
