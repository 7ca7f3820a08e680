//! The JSON Schema of the configuration, generated from the same Rust types that parse it, so
//! editors can validate a config file and the schema can never drift from the parser (host-tests
//! checks that the committed `envoy/breakwater.schema.json` is current).

use schemars::JsonSchema;

use super::Match;
use crate::breaker::BreakerConfig;
use crate::bulkhead::BulkheadConfig;
use crate::fallback::FallbackConfig;
use crate::injection::InjectionConfig;
use crate::outcome::OutcomesConfig;
use crate::preset::{Environment, Preset};
use crate::retry::RetryConfig;

/// A breakwater configuration: the JSON given to the Envoy filter (plugin `configuration`) or
/// to the component's engine constructor.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used
struct Document {
    /// Name of the protected service, in replies, logs and shared-data keys (default "default").
    service: Option<String>,
    /// Environment profile of defaults (default production).
    environment: Option<Environment>,
    /// Path answered with the status JSON, or a plain-text report on `?format=text` or
    /// `Accept: text/plain` (off unless set).
    status_path: Option<String>,
    /// Path on which `POST <path>?policy=NAME` resets that policy's breaker (off unless set;
    /// guard it with Envoy's RBAC filter, see envoy/README.md).
    reset_path: Option<String>,
    /// Longest a worker's cached breaker state may be stale, 1..=10000 ms (default 100).
    sync_interval_ms: Option<u64>,
    /// Policies; the first whose `match` fits a request applies.
    policies: Vec<PolicyDocument>,
}

/// One policy. Sections exist when named here or by the preset.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PolicyDocument {
    /// Name: 1-64 letters, digits, '_' or '-'; used in metrics as `breakwater.<name>.*`.
    name: String,
    /// Which requests the policy applies to (all when absent).
    #[serde(rename = "match")]
    matcher: Option<Match>,
    /// Starting values for the kind of dependency.
    preset: Option<Preset>,
    /// Circuit breaker.
    breaker: Option<BreakerConfig>,
    /// Retries handed to Envoy's router.
    retry: Option<RetryConfig>,
    /// Whole-request timeout for the router, 1..=86400000 ms; `"route"` leaves it to the
    /// route's own timeout (a preset's timeout does not apply then).
    timeout_ms: Option<TimeoutSetting>,
    /// Concurrency cap with a queue.
    bulkhead: Option<BulkheadConfig>,
    /// Failure injection.
    injection: Option<InjectionConfig>,
    /// How outcomes are classified (failure, retryable, ignore).
    outcomes: Option<OutcomesConfig>,
    /// What to answer instead of a refusal: a static reply or a reroute.
    fallback: Option<FallbackConfig>,
}

/// A policy's `timeout_ms`: milliseconds, or the word `route`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum TimeoutSetting {
    /// Milliseconds, 1..=86400000.
    Millis(u64),
    /// The route's own timeout applies.
    Route(RouteWord),
}

/// The word `route`.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum RouteWord {
    /// Leave the timeout to the route.
    Route,
}

/// The configuration's JSON Schema (draft 2020-12), pretty-printed with a trailing newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Document);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
