//! How each configuration type reads from JSON: its keys, its defaults, its enum names.
//!
//! Each object's keys are spelled once, as the fields [`fields!`] lists, which generates both
//! the key list and the reader; the struct literal it builds from the section default names every
//! field, so a field added to a type and not read here fails to compile. Each `KEYS` list is
//! checked against the JSON Schema generated from the same types (host-tests `config_schema`).

use serde_json::Value;

use super::Match;
use super::read::{FromJson, section_from_json, variant};
use crate::breaker::{BreakerConfig, HealthConfig, KeyBy, Mode, WindowKind};
use crate::bulkhead::BulkheadConfig;
use crate::fallback::{FallbackConfig, FallbackReply, Reroute, Trigger};
use crate::injection::InjectionConfig;
use crate::outcome::{OutcomesConfig, Treatment};
use crate::preset::{Environment, Preset};
use crate::retry::{BackoffStrategy, BudgetConfig, Jitter, RetryConfig};
use crate::validate::{ConfigError, Problems};

/// Implements [`FromJson`] for an enum written as one of its snake_case names, listed in the
/// order the `unknown variant` message names them. Each variant is named here (`"name" =>
/// Variant`) or by the enum's own exhaustive `name()` (`Enum::name { Variant, .. }`), and an
/// exhaustive `match` over the listed variants fails to compile when a new variant is not listed.
macro_rules! named {
    ($ty:ident { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl FromJson for $ty {
            fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
                variant(v, &[$(($name, $ty::$variant)),+], path, p)
            }
        }
        const _: fn($ty) = |t| match t {
            $($ty::$variant)|+ => {}
        };
    };
    ($ty:ident::name { $($variant:ident),+ $(,)? }) => {
        impl FromJson for $ty {
            fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
                variant(v, &[$(($ty::$variant.name(), $ty::$variant)),+], path, p)
            }
        }
        const _: fn($ty) = |t| match t {
            $($ty::$variant)|+ => {}
        };
    };
}

named!(Mode {
    "enforce" => Enforce,
    "shadow" => Shadow,
    "forced_open" => ForcedOpen,
    "disabled" => Disabled,
});

named!(Trigger {
    "circuit_open" => CircuitOpen,
    "bulkhead_full" => BulkheadFull,
});

named!(WindowKind {
    "count" => Count,
    "time" => Time,
});

named!(BackoffStrategy {
    "fixed" => Fixed,
    "linear" => Linear,
    "exponential" => Exponential,
    "exponential_jitter" => ExponentialJitter,
    "fibonacci" => Fibonacci,
    "polynomial" => Polynomial,
    "adaptive" => Adaptive,
});

named!(Jitter {
    "full" => Full,
    "equal" => Equal,
    "decorrelated" => Decorrelated,
});

named!(Treatment {
    "failure" => Failure,
    "failure_no_retry" => FailureNoRetry,
    "retryable" => Retryable,
    "ignore" => Ignore,
});

named!(Preset::name {
    Grpc,
    Database,
    Redis,
    HttpExternal,
    Kafka,
    ObjectStorage,
});

named!(Environment::name {
    Development,
    Production,
    Testing,
});

/// Declares how an object of the configuration reads, each key spelled once: as the field it
/// fills. Generates the list of keys it may hold (`$keys`, for the `unknown field` message and
/// the JSON Schema test) and its reader, which starts from `$ty::default()` and reads each listed
/// field in order: [`FromJson`] for an owned type, an inherent `read` for a type that borrows
/// from the document (`Name<'v>`). A field is read with [`Fields::get`] (absent: the default), or
/// as marked: `: opt` ([`Fields::opt`], absent or `null`: `None`), `: required`
/// ([`Fields::required`]), `: raw` ([`Fields::raw`], the JSON itself, for sections layered before
/// they are read). `field as "key"` reads a key that is not a Rust field name (`match`).
///
/// The struct literal names every field, so a field added to a type and not listed here fails to
/// compile, and a key cannot be spelt one way in the list and another in the reader.
macro_rules! fields {
    ($(#[$doc:meta])* $keys:ident => $ty:ident<$lt:lifetime> { $($body:tt)+ }) => {
        $crate::config::sections::fields!(@keys $(#[$doc])* $keys { $($body)+ });

        impl<$lt> $ty<$lt> {
            /// Reads the object at `path`, every mistake recorded; `None` if any.
            fn read(
                v: &$lt serde_json::Value,
                path: &str,
                p: &mut $crate::validate::Problems,
            ) -> Option<Self> {
                $crate::config::sections::fields!(@body v path p $keys $ty { $($body)+ })
            }
        }
    };
    ($(#[$doc:meta])* $keys:ident => $ty:ident { $($body:tt)+ }) => {
        $crate::config::sections::fields!(@keys $(#[$doc])* $keys { $($body)+ });

        impl $crate::config::read::FromJson for $ty {
            fn read(
                v: &serde_json::Value,
                path: &str,
                p: &mut $crate::validate::Problems,
            ) -> Option<Self> {
                $crate::config::sections::fields!(@body v path p $keys $ty { $($body)+ })
            }
        }
    };
    (@keys $(#[$doc:meta])* $keys:ident {
        $($field:ident $(as $key:literal)? $(: $how:ident)?),+ $(,)?
    }) => {
        $(#[$doc])*
        pub(crate) const $keys: &[&str] =
            &[$($crate::config::sections::fields!(@key $field $($key)?)),+];
    };
    (@body $v:ident $path:ident $p:ident $keys:ident $ty:ident {
        $($field:ident $(as $key:literal)? $(: $how:ident)?),+ $(,)?
    }) => {{
        let d = <$ty>::default();
        let mut f = $crate::config::read::Fields::new($v, $path, $keys, $p)?;
        let c = $ty {
            $($field: $crate::config::sections::fields!(
                @read f d $field [$($key)?] $($how)?
            )),+
        };
        f.done(c)
    }};
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@read $f:ident $d:ident $field:ident [$($key:literal)?]) => {
        $f.get($crate::config::sections::fields!(@key $field $($key)?), $d.$field)
    };
    (@read $f:ident $d:ident $field:ident [$($key:literal)?] opt) => {
        $f.opt($crate::config::sections::fields!(@key $field $($key)?))
    };
    (@read $f:ident $d:ident $field:ident [$($key:literal)?] required) => {
        $f.required($crate::config::sections::fields!(@key $field $($key)?))
    };
    (@read $f:ident $d:ident $field:ident [$($key:literal)?] raw) => {
        $f.raw($crate::config::sections::fields!(@key $field $($key)?))
    };
}
pub(crate) use fields;

fields!(
    /// The keys of a `breaker` section.
    BREAKER_KEYS => BreakerConfig {
        mode,
        failure_threshold,
        failure_rate_threshold,
        slow_call_rate_threshold,
        slow_call_duration_ms,
        window,
        window_size,
        window_buckets,
        minimum_calls,
        recovery_timeout_ms,
        recovery_backoff,
        max_recovery_timeout_ms,
        recovery_jitter,
        half_open_max_calls,
        half_open_success_threshold,
        probe_lease_ms,
        failure_reset_timeout_ms,
        health,
        key_by: opt,
        max_keys,
        key_idle_ms,
    }
);

impl FromJson for KeyBy {
    /// `"grpc_method"`, `"path"`, or `{"header": "x-tenant"}` (the name lowercased).
    fn read(v: &Value, path: &str, p: &mut Problems) -> Option<Self> {
        const EXPECTED: &str = "`grpc_method`, `path` or {\"header\": <name>}";
        match v {
            Value::String(s) if s == "grpc_method" => Some(KeyBy::GrpcMethod),
            Value::String(s) if s == "path" => Some(KeyBy::Path),
            Value::String(s) => {
                p.at(path, format!("unknown variant `{s}`, expected {EXPECTED}"));
                None
            }
            Value::Object(_) => {
                let mut f = super::read::Fields::new(v, path, &["header"], p)?;
                let name: Option<String> = f.required("header");
                f.done(())?;
                name.map(|n| KeyBy::Header(n.to_ascii_lowercase()))
            }
            _ => {
                super::read::wrong_type(v, &format!("one of {EXPECTED}"), path, p);
                None
            }
        }
    }
}

fields!(
    /// The keys of a `breaker.health` section.
    HEALTH_KEYS => HealthConfig { unhealthy_after, healthy_after, score_recovery }
);

fields!(
    /// The keys of a `retry` section.
    RETRY_KEYS => RetryConfig {
        max_retries,
        backoff,
        jitter_mode,
        base_delay_ms,
        max_delay_ms,
        jitter,
        multiplier,
        exponent,
        retry_on,
        grpc_retry_on,
        retriable_status_codes,
        per_try_timeout_ms: opt,
        hedge_on_per_try_timeout,
        rewrite_upstream_errors,
        retry_non_idempotent,
        idempotency_header,
        budget,
    }
);

fields!(
    /// The keys of a `retry.budget` section.
    BUDGET_KEYS => BudgetConfig { budget_percent, min_retry_concurrency, window_ms }
);

fields!(
    /// The keys of a `bulkhead` section.
    BULKHEAD_KEYS => BulkheadConfig { max_concurrent, queue_size, queue_timeout_ms }
);

fields!(
    /// The keys of an `injection` section.
    INJECTION_KEYS => InjectionConfig {
        enabled,
        abort_rate,
        abort_http_status,
        abort_grpc_status,
        delay_rate,
        delay_ms,
        header_trigger,
        max_active,
        count_injected,
    }
);

fields!(
    /// The keys of a `fallback` section.
    FALLBACK_KEYS => FallbackConfig { on, reply: opt, reroute: opt }
);

fields!(
    /// The keys of a `fallback.reply` section.
    FALLBACK_REPLY_KEYS => FallbackReply {
        status,
        headers,
        body,
        grpc_status: opt,
        grpc_message: opt,
    }
);

fields!(
    /// The keys of a `fallback.reroute` section.
    REROUTE_KEYS => Reroute { header, value: opt }
);

fields!(
    /// The keys of an `outcomes` section.
    OUTCOMES_KEYS => OutcomesConfig {
        http,
        grpc,
        reset: opt,
        connect_failure: opt,
        timeout: opt,
    }
);

fields!(
    /// The keys of a `match` section.
    MATCH_KEYS => Match {
        cluster: opt,
        route: opt,
        path_prefix: opt,
        methods,
        headers,
    }
);

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
pub fn section_keys() -> [(&'static str, &'static [&'static str]); 13] {
    [
        ("Document", super::TOP_KEYS),
        ("PolicyDocument", super::policy::POLICY_KEYS),
        ("Match", MATCH_KEYS),
        ("BreakerConfig", BREAKER_KEYS),
        ("HealthConfig", HEALTH_KEYS),
        ("RetryConfig", RETRY_KEYS),
        ("BudgetConfig", BUDGET_KEYS),
        ("BulkheadConfig", BULKHEAD_KEYS),
        ("InjectionConfig", INJECTION_KEYS),
        ("OutcomesConfig", OUTCOMES_KEYS),
        ("FallbackConfig", FALLBACK_KEYS),
        ("FallbackReply", FALLBACK_REPLY_KEYS),
        ("Reroute", REROUTE_KEYS),
    ]
}
