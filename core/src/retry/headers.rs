//! The `x-envoy-*` request headers that hand a retry decision to Envoy's router.
//!
//! Inside Envoy, breakwater does not resend requests itself: the router does, following headers
//! the filter adds to the request (DESIGN.md: client-sent `x-envoy-*` headers are stripped first,
//! so only the filter's values count). The filter decides *how many* retries this request may have
//! (the policy's `max_retries`, fewer when the budget is short, none for a non-idempotent method)
//! and the router does the rest.
//!
//! Those headers depend only on the policy, on that count and on whether the request is gRPC, so
//! they are built once, when the configuration is loaded: one list per count from 0 to
//! `max_retries`, for HTTP and for gRPC. Per request the filter picks a list by index and copies
//! its pairs into the header map; nothing is formatted or allocated on the request path.
//!
//! `x-envoy-retry-grpc-on` goes on gRPC requests only: the router reads it only from a gRPC
//! answer's `grpc-status`, and every header added costs Envoy CPU: the host call (about 2 µs)
//! and, for these headers, the router's work to honour them (BENCHMARKS.md).

use super::config::{MAX_RETRIES_LIMIT, RetryConfig, tokens};

/// How many retries the router may make.
pub const MAX_RETRIES_HEADER: &str = "x-envoy-max-retries";
/// Which HTTP conditions the router retries on.
pub const RETRY_ON_HEADER: &str = "x-envoy-retry-on";
/// Which gRPC statuses the router retries on.
pub const RETRY_GRPC_ON_HEADER: &str = "x-envoy-retry-grpc-on";
/// The timeout of each attempt, in milliseconds.
pub const PER_TRY_TIMEOUT_HEADER: &str = "x-envoy-upstream-rq-per-try-timeout-ms";
/// The timeout of the whole request, retries included, in milliseconds.
pub const REQUEST_TIMEOUT_HEADER: &str = "x-envoy-upstream-rq-timeout-ms";

/// A header name and value, ready to add to a request.
pub type Header = (String, String);

/// One policy's retry headers, precomputed for every retry count it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryHeaders {
    /// `by_count[n]`: the headers granting a gRPC request `n` retries; `by_count[0]` grants none.
    by_count: Vec<Vec<Header>>,
    /// The same for other requests: without `x-envoy-retry-grpc-on`.
    http_by_count: Vec<Vec<Header>>,
    retry_non_idempotent: bool,
    idempotency_header: String,
}

impl RetryHeaders {
    /// Builds every list for a policy's retry section and its whole-request timeout.
    ///
    /// `max_retries` above [`MAX_RETRIES_LIMIT`] (which validation refuses) is capped there.
    /// Empty `retry_on`/`grpc_retry_on` lists leave their header out; an unset timeout leaves its
    /// header out. A request timeout of 0 is passed on as is: Envoy reads it as "no timeout".
    pub fn new(config: &RetryConfig, request_timeout_ms: Option<u64>) -> Self {
        let max = config.max_retries.min(MAX_RETRIES_LIMIT);
        let mut timeouts = Vec::new();
        if let Some(ms) = config.per_try_timeout_ms {
            timeouts.push(header(PER_TRY_TIMEOUT_HEADER, ms.to_string()));
        }
        if let Some(ms) = request_timeout_ms {
            timeouts.push(header(REQUEST_TIMEOUT_HEADER, ms.to_string()));
        }
        let mut conditions = Vec::new();
        for (name, list) in [
            (RETRY_ON_HEADER, &config.retry_on),
            (RETRY_GRPC_ON_HEADER, &config.grpc_retry_on),
        ] {
            let value = tokens(list)
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(",");
            if !value.is_empty() {
                conditions.push(header(name, value));
            }
        }
        let lists = |grpc: bool| -> Vec<Vec<Header>> {
            (0..=max)
                .map(|n| {
                    let mut list = vec![header(MAX_RETRIES_HEADER, n.to_string())];
                    if n > 0 {
                        list.extend(
                            conditions
                                .iter()
                                .filter(|(name, _)| grpc || name != RETRY_GRPC_ON_HEADER)
                                .cloned(),
                        );
                    }
                    list.extend(timeouts.iter().cloned());
                    list
                })
                .collect()
        };
        RetryHeaders {
            by_count: lists(true),
            http_by_count: lists(false),
            retry_non_idempotent: config.retry_non_idempotent,
            idempotency_header: config.idempotency_header.clone(),
        }
    }

    /// The most retries any list grants.
    pub fn max_retries(&self) -> u32 {
        (self.by_count.len() - 1) as u32
    }

    /// The headers granting `n` retries to a gRPC request (`grpc`) or another one, `n` capped
    /// at [`RetryHeaders::max_retries`]; `n = 0` is [`RetryHeaders::no_retries`].
    pub fn with_retries(&self, n: u32, grpc: bool) -> &[Header] {
        let i = self.list_index(n, grpc);
        match i.checked_sub(self.by_count.len()) {
            None => &self.by_count[i],
            Some(j) => &self.http_by_count[j],
        }
    }

    /// Every list, numbered for hosts that cache them (the component's header sets): the gRPC
    /// lists by retry count, then the others. `lists()` yields [`RetryHeaders::list_count`]
    /// lists, and its item [`RetryHeaders::list_index`]`(n, grpc)` is
    /// [`RetryHeaders::with_retries`]`(n, grpc)`.
    pub fn lists(&self) -> impl Iterator<Item = &[Header]> {
        self.by_count
            .iter()
            .chain(&self.http_by_count)
            .map(Vec::as_slice)
    }

    /// How many lists [`RetryHeaders::lists`] yields.
    pub fn list_count(&self) -> usize {
        self.by_count.len() + self.http_by_count.len()
    }

    /// The position of [`RetryHeaders::with_retries`]`(n, grpc)` in [`RetryHeaders::lists`]
    /// (`n` capped at [`RetryHeaders::max_retries`] the same way).
    pub fn list_index(&self, n: u32, grpc: bool) -> usize {
        let n = (n as usize).min(self.by_count.len() - 1);
        if grpc { n } else { self.by_count.len() + n }
    }

    /// The headers for a request that must not be retried: `x-envoy-max-retries: 0` (which also
    /// overrides a retry policy on the route) and the timeouts.
    pub fn no_retries(&self) -> &[Header] {
        &self.by_count[0]
    }

    /// The header (lowercase) whose presence makes a non-idempotent request retryable.
    pub fn idempotency_header(&self) -> &str {
        &self.idempotency_header
    }

    /// Whether a request with this method may be retried at all.
    ///
    /// GET, HEAD, OPTIONS, PUT, DELETE and TRACE are idempotent (RFC 9110 §9.2.2) and always
    /// may. Any other method (POST, PATCH, CONNECT, extensions) may only when the policy sets
    /// `retry_non_idempotent` or the request carries the idempotency header. Methods are
    /// case-sensitive, as in HTTP.
    pub fn retries_allowed(&self, method: &[u8], has_idempotency_key: bool) -> bool {
        matches!(
            method,
            b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE" | b"TRACE"
        ) || self.retry_non_idempotent
            || has_idempotency_key
    }

    /// The headers for one request: none of its retries when the method forbids them,
    /// otherwise as many as the policy and `available` (from the retry budget) both allow.
    pub fn for_request(
        &self,
        method: &[u8],
        has_idempotency_key: bool,
        available: u32,
        grpc: bool,
    ) -> &[Header] {
        if self.retries_allowed(method, has_idempotency_key) {
            self.with_retries(available, grpc)
        } else {
            self.no_retries()
        }
    }
}

fn header(name: &str, value: String) -> Header {
    (name.to_owned(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[Header]) -> Vec<(&str, &str)> {
        list.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    #[test]
    fn numbered_lists_are_the_lists_with_retries_names() {
        let r = RetryHeaders::new(&RetryConfig::default(), Some(1500));
        let lists: Vec<&[Header]> = r.lists().collect();
        assert_eq!(lists.len(), r.list_count());
        assert_eq!(r.list_count(), 6, "0..=2 retries, gRPC and not");
        for grpc in [true, false] {
            for n in 0..5 {
                assert_eq!(
                    lists[r.list_index(n, grpc)],
                    r.with_retries(n, grpc),
                    "{n} {grpc}"
                );
            }
        }
        assert_ne!(r.list_index(2, true), r.list_index(2, false));
        assert_eq!(
            r.list_index(9, false),
            r.list_index(2, false),
            "capped like with_retries"
        );
    }

    #[test]
    fn default_policy_lists() {
        let r = RetryHeaders::new(&RetryConfig::default(), Some(1500));
        assert_eq!(r.max_retries(), 2);
        assert_eq!(
            h(r.no_retries()),
            [
                ("x-envoy-max-retries", "0"),
                ("x-envoy-upstream-rq-timeout-ms", "1500"),
            ]
        );
        assert_eq!(r.with_retries(0, true), r.no_retries());
        assert_eq!(r.with_retries(0, false), r.no_retries());
        assert_eq!(
            h(r.with_retries(2, true)),
            [
                ("x-envoy-max-retries", "2"),
                (
                    "x-envoy-retry-on",
                    "5xx,reset,connect-failure,refused-stream"
                ),
                ("x-envoy-retry-grpc-on", "unavailable,cancelled"),
                ("x-envoy-upstream-rq-timeout-ms", "1500"),
            ]
        );
        assert_eq!(
            h(r.with_retries(2, false)),
            [
                ("x-envoy-max-retries", "2"),
                (
                    "x-envoy-retry-on",
                    "5xx,reset,connect-failure,refused-stream"
                ),
                ("x-envoy-upstream-rq-timeout-ms", "1500"),
            ],
            "gRPC conditions go on gRPC requests only"
        );
        assert_eq!(h(r.with_retries(1, false))[0], ("x-envoy-max-retries", "1"));
        assert_eq!(
            r.with_retries(7, true),
            r.with_retries(2, true),
            "capped at max_retries"
        );
    }

    #[test]
    fn per_try_timeout_normalised_lists_and_missing_timeouts() {
        let c = RetryConfig {
            max_retries: 1,
            retry_on: " gateway-error , reset ".to_owned(),
            grpc_retry_on: String::new(),
            per_try_timeout_ms: Some(250),
            ..RetryConfig::default()
        };
        let r = RetryHeaders::new(&c, None);
        assert_eq!(
            h(r.with_retries(1, true)),
            [
                ("x-envoy-max-retries", "1"),
                ("x-envoy-retry-on", "gateway-error,reset"),
                ("x-envoy-upstream-rq-per-try-timeout-ms", "250"),
            ]
        );
        assert_eq!(
            h(r.no_retries()),
            [
                ("x-envoy-max-retries", "0"),
                ("x-envoy-upstream-rq-per-try-timeout-ms", "250"),
            ]
        );
    }

    #[test]
    fn zero_and_oversized_max_retries() {
        let c = RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        };
        let r = RetryHeaders::new(&c, None);
        assert_eq!(r.max_retries(), 0);
        assert_eq!(h(r.with_retries(3, true)), [("x-envoy-max-retries", "0")]);
        let c = RetryConfig {
            max_retries: u32::MAX,
            ..RetryConfig::default()
        };
        let r = RetryHeaders::new(&c, None);
        assert_eq!(r.max_retries(), MAX_RETRIES_LIMIT);
        assert_eq!(
            h(r.with_retries(u32::MAX, false))[0],
            ("x-envoy-max-retries", "10")
        );
    }

    #[test]
    fn idempotency_decides_who_may_retry() {
        let r = RetryHeaders::new(&RetryConfig::default(), Some(1000));
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
            assert!(r.retries_allowed(m.as_bytes(), false), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "get", "", "PURGE"] {
            assert!(!r.retries_allowed(m.as_bytes(), false), "{m}");
        }
        assert!(r.retries_allowed(b"POST", true));
        assert!(r.retries_allowed(b"PATCH", true));
        assert_eq!(r.idempotency_header(), "idempotency-key");
        assert_eq!(r.for_request(b"POST", false, 5, false), r.no_retries());
        assert_eq!(
            r.for_request(b"POST", true, 5, false),
            r.with_retries(2, false)
        );
        assert_eq!(
            r.for_request(b"GET", false, 1, true),
            r.with_retries(1, true)
        );
        assert_eq!(r.for_request(b"GET", false, 0, true), r.no_retries());

        let lax = RetryConfig {
            retry_non_idempotent: true,
            ..RetryConfig::default()
        };
        let r = RetryHeaders::new(&lax, None);
        assert!(r.retries_allowed(b"POST", false));
        assert!(r.retries_allowed(b"PATCH", false));
    }
}
