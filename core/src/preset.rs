//! Presets per kind of dependency, and environment profiles.
//!
//! Choosing thirteen breaker numbers per upstream is where most operators give up, so a policy can
//! name what it protects and start from values that suit it: a database fails fast and must not
//! be retried blindly (a retried write is a duplicated write); object storage is slow but happily
//! retried. Layers apply in this order, each overriding the one before, field by field:
//!
//! 1. the built-in defaults of each section (see each section's `Default`);
//! 2. the environment profile (`environment`, default `production`);
//! 3. the policy's `preset`;
//! 4. the fields the policy sets explicitly.
//!
//! The numbers are source 002's preset table (request timeout, consecutive failures, cooldown,
//! retries), column for column; a test reads that table as the source writes it:
//!
//! | preset           | timeout_ms | failure_threshold | recovery_timeout_ms | max_retries |
//! |------------------|-----------:|------------------:|--------------------:|------------:|
//! | `grpc`           |     30 000 |                 5 |              60 000 |           3 |
//! | `database`       |     10 000 |                10 |              30 000 |           0 |
//! | `redis`          |      5 000 |                 3 |              15 000 |           2 |
//! | `http_external`  |     60 000 |                 5 |             120 000 |           5 |
//! | `kafka`          |      5 000 |                 5 |              30 000 |           3 |
//! | `object_storage` |    120 000 |                 5 |              60 000 |           5 |
//!
//! Environment profiles tune the breaker and retry sections a policy has:
//! - `development` (lenient): trips late (10 consecutive failures, 80% failure rate), recovers
//!   after 5 s, retries once; fault-injection headers are honoured.
//! - `production` (conservative): 5 consecutive failures or 50% over the window, 30 s open
//!   growing ×2 per re-open up to 5 min with ±10% jitter; the `x-failure-inject` header is *not*
//!   honoured unless a policy turns `injection.header_trigger` on explicitly.
//! - `testing` (fast recovery): 3 failures, 1 s open (at most 5 s), 5 minimum calls, 2 s probe
//!   leases, so test suites see every state quickly.

use serde_json::{Value, json};

/// A named starting point for a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(rename_all = "snake_case"))]
pub enum Preset {
    /// gRPC services.
    Grpc,
    /// SQL databases.
    Database,
    /// Redis and similar caches.
    Redis,
    /// Third-party HTTP APIs.
    HttpExternal,
    /// Kafka producers behind an HTTP/gRPC bridge.
    Kafka,
    /// S3-like object storage.
    ObjectStorage,
}

impl Preset {
    /// Every preset, in documentation order. Built by following `Preset::next`, whose `match`
    /// is exhaustive: a new preset fails to compile until it is placed in that order, and then
    /// until this array's length counts it.
    pub const ALL: [Preset; 6] = {
        let mut all = [Preset::Grpc; 6];
        let mut i = 1;
        while i < all.len() {
            all[i] = match all[i - 1].next() {
                Some(p) => p,
                None => panic!("Preset::ALL is longer than the presets"),
            };
            i += 1;
        }
        assert!(
            all[all.len() - 1].next().is_none(),
            "Preset::ALL is shorter than the presets"
        );
        all
    };

    /// The preset after this one in documentation order ([`Preset::ALL`]).
    const fn next(self) -> Option<Self> {
        Some(match self {
            Preset::Grpc => Preset::Database,
            Preset::Database => Preset::Redis,
            Preset::Redis => Preset::HttpExternal,
            Preset::HttpExternal => Preset::Kafka,
            Preset::Kafka => Preset::ObjectStorage,
            Preset::ObjectStorage => return None,
        })
    }

    /// This preset's numbers, as in the table above.
    pub const fn values(self) -> PresetValues {
        let (timeout_ms, failure_threshold, recovery_timeout_ms, max_retries) = match self {
            Preset::Grpc => (30_000, 5, 60_000, 3),
            Preset::Database => (10_000, 10, 30_000, 0),
            Preset::Redis => (5_000, 3, 15_000, 2),
            Preset::HttpExternal => (60_000, 5, 120_000, 5),
            Preset::Kafka => (5_000, 5, 30_000, 3),
            Preset::ObjectStorage => (120_000, 5, 60_000, 5),
        };
        PresetValues {
            timeout_ms,
            failure_threshold,
            recovery_timeout_ms,
            max_retries,
        }
    }

    /// The preset's name in the configuration (`"http_external"`).
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Grpc => "grpc",
            Preset::Database => "database",
            Preset::Redis => "redis",
            Preset::HttpExternal => "http_external",
            Preset::Kafka => "kafka",
            Preset::ObjectStorage => "object_storage",
        }
    }

    /// The policy fields this preset sets, as a JSON object layered under the policy's own.
    pub fn layer(self) -> Value {
        let v = self.values();
        json!({
            "breaker": {
                "recovery_timeout_ms": v.recovery_timeout_ms,
                "failure_threshold": v.failure_threshold,
                "max_recovery_timeout_ms": (v.recovery_timeout_ms * 10).max(300_000),
            },
            "retry": { "max_retries": v.max_retries },
            "timeout_ms": v.timeout_ms,
        })
    }
}

// Checked at every build: an associated const is evaluated only where it is used.
const _: &[Preset] = &Preset::ALL;

/// The numbers a preset sets, named as the configuration names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresetValues {
    /// The whole-request timeout handed to the router (`timeout_ms`).
    pub timeout_ms: u64,
    /// Consecutive failures that open the breaker (`breaker.failure_threshold`).
    pub failure_threshold: u32,
    /// How long the breaker stays open before probing: the cooldown (`breaker.recovery_timeout_ms`).
    pub recovery_timeout_ms: u64,
    /// Retries after the first attempt (`retry.max_retries`).
    pub max_retries: u32,
}

/// Deployment environment, choosing a profile of defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(rename_all = "snake_case"))]
pub enum Environment {
    /// Lenient.
    Development,
    /// Conservative. The default.
    #[default]
    Production,
    /// Fast recovery.
    Testing,
}

impl Environment {
    /// `development`, `production` or `testing`.
    pub fn name(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
            Environment::Testing => "testing",
        }
    }

    /// The section defaults of this profile, as a JSON object keyed by section.
    pub fn layer(self) -> Value {
        // Parsed from text rather than built with `json!`: the parser is in the filter anyway,
        // and the macro's expansion cost ~4 KB of it. The texts are checked by a test.
        serde_json::from_str(self.layer_text()).unwrap_or(Value::Null)
    }

    /// The JSON text of [`Environment::layer`].
    fn layer_text(self) -> &'static str {
        match self {
            Environment::Development => {
                r#"{
                    "breaker": {"failure_threshold": 10, "failure_rate_threshold": 0.8,
                                "recovery_timeout_ms": 5000},
                    "retry": {"max_retries": 1},
                    "injection": {"header_trigger": true}
                }"#
            }
            Environment::Production => {
                r#"{
                    "breaker": {"failure_threshold": 5, "failure_rate_threshold": 0.5,
                                "recovery_timeout_ms": 30000, "recovery_backoff": 2.0,
                                "max_recovery_timeout_ms": 300000, "recovery_jitter": 0.1},
                    "injection": {"header_trigger": false}
                }"#
            }
            Environment::Testing => {
                r#"{
                    "breaker": {"failure_threshold": 3, "recovery_timeout_ms": 1000,
                                "max_recovery_timeout_ms": 5000, "minimum_calls": 5,
                                "probe_lease_ms": 2000},
                    "injection": {"header_trigger": true}
                }"#
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_layer_is_an_object_of_sections() {
        for env in [
            Environment::Development,
            Environment::Production,
            Environment::Testing,
        ] {
            let layer = env.layer();
            let sections = layer.as_object().expect("an object");
            assert!(sections.contains_key("breaker"), "{env:?}");
            assert!(sections.values().all(Value::is_object), "{env:?}");
        }
        assert_eq!(
            Environment::Production.layer()["breaker"]["recovery_jitter"],
            json!(0.1)
        );
    }
}
