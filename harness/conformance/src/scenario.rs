//! The scenario file format (documented in `harness/conformance/scenarios/README.md`) and the checks of
//! its expectations.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{Observed, ObservedAction, Reply, Sight};

/// One scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (test output).
    pub name: String,
    /// What the scenario shows, for humans.
    #[serde(default)]
    pub description: String,
    /// Seed of the engines' random streams (default 1; see [`Scenario::engine_seed`]).
    #[serde(default = "one")]
    pub seed: u64,
    /// The plugin configuration, exactly as the filter and the component take it.
    pub config: Value,
    /// Engines sharing state, as Envoy's workers do (default 1); requests name theirs.
    #[serde(default = "one_usize")]
    pub workers: usize,
    /// Adapters that cannot play this scenario, each with the reason (`"component": "..."`).
    /// A driver that cannot play a scenario not listed here fails the run: nothing is skipped
    /// silently.
    #[serde(default)]
    pub not_for: BTreeMap<String, String>,
    /// The timeline.
    pub steps: Vec<Step>,
}

fn one() -> u64 {
    1
}

fn one_usize() -> usize {
    1
}

impl Scenario {
    /// Parses a scenario document.
    pub fn from_json(text: &str) -> Result<Scenario, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The configuration as JSON text.
    pub fn config_json(&self) -> String {
        self.config.to_string()
    }

    /// The seed of worker `worker`'s engine in every driver: the byte `seed + worker` in all
    /// eight places. One repeated byte because the filter reads its seed from WASI
    /// `random_get`, after reads of other sizes by std and the SDK: a stream of one byte reads
    /// the same from any offset, so the filter gets exactly this seed.
    pub fn engine_seed(&self, worker: usize) -> u64 {
        let byte = (self.seed as u8).wrapping_add(worker as u8);
        u64::from_le_bytes([byte; 8])
    }
}

/// Every `*.json` scenario in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<(String, Scenario)>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            Scenario::from_json(&text)
                .map(|s| (file.to_string(), s))
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// A request step's request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRequest {
    /// The name later steps use for it.
    pub id: String,
    /// `:method` (default `GET`).
    #[serde(default = "get")]
    pub method: String,
    /// `:path` (default `/`).
    #[serde(default = "slash")]
    pub path: String,
    /// Upstream cluster.
    #[serde(default)]
    pub cluster: String,
    /// Route name.
    #[serde(default)]
    pub route: String,
    /// Request headers (lowercase names).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The worker (engine) that takes it, below the scenario's `workers` (default 0).
    #[serde(default)]
    pub worker: usize,
}

fn get() -> String {
    "GET".to_owned()
}

fn slash() -> String {
    "/".to_owned()
}

/// A response step: how request `id` ended.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseStep {
    /// The request.
    pub id: String,
    /// `response` (default), `reset`, `connect_failure` or `timeout`.
    #[serde(default = "response")]
    pub kind: String,
    /// HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// gRPC status.
    #[serde(default)]
    pub grpc_status: Option<u32>,
    /// Upstream attempts made (default 1).
    #[serde(default = "one_u32")]
    pub attempts: u32,
}

fn response() -> String {
    "response".to_owned()
}

fn one_u32() -> u32 {
    1
}

/// The expected decision for a request; fields left out are not checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionExpect {
    /// `pass`, `proceed`, `delay`, `queue` or `reject`.
    pub decision: String,
    /// Reply status.
    #[serde(default)]
    pub status: Option<u16>,
    /// Reply gRPC status.
    #[serde(default)]
    pub grpc_status: Option<u32>,
    /// Reply reason (`circuit_open`, `bulkhead_full`, `queue_timeout`, `injected_fault`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Reply `retry-after` seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Headers that must be present with these values (upstream headers for `proceed`, reply
    /// headers for `reject`); others may be present too.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The hold deadline for `delay` and `queue`, in ms.
    #[serde(default)]
    pub until_ms: Option<u64>,
}

/// The expected action for a held request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionExpect {
    /// The request.
    pub id: String,
    /// `resume` or `reply`.
    pub action: String,
    /// Reply status.
    #[serde(default)]
    pub status: Option<u16>,
    /// Reply reason.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One step of a timeline. (Steps are few and read once: boxing the large variant would buy
/// nothing.)
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Step {
    /// A new request, optionally with the decision expected.
    Request {
        /// The request.
        request: ScenarioRequest,
        /// The expected decision.
        expect: Option<DecisionExpect>,
    },
    /// A request's outcome.
    Response(ResponseStep),
    /// A request the client gave up on.
    Cancel(String),
    /// Move the clock forward (ms) and run what is due.
    Advance(u64),
    /// Drain every pending action and compare, in order.
    ExpectActions(Vec<ActionExpect>),
    /// Check the status.
    ExpectStatus {
        /// Every breaker closed.
        healthy: Option<bool>,
        /// Policy name → `closed`, `open`, `half_open` or `none`.
        states: BTreeMap<String, String>,
        /// Policy name → a part of its status document that must match (objects match when
        /// every key given matches; e.g. `{"health": {"healthy": false}}`).
        policies: BTreeMap<String, serde_json::Value>,
    },
    /// An operator resets a policy's breaker (the reset endpoint, or `reset` in the WIT); it
    /// must succeed.
    Reset(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    request: Option<ScenarioRequest>,
    expect: Option<RawExpect>,
    response: Option<ResponseStep>,
    cancel: Option<String>,
    advance_ms: Option<u64>,
    expect_actions: Option<Vec<ActionExpect>>,
    expect_status: Option<RawStatus>,
    reset: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpect {
    Name(String),
    Full(DecisionExpect),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    #[serde(default)]
    healthy: Option<bool>,
    #[serde(default)]
    states: BTreeMap<String, String>,
    #[serde(default)]
    policies: BTreeMap<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        use serde::de::Error;
        let raw = RawStep::deserialize(d)?;
        let verbs = [
            raw.request.is_some(),
            raw.response.is_some(),
            raw.cancel.is_some(),
            raw.advance_ms.is_some(),
            raw.expect_actions.is_some(),
            raw.expect_status.is_some(),
            raw.reset.is_some(),
        ];
        if verbs.iter().filter(|v| **v).count() != 1 {
            return Err(D::Error::custom(
                "a step holds exactly one of request, response, cancel, advance_ms, \
                 expect_actions, expect_status, reset",
            ));
        }
        if raw.expect.is_some() && raw.request.is_none() {
            return Err(D::Error::custom("`expect` belongs to a `request` step"));
        }
        Ok(if let Some(request) = raw.request {
            let expect = raw.expect.map(|e| match e {
                RawExpect::Name(decision) => DecisionExpect {
                    decision,
                    ..DecisionExpect::default()
                },
                RawExpect::Full(full) => full,
            });
            Step::Request { request, expect }
        } else if let Some(r) = raw.response {
            Step::Response(r)
        } else if let Some(id) = raw.cancel {
            Step::Cancel(id)
        } else if let Some(ms) = raw.advance_ms {
            Step::Advance(ms)
        } else if let Some(a) = raw.expect_actions {
            Step::ExpectActions(a)
        } else if let Some(policy) = raw.reset {
            Step::Reset(policy)
        } else {
            let s = raw.expect_status.expect("one verb is set");
            Step::ExpectStatus {
                healthy: s.healthy,
                states: s.states,
                policies: s.policies,
            }
        })
    }
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, want: Option<T>, got: T) -> Result<(), String> {
    match want {
        Some(w) if w != got => Err(format!("{what}: expected {w:?}, got {got:?}")),
        _ => Ok(()),
    }
}

fn has_headers(want: &BTreeMap<String, String>, got: &[(String, String)]) -> Result<(), String> {
    for (name, value) in want {
        let found = got.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        if found.map(|(_, v)| v) != Some(value) {
            return Err(format!("header {name}: expected {value:?}, got {got:?}"));
        }
    }
    Ok(())
}

fn check_reply(e: &DecisionExpect, r: &Reply, sight: Sight) -> Result<(), String> {
    same("status", e.status, r.status)?;
    same("grpc_status", e.grpc_status.map(Some), r.grpc_status)?;
    same("reason", e.reason.as_deref(), r.reason.as_str())?;
    same("retry_after", e.retry_after.map(Some), r.retry_after)?;
    if sight.reply_headers {
        has_headers(&e.headers, &r.headers)
    } else {
        Ok(())
    }
}

impl DecisionExpect {
    /// Checks an observed decision, as far as a driver with `sight` can see it (headers it
    /// cannot see are not checked).
    pub fn check(&self, got: &Observed, sight: Sight) -> Result<(), String> {
        // What a driver cannot tell apart (see `Sight`) satisfies either expectation.
        let names: &[&str] = match got {
            Observed::Pass => &["pass"],
            Observed::Proceed(_) => &["proceed"],
            Observed::Forward(_) => &["pass", "proceed"],
            Observed::Delay(_) => &["delay"],
            Observed::Queue(_) => &["queue"],
            Observed::Held => &["delay", "queue"],
            Observed::Reject(_) => &["reject"],
        };
        if !names.contains(&self.decision.as_str()) {
            return Err(format!("expected {}, got {got:?}", self.decision));
        }
        match got {
            Observed::Proceed(_) | Observed::Forward(_) if !sight.router_headers => Ok(()),
            Observed::Proceed(headers) | Observed::Forward(headers) => {
                has_headers(&self.headers, headers)
            }
            Observed::Delay(until) | Observed::Queue(until) => {
                same("until_ms", self.until_ms, *until)
            }
            Observed::Reject(reply) => check_reply(self, reply, sight),
            Observed::Pass | Observed::Held => Ok(()),
        }
    }
}

impl ActionExpect {
    /// Checks an observed action for request `id`.
    pub fn check(&self, id: &str, got: &ObservedAction) -> Result<(), String> {
        same("action id", Some(self.id.as_str()), id)?;
        match got {
            ObservedAction::Resume(_) if self.action == "resume" => Ok(()),
            ObservedAction::Reply(reply) if self.action == "reply" => {
                same("status", self.status, reply.status)?;
                same("reason", self.reason.as_deref(), reply.reason.as_str())
            }
            _ => Err(format!("expected {} for {id}, got {got:?}", self.action)),
        }
    }
}
