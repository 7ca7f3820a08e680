//! The `x-envoy-*` request headers that hand a retry decision to Envoy's router.
//!
//! Inside Envoy, breakwater does not resend requests itself: the router does, following headers
//! the filter adds to the request (DESIGN.md: client-sent `x-envoy-*` headers are stripped first,
//! so only the filter's values count). The filter decides *how many* retries this request may have
//! (the policy's `max_retries`, fewer when the budget is short) and *on what*, and the router does
//! the rest.
//!
//! Those headers depend only on the policy, on that count, on whether the request is gRPC and on
//! its retry [`Scope`] (all the policy's conditions, or for a request that is not idempotent only
//! those proving the upstream never processed it; see [`super::conditions`]), so they are built
//! once, when the configuration is loaded: one list per count from 0 to `max_retries`, for each
//! of the four kinds. Per request the filter picks a list by index and copies its pairs into the
//! header map; nothing is formatted or allocated on the request path.
//!
//! `x-envoy-hedge-on-per-try-timeout: true` (a policy's `hedge_on_per_try_timeout`) goes only on
//! a list that grants retries, in the full scope: a hedge is a retry to the router, counted in
//! `x-envoy-max-retries` and so within the budget, and it sends a copy of a request while the
//! first may still be running, which only an idempotent request can afford.
//!
//! `x-envoy-retry-grpc-on` goes on gRPC requests only: the router reads it only from a gRPC
//! answer's `grpc-status`, and every header added costs Envoy CPU: the host call (about 2 µs)
//! and, for these headers, the router's work to honour them (BENCHMARKS.md).

use super::conditions::Conditions;
use super::config::{MAX_RETRIES_LIMIT, RetryConfig};

/// How many retries the router may make.
pub const MAX_RETRIES_HEADER: &str = "x-envoy-max-retries";
/// Which HTTP conditions the router retries on.
pub const RETRY_ON_HEADER: &str = "x-envoy-retry-on";
/// Which statuses the `retriable-status-codes` condition retries.
pub const RETRIABLE_STATUS_CODES_HEADER: &str = "x-envoy-retriable-status-codes";
/// Which gRPC statuses the router retries on.
pub const RETRY_GRPC_ON_HEADER: &str = "x-envoy-retry-grpc-on";
/// The timeout of each attempt, in milliseconds.
pub const PER_TRY_TIMEOUT_HEADER: &str = "x-envoy-upstream-rq-per-try-timeout-ms";
/// The timeout of the whole request, retries included, in milliseconds.
pub const REQUEST_TIMEOUT_HEADER: &str = "x-envoy-upstream-rq-timeout-ms";
/// Whether an attempt outliving its per-try timeout is hedged (a new attempt alongside it, the
/// first answer wins) rather than abandoned.
pub const HEDGE_HEADER: &str = "x-envoy-hedge-on-per-try-timeout";

/// A header name and value, ready to add to a request.
pub type Header = (String, String);

/// Which conditions a request may be retried on: all the policy's, or only those that prove
/// the upstream never processed it (see [`super::conditions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// An idempotent method, a request with the idempotency key, or `retry_non_idempotent`.
    Full,
    /// Any other request.
    BeforeProcessing,
}

/// The four families of lists, in numbering order: (gRPC, scope).
const FAMILIES: [(bool, Scope); 4] = [
    (true, Scope::Full),
    (false, Scope::Full),
    (true, Scope::BeforeProcessing),
    (false, Scope::BeforeProcessing),
];

/// One policy's retry headers, precomputed for every retry count it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryHeaders {
    /// Every list: family by family ([`FAMILIES`]), within a family by retry count from 0 to
    /// `max`; `lists[f * (max + 1)]` grants none.
    lists: Vec<Vec<Header>>,
    /// Lists per family: `max_retries + 1`.
    per_family: usize,
    /// Whether a request of each family has any condition to be retried on.
    retryable: [bool; 4],
    retry_non_idempotent: bool,
    idempotency_header: String,
}

impl RetryHeaders {
    /// Builds every list for a policy's retry section, its router conditions (see
    /// [`Conditions::new`]) and its whole-request timeout.
    ///
    /// `max_retries` above [`MAX_RETRIES_LIMIT`] (which validation refuses) is capped there.
    /// Of `config` it reads `max_retries`, `per_try_timeout_ms`, `hedge_on_per_try_timeout`,
    /// `retry_non_idempotent` and `idempotency_header` only: the engine shares one copy among the policies equal in those,
    /// the conditions and the timeout (`engine::interned`), so a new input must join its key.
    /// Empty condition lists leave their header out; an unset timeout leaves its header out. A
    /// request timeout of 0 is passed on as is: Envoy reads it as "no timeout".
    pub fn new(
        config: &RetryConfig,
        conditions: &Conditions,
        request_timeout_ms: Option<u64>,
    ) -> Self {
        let max = config.max_retries.min(MAX_RETRIES_LIMIT);
        let mut timeouts = Vec::new();
        if let Some(ms) = config.per_try_timeout_ms {
            timeouts.push(header(PER_TRY_TIMEOUT_HEADER, ms.to_string()));
        }
        if let Some(ms) = request_timeout_ms {
            timeouts.push(header(REQUEST_TIMEOUT_HEADER, ms.to_string()));
        }
        let codes = conditions
            .status_codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let family = |grpc: bool, scope: Scope| -> Vec<Header> {
            let (http, grpc_on) = match scope {
                Scope::Full => (&conditions.http, &conditions.grpc),
                Scope::BeforeProcessing => (&conditions.early_http, &conditions.early_grpc),
            };
            let mut list = Vec::new();
            if !http.is_empty() {
                list.push(header(RETRY_ON_HEADER, http.join(",")));
                if scope == Scope::Full && !codes.is_empty() {
                    list.push(header(RETRIABLE_STATUS_CODES_HEADER, codes.clone()));
                }
            }
            if grpc && !grpc_on.is_empty() {
                list.push(header(RETRY_GRPC_ON_HEADER, grpc_on.join(",")));
            }
            list
        };
        let mut lists = Vec::with_capacity(FAMILIES.len() * (max as usize + 1));
        let mut retryable = [false; 4];
        for (f, (grpc, scope)) in FAMILIES.into_iter().enumerate() {
            let mut conds = family(grpc, scope);
            retryable[f] = !conds.is_empty();
            if retryable[f]
                && scope == Scope::Full
                && config.hedge_on_per_try_timeout
                && config.per_try_timeout_ms.is_some()
            {
                conds.push(header(HEDGE_HEADER, "true".to_owned()));
            }
            for n in 0..=max {
                let mut list = vec![header(MAX_RETRIES_HEADER, n.to_string())];
                if n > 0 {
                    list.extend(conds.iter().cloned());
                }
                list.extend(timeouts.iter().cloned());
                lists.push(list);
            }
        }
        RetryHeaders {
            lists,
            per_family: max as usize + 1,
            retryable,
            retry_non_idempotent: config.retry_non_idempotent,
            idempotency_header: config.idempotency_header.clone(),
        }
    }

    /// The most retries any list grants.
    pub fn max_retries(&self) -> u32 {
        (self.per_family - 1) as u32
    }

    fn family(grpc: bool, scope: Scope) -> usize {
        FAMILIES
            .iter()
            .position(|f| *f == (grpc, scope))
            .unwrap_or(0)
    }

    /// Whether a request of this kind has any condition it may be retried on (a request that
    /// is not idempotent under a policy retrying only on `5xx`-like statuses... has none).
    pub fn can_retry(&self, grpc: bool, scope: Scope) -> bool {
        self.retryable[Self::family(grpc, scope)]
    }

    /// The headers granting `n` retries to a gRPC request (`grpc`) or another one, in `scope`,
    /// `n` capped at [`RetryHeaders::max_retries`]; `n = 0` is [`RetryHeaders::no_retries`].
    pub fn with_retries(&self, n: u32, grpc: bool, scope: Scope) -> &[Header] {
        &self.lists[self.list_index(n, grpc, scope)]
    }

    /// Every list, numbered for hosts that cache them (the component's header sets): family by
    /// family (gRPC and not, all conditions; then gRPC and not, before processing only), each by
    /// retry count. Item [`RetryHeaders::list_index`]`(n, grpc, scope)` is
    /// [`RetryHeaders::with_retries`]`(n, grpc, scope)`.
    pub fn lists(&self) -> impl Iterator<Item = &[Header]> {
        self.lists.iter().map(Vec::as_slice)
    }

    /// How many lists [`RetryHeaders::lists`] yields.
    pub fn list_count(&self) -> usize {
        self.lists.len()
    }

    /// The position of [`RetryHeaders::with_retries`]`(n, grpc, scope)` in
    /// [`RetryHeaders::lists`] (`n` capped at [`RetryHeaders::max_retries`] the same way).
    pub fn list_index(&self, n: u32, grpc: bool, scope: Scope) -> usize {
        let n = (n as usize).min(self.per_family - 1);
        Self::family(grpc, scope) * self.per_family + n
    }

    /// The headers for a request that must not be retried: `x-envoy-max-retries: 0` (which also
    /// overrides a retry policy on the route) and the timeouts.
    pub fn no_retries(&self) -> &[Header] {
        &self.lists[0]
    }

    /// The header (lowercase) whose presence makes a non-idempotent request retryable.
    pub fn idempotency_header(&self) -> &str {
        &self.idempotency_header
    }

    /// The retry scope of a request with this method.
    ///
    /// GET, HEAD, OPTIONS, PUT, DELETE and TRACE are idempotent (RFC 9110 §9.2.2): all the
    /// policy's conditions. Any other method (POST, PATCH, CONNECT, extensions) gets them only
    /// when the policy sets `retry_non_idempotent` or the request carries the idempotency
    /// header; otherwise only the conditions that prove the upstream never processed it.
    /// Methods are case-sensitive, as in HTTP.
    pub fn scope(&self, method: &[u8], has_idempotency_key: bool) -> Scope {
        let full = matches!(
            method,
            b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE" | b"TRACE"
        ) || self.retry_non_idempotent
            || has_idempotency_key;
        if full {
            Scope::Full
        } else {
            Scope::BeforeProcessing
        }
    }
}

fn header(name: &str, value: String) -> Header {
    (name.to_owned(), value)
}

#[cfg(test)]
mod tests;
