//! The router headers per kind of request, read from the engine (`Engine::policy_headers`),
//! with the setting behind each one the configuration decides.
//!
//! Which retry conditions a request gets depends on its method and on the idempotency header
//! (core's `RetryHeaders::scope`), and on whether it is gRPC; so one list per kind: an
//! idempotent HTTP method, another HTTP method, a gRPC call (always a POST), a gRPC call
//! carrying the idempotency key.

use breakwater_core::retry::Conditions;
use breakwater_core::retry::headers::{
    HEDGE_HEADER, MAX_RETRIES_HEADER, PER_TRY_TIMEOUT_HEADER, REQUEST_TIMEOUT_HEADER, RetryHeaders,
    Scope,
};
use breakwater_core::{Engine, MemoryStore, Policy, random::SplitMix64};

use super::{HeaderView, RequestView, SettingView};

/// A policy's headers, every kind of request.
pub(super) struct Headers {
    pub(super) requests: Vec<RequestView>,
    pub(super) no_retry: Option<Vec<HeaderView>>,
    pub(super) route_timeout: Option<String>,
}

/// The headers policy `index` of `engine` sends; `settings` name the origins.
pub(super) fn requests(
    engine: &Engine<MemoryStore, SplitMix64>,
    index: usize,
    policy: &Policy,
    settings: &[SettingView],
) -> Headers {
    let source = |key: &str| {
        settings
            .iter()
            .find(|s| s.key == key)
            .map_or_else(|| "default".to_owned(), |s| s.source.clone())
    };
    let note = |name: &str, value: &str| -> Option<String> {
        match name {
            REQUEST_TIMEOUT_HEADER => Some(format!(
                "timeout_ms, {}: replaces the route's timeout",
                source("timeout_ms")
            )),
            PER_TRY_TIMEOUT_HEADER => Some(format!(
                "retry.per_try_timeout_ms, {}",
                source("retry.per_try_timeout_ms")
            )),
            HEDGE_HEADER => Some(format!(
                "retry.hedge_on_per_try_timeout, {}: an attempt past its per-try timeout gets a \
                 hedge alongside, within the retries granted",
                source("retry.hedge_on_per_try_timeout")
            )),
            MAX_RETRIES_HEADER if value == "0" => {
                Some("no retry, also over a retry policy on the route".to_owned())
            }
            MAX_RETRIES_HEADER => Some(format!(
                "retry.max_retries, {}: at most; fewer when the retry budget is short",
                source("retry.max_retries")
            )),
            _ => None,
        }
    };
    let views = |list: &[(String, String)]| -> Vec<HeaderView> {
        list.iter()
            .map(|(name, value)| HeaderView {
                name: name.clone(),
                value: value.clone(),
                note: note(name, value),
            })
            .collect()
    };
    let route_timeout = policy.timeout_ms.is_none().then(|| {
        format!(
            "no {REQUEST_TIMEOUT_HEADER}: the route's own timeout applies (timeout_ms \"route\", {})",
            source("timeout_ms")
        )
    });

    let max = engine.policy_max_retries(index).unwrap_or(0);
    let label = match &policy.retry {
        None => Some("every request (no retry section: the route's retry policy applies)"),
        Some(_) if max == 0 => Some("every request (retry.max_retries is 0)"),
        Some(_) => None,
    };
    let (Some(retry), None) = (&policy.retry, label) else {
        let list = engine
            .policy_headers(index, 0, false, Scope::Full)
            .unwrap_or_default();
        return Headers {
            requests: vec![RequestView {
                label: label.unwrap_or_default().to_owned(),
                grpc: false,
                scope: "full",
                retries: 0,
                headers: views(list),
            }],
            no_retry: None,
            route_timeout,
        };
    };
    // Core's own rule for which conditions a request gets.
    let rules = RetryHeaders::new(
        retry,
        &Conditions::new(retry, &policy.outcomes),
        policy.timeout_ms,
    );
    let key = &retry.idempotency_header;
    let kinds: [(String, &[u8], bool, bool); 4] = [
        (
            "GET, HEAD, OPTIONS, PUT, DELETE, TRACE".to_owned(),
            b"GET",
            false,
            false,
        ),
        (
            format!("POST, PATCH and other methods without `{key}`"),
            b"POST",
            false,
            false,
        ),
        ("gRPC".to_owned(), b"POST", false, true),
        (format!("gRPC with `{key}`"), b"POST", true, true),
    ];
    let requests = kinds
        .into_iter()
        .map(|(label, method, keyed, grpc)| {
            let scope = rules.scope(method, keyed);
            let list = engine
                .policy_headers(index, max, grpc, scope)
                .unwrap_or_default();
            let retries = list
                .iter()
                .find(|(n, _)| n == MAX_RETRIES_HEADER)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            RequestView {
                label,
                grpc,
                scope: match scope {
                    Scope::Full => "full",
                    Scope::BeforeProcessing => "before_processing",
                },
                retries,
                headers: views(list),
            }
        })
        .collect();
    let none = engine
        .policy_headers(index, 0, false, Scope::Full)
        .unwrap_or_default();
    Headers {
        requests,
        no_retry: Some(views(none)),
        route_timeout,
    }
}
