//! How each configuration type reads from JSON: its keys, its defaults, its enum names.
//!
//! Each struct is built as one literal from its section default, so a field added to a type and
//! not read here fails to compile; each `KEYS` list is checked against the JSON Schema generated
//! from the same types (host-tests `config_schema`), so a key spelt differently here and there
//! fails a test.

use serde_json::Value;

use super::Match;
use super::read::{Fields, FromJson, section_from_json, variant};
use crate::breaker::{BreakerConfig, Mode, WindowKind};
use crate::bulkhead::BulkheadConfig;
use crate::injection::InjectionConfig;
use crate::outcome::{OutcomesConfig, Treatment};
use crate::preset::{Environment, Preset};
use crate::retry::{BackoffStrategy, BudgetConfig, Jitter, RetryConfig};
use crate::validate::{ConfigError, Problems};

/// Implements [`FromJson`] for an enum written as one of its snake_case names.
macro_rules! named {
    ($ty:ty { $($name:literal => $variant:expr),+ $(,)? }) => {
        impl FromJson for $ty {
            fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
                variant(v, &[$(($name, $variant)),+], path, p)
            }
        }
    };
}

named!(Mode {
    "enforce" => Mode::Enforce,
    "shadow" => Mode::Shadow,
    "forced_open" => Mode::ForcedOpen,
    "disabled" => Mode::Disabled,
});

named!(WindowKind {
    "count" => WindowKind::Count,
    "time" => WindowKind::Time,
});

named!(BackoffStrategy {
    "fixed" => BackoffStrategy::Fixed,
    "linear" => BackoffStrategy::Linear,
    "exponential" => BackoffStrategy::Exponential,
    "exponential_jitter" => BackoffStrategy::ExponentialJitter,
    "fibonacci" => BackoffStrategy::Fibonacci,
    "polynomial" => BackoffStrategy::Polynomial,
    "adaptive" => BackoffStrategy::Adaptive,
});

named!(Jitter {
    "full" => Jitter::Full,
    "equal" => Jitter::Equal,
    "decorrelated" => Jitter::Decorrelated,
});

named!(Treatment {
    "failure" => Treatment::Failure,
    "failure_no_retry" => Treatment::FailureNoRetry,
    "retryable" => Treatment::Retryable,
    "ignore" => Treatment::Ignore,
});

named!(Preset {
    "grpc" => Preset::Grpc,
    "database" => Preset::Database,
    "redis" => Preset::Redis,
    "http_external" => Preset::HttpExternal,
    "kafka" => Preset::Kafka,
    "object_storage" => Preset::ObjectStorage,
});

named!(Environment {
    "development" => Environment::Development,
    "production" => Environment::Production,
    "testing" => Environment::Testing,
});

/// The keys of a `breaker` section.
pub(crate) const BREAKER_KEYS: &[&str] = &[
    "mode",
    "failure_threshold",
    "failure_rate_threshold",
    "slow_call_rate_threshold",
    "slow_call_duration_ms",
    "window",
    "window_size",
    "window_buckets",
    "minimum_calls",
    "recovery_timeout_ms",
    "recovery_backoff",
    "max_recovery_timeout_ms",
    "recovery_jitter",
    "half_open_max_calls",
    "half_open_success_threshold",
    "probe_lease_ms",
    "failure_reset_timeout_ms",
];

impl FromJson for BreakerConfig {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let d = BreakerConfig::default();
        let mut f = Fields::new(v, path, BREAKER_KEYS, p)?;
        let c = BreakerConfig {
            mode: f.get("mode", d.mode),
            failure_threshold: f.get("failure_threshold", d.failure_threshold),
            failure_rate_threshold: f.get("failure_rate_threshold", d.failure_rate_threshold),
            slow_call_rate_threshold: f.get("slow_call_rate_threshold", d.slow_call_rate_threshold),
            slow_call_duration_ms: f.get("slow_call_duration_ms", d.slow_call_duration_ms),
            window: f.get("window", d.window),
            window_size: f.get("window_size", d.window_size),
            window_buckets: f.get("window_buckets", d.window_buckets),
            minimum_calls: f.get("minimum_calls", d.minimum_calls),
            recovery_timeout_ms: f.get("recovery_timeout_ms", d.recovery_timeout_ms),
            recovery_backoff: f.get("recovery_backoff", d.recovery_backoff),
            max_recovery_timeout_ms: f.get("max_recovery_timeout_ms", d.max_recovery_timeout_ms),
            recovery_jitter: f.get("recovery_jitter", d.recovery_jitter),
            half_open_max_calls: f.get("half_open_max_calls", d.half_open_max_calls),
            half_open_success_threshold: f
                .get("half_open_success_threshold", d.half_open_success_threshold),
            probe_lease_ms: f.get("probe_lease_ms", d.probe_lease_ms),
            failure_reset_timeout_ms: f.get("failure_reset_timeout_ms", d.failure_reset_timeout_ms),
        };
        f.done(c)
    }
}

/// The keys of a `retry` section.
pub(crate) const RETRY_KEYS: &[&str] = &[
    "max_retries",
    "backoff",
    "jitter_mode",
    "base_delay_ms",
    "max_delay_ms",
    "jitter",
    "multiplier",
    "exponent",
    "retry_on",
    "grpc_retry_on",
    "retriable_status_codes",
    "per_try_timeout_ms",
    "retry_non_idempotent",
    "idempotency_header",
    "budget",
];

impl FromJson for RetryConfig {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let d = RetryConfig::default();
        let mut f = Fields::new(v, path, RETRY_KEYS, p)?;
        let c = RetryConfig {
            max_retries: f.get("max_retries", d.max_retries),
            backoff: f.get("backoff", d.backoff),
            jitter_mode: f.get("jitter_mode", d.jitter_mode),
            base_delay_ms: f.get("base_delay_ms", d.base_delay_ms),
            max_delay_ms: f.get("max_delay_ms", d.max_delay_ms),
            jitter: f.get("jitter", d.jitter),
            multiplier: f.get("multiplier", d.multiplier),
            exponent: f.get("exponent", d.exponent),
            retry_on: f.get("retry_on", d.retry_on),
            grpc_retry_on: f.get("grpc_retry_on", d.grpc_retry_on),
            retriable_status_codes: f.get("retriable_status_codes", d.retriable_status_codes),
            per_try_timeout_ms: f.opt("per_try_timeout_ms"),
            retry_non_idempotent: f.get("retry_non_idempotent", d.retry_non_idempotent),
            idempotency_header: f.get("idempotency_header", d.idempotency_header),
            budget: f.get("budget", d.budget),
        };
        f.done(c)
    }
}

/// The keys of a `retry.budget` section.
pub(crate) const BUDGET_KEYS: &[&str] = &["budget_percent", "min_retry_concurrency", "window_ms"];

impl FromJson for BudgetConfig {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let d = BudgetConfig::default();
        let mut f = Fields::new(v, path, BUDGET_KEYS, p)?;
        let c = BudgetConfig {
            budget_percent: f.get("budget_percent", d.budget_percent),
            min_retry_concurrency: f.get("min_retry_concurrency", d.min_retry_concurrency),
            window_ms: f.get("window_ms", d.window_ms),
        };
        f.done(c)
    }
}

/// The keys of a `bulkhead` section.
pub(crate) const BULKHEAD_KEYS: &[&str] = &["max_concurrent", "queue_size", "queue_timeout_ms"];

impl FromJson for BulkheadConfig {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let d = BulkheadConfig::default();
        let mut f = Fields::new(v, path, BULKHEAD_KEYS, p)?;
        let c = BulkheadConfig {
            max_concurrent: f.get("max_concurrent", d.max_concurrent),
            queue_size: f.get("queue_size", d.queue_size),
            queue_timeout_ms: f.get("queue_timeout_ms", d.queue_timeout_ms),
        };
        f.done(c)
    }
}

/// The keys of an `injection` section.
pub(crate) const INJECTION_KEYS: &[&str] = &[
    "enabled",
    "abort_rate",
    "abort_http_status",
    "abort_grpc_status",
    "delay_rate",
    "delay_ms",
    "header_trigger",
    "max_active",
    "count_injected",
];

impl FromJson for InjectionConfig {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let d = InjectionConfig::default();
        let mut f = Fields::new(v, path, INJECTION_KEYS, p)?;
        let c = InjectionConfig {
            enabled: f.get("enabled", d.enabled),
            abort_rate: f.get("abort_rate", d.abort_rate),
            abort_http_status: f.get("abort_http_status", d.abort_http_status),
            abort_grpc_status: f.get("abort_grpc_status", d.abort_grpc_status),
            delay_rate: f.get("delay_rate", d.delay_rate),
            delay_ms: f.get("delay_ms", d.delay_ms),
            header_trigger: f.get("header_trigger", d.header_trigger),
            max_active: f.get("max_active", d.max_active),
            count_injected: f.get("count_injected", d.count_injected),
        };
        f.done(c)
    }
}

/// The keys of an `outcomes` section.
pub(crate) const OUTCOMES_KEYS: &[&str] = &["http", "grpc", "reset", "connect_failure", "timeout"];

impl FromJson for OutcomesConfig {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(v, path, OUTCOMES_KEYS, p)?;
        let c = OutcomesConfig {
            http: f.get("http", Default::default()),
            grpc: f.get("grpc", Default::default()),
            reset: f.opt("reset"),
            connect_failure: f.opt("connect_failure"),
            timeout: f.opt("timeout"),
        };
        f.done(c)
    }
}

/// The keys of a `match` section.
pub(crate) const MATCH_KEYS: &[&str] = &["cluster", "route", "path_prefix", "methods", "headers"];

impl FromJson for Match {
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(v, path, MATCH_KEYS, p)?;
        let c = Match {
            cluster: f.opt("cluster"),
            route: f.opt("route"),
            path_prefix: f.opt("path_prefix"),
            methods: f.get("methods", Vec::new()),
            headers: f.get("headers", Default::default()),
        };
        f.done(c)
    }
}

/// `from_json` for the sections that also work on their own (the component's standalone
/// resources, or a host composing its own policy).
macro_rules! standalone {
    ($($ty:ty: $section:literal),+ $(,)?) => {$(
        impl $ty {
            #[doc = concat!("Reads a `", $section, "` section on its own from JSON text: the section")]
            /// defaults apply (not an environment profile or a preset, which belong to a policy
            /// in a whole document); unknown keys, wrong types and invalid values are errors,
            /// every one with its path inside the section.
            pub fn from_json(text: &str) -> Result<Self, ConfigError> {
                section_from_json(text, |c: &mut Self, doc, p| {
                    c.settle(Some(doc));
                    c.validate("", p)
                })
            }
        }
    )+};
}

standalone!(
    BreakerConfig: "breaker",
    RetryConfig: "retry",
    BulkheadConfig: "bulkhead",
    InjectionConfig: "injection",
);

/// Defaults that depend on other fields of the same section, settled once the section is read
/// (`explicit`: the keys the user wrote for it, which are never changed).
pub(crate) trait Settle {
    /// Adjusts the derived defaults; most sections have none.
    fn settle(&mut self, _explicit: Option<&Value>) {}
}

impl Settle for BreakerConfig {
    /// `minimum_calls` not written by the user is capped at a count window's `window_size`, as
    /// resilience4j does: `{"window_size": 10}` alone (source 004's breaker) judges its rate
    /// over 10 calls instead of being refused for the default of 20.
    fn settle(&mut self, explicit: Option<&Value>) {
        let written = explicit.is_some_and(|v| v.get("minimum_calls").is_some());
        if !written && self.window == WindowKind::Count && self.window_size > 0 {
            self.minimum_calls = self.minimum_calls.min(self.window_size);
        }
    }
}

impl Settle for RetryConfig {}
impl Settle for BulkheadConfig {}
impl Settle for InjectionConfig {}

/// Every object of the configuration with the keys it may hold, named as in the JSON Schema
/// (`Document` is the top level), so a test can hold the schema and the reader to one list.
#[cfg(feature = "schema")]
pub fn section_keys() -> [(&'static str, &'static [&'static str]); 9] {
    [
        ("Document", super::TOP_KEYS),
        ("PolicyDocument", super::POLICY_KEYS),
        ("Match", MATCH_KEYS),
        ("BreakerConfig", BREAKER_KEYS),
        ("RetryConfig", RETRY_KEYS),
        ("BudgetConfig", BUDGET_KEYS),
        ("BulkheadConfig", BULKHEAD_KEYS),
        ("InjectionConfig", INJECTION_KEYS),
        ("OutcomesConfig", OUTCOMES_KEYS),
    ]
}
