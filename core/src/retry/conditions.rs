//! Which answers the router may retry, derived once from a policy's `retry` section and its
//! `outcomes` treatments.
//!
//! Two settings speak about retries, and both must hold in Envoy, where the router does the
//! retrying from the `x-envoy-retry-on`, `x-envoy-retriable-status-codes` and
//! `x-envoy-retry-grpc-on` headers:
//!
//! - `retry.retry_on` / `retry.grpc_retry_on` name Envoy's conditions (`5xx`, `reset`,
//!   `unavailable`, ...), and `retry.retriable_status_codes` lists statuses for the
//!   `retriable-status-codes` condition (a non-empty list turns the condition on by itself);
//! - an **explicit** entry of `outcomes` says whether one answer may be retried: `failure` and
//!   `retryable` may, `failure_no_retry` and `ignore` may not (see [`Treatment`]).
//!
//! An explicit treatment wins over the conditions. A status marked retryable that no condition
//! covers (say `"429": "retryable"`) joins `x-envoy-retriable-status-codes`. A status marked not
//! retryable that a broad condition covers (say `"503": "failure_no_retry"` under `5xx`)
//! cannot be carved out of that condition in Envoy, so the condition is spelt out instead:
//! `5xx` becomes `reset,connect-failure,refused-stream,retriable-status-codes` with every 5xx
//! status but the excluded ones. The same holds for the `reset`, `connect_failure` and
//! `timeout` treatments. Defaults (no entry in `outcomes`) never change the conditions.
//!
//! # Requests that are not idempotent
//!
//! A POST or PATCH without an idempotency key (and `retry_non_idempotent` off) may have changed
//! something upstream, so repeating it is only safe when the upstream provably never processed
//! it. Such requests are retried on exactly those conditions, kept from the ones the policy
//! allows: `connect-failure`, `refused-stream` and `reset-before-request` (implied by `reset`,
//! `5xx` and `gateway-error`), and for gRPC `unavailable` (gRPC's own rule for transparent
//! retries: the server did not start the call). Every gRPC call is a POST, so without this rule
//! a gRPC policy would never retry at all.
//!
//! What Envoy's router cannot do as configured (a gRPC code it has no retry condition for, a
//! per-try timeout marked retryable without `5xx`) is not refused: it is returned as a note, and
//! the Envoy adapters log it once when the configuration is loaded.

use super::config::{HTTP_RETRY_ON, RetryConfig, tokens};
use crate::outcome::{OutcomesConfig, Treatment, grpc};

/// The gRPC statuses Envoy's router can retry, by its condition names.
pub const GRPC_CONDITIONS: [(&str, u32); 5] = [
    ("cancelled", grpc::CANCELLED),
    ("deadline-exceeded", grpc::DEADLINE_EXCEEDED),
    ("internal", grpc::INTERNAL),
    ("resource-exhausted", grpc::RESOURCE_EXHAUSTED),
    ("unavailable", grpc::UNAVAILABLE),
];

/// The conditions that prove the upstream never processed the request.
const BEFORE_PROCESSING: [&str; 3] = ["connect-failure", "refused-stream", "reset-before-request"];

/// The router conditions of one policy, for idempotent (or keyed) requests and for the others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Conditions {
    /// `x-envoy-retry-on` for idempotent or keyed requests.
    pub http: Vec<&'static str>,
    /// `x-envoy-retriable-status-codes`, ascending (empty: the header is not written).
    pub status_codes: Vec<u16>,
    /// `x-envoy-retry-grpc-on` for idempotent or keyed gRPC requests.
    pub grpc: Vec<&'static str>,
    /// `x-envoy-retry-on` for requests that are neither idempotent nor keyed.
    pub early_http: Vec<&'static str>,
    /// `x-envoy-retry-grpc-on` for gRPC requests that are neither idempotent nor keyed.
    pub early_grpc: Vec<&'static str>,
    /// What the router cannot do as configured: (field under the policy, message).
    pub notes: Vec<(String, String)>,
}

/// A set of HTTP statuses (0..640) as bits: the few operations the derivation needs, without
/// a B-tree's code in the Envoy filter (a `BTreeSet<u16>` here cost it ~20 KB).
#[derive(Clone, Copy, Default)]
struct Statuses([u64; 10]);

impl Statuses {
    fn insert(&mut self, s: u16) {
        if let Some(w) = self.0.get_mut(usize::from(s / 64)) {
            *w |= 1 << (s % 64);
        }
    }

    fn remove(&mut self, s: u16) {
        if let Some(w) = self.0.get_mut(usize::from(s / 64)) {
            *w &= !(1 << (s % 64));
        }
    }

    fn contains(&self, s: u16) -> bool {
        self.0
            .get(usize::from(s / 64))
            .is_some_and(|w| w & (1 << (s % 64)) != 0)
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The statuses, ascending (set bits only: most sets hold a handful of 640).
    fn to_vec(self) -> Vec<u16> {
        let mut out = Vec::new();
        for (i, word) in (0u16..).zip(self.0) {
            let mut w = word;
            while w != 0 {
                out.push(i * 64 + w.trailing_zeros() as u16);
                w &= w - 1;
            }
        }
        out
    }
}

/// Whether a treatment lets an answer be retried.
const fn retries(t: Treatment) -> bool {
    matches!(t, Treatment::Failure | Treatment::Retryable)
}

/// The explicit HTTP treatments of `outcomes`, status by status (classes first, exact statuses
/// over them, as the classifier compiles them).
fn explicit_http(outcomes: &OutcomesConfig) -> Vec<(u16, Treatment)> {
    use crate::outcome::config::HttpKey;
    if outcomes.http.is_empty() {
        return Vec::new(); // most policies: no table to build
    }
    let mut table: Vec<Option<Treatment>> = vec![None; 600];
    for exact in [false, true] {
        for (key, t) in &outcomes.http {
            match HttpKey::parse(key) {
                Some(HttpKey::Class(c)) if !exact => {
                    for s in (c * 100)..(c * 100 + 100) {
                        table[usize::from(s)] = Some(*t);
                    }
                }
                Some(HttpKey::Status(s)) if exact => table[usize::from(s)] = Some(*t),
                _ => {}
            }
        }
    }
    (100u16..600)
        .filter_map(|s| table[usize::from(s)].map(|t| (s, t)))
        .collect()
}

/// The statuses a condition covers in Envoy.
fn covered_by(condition: &str) -> &'static [u16] {
    const GATEWAY: [u16; 3] = [502, 503, 504];
    match condition {
        "gateway-error" => &GATEWAY,
        "retriable-4xx" => &[409],
        _ => &[],
    }
}

impl Conditions {
    /// Derives the conditions of a policy from its retry section and its outcome treatments.
    pub fn new(config: &RetryConfig, outcomes: &OutcomesConfig) -> Conditions {
        let mut notes = Vec::new();
        // Conditions as the static names of Envoy's vocabulary (validation refuses the others),
        // in the order written, without repeats.
        let mut http: Vec<&'static str> = Vec::new();
        for t in tokens(&config.retry_on) {
            if let Some(c) = HTTP_RETRY_ON.iter().find(|c| **c == t)
                && !http.contains(c)
            {
                http.push(c);
            }
        }
        let has = |http: &[&str], c: &str| http.contains(&c);
        let mut codes = Statuses::default();
        for s in &config.retriable_status_codes {
            codes.insert(*s);
        }

        let statuses = explicit_http(outcomes);
        let mut excluded = Statuses::default();
        for (s, t) in &statuses {
            if !retries(*t) {
                excluded.insert(*s);
            }
        }
        let narrowed = |t: Option<Treatment>| t.is_some_and(|t| !retries(t));
        let widened = |t: Option<Treatment>| t.is_some_and(retries);
        let (reset_out, connect_out, timeout_out) = (
            narrowed(outcomes.reset),
            narrowed(outcomes.connect_failure),
            narrowed(outcomes.timeout),
        );

        // Spell out `5xx` and `gateway-error` when something they cover must not be retried.
        let five_xx: [u16; 100] = std::array::from_fn(|i| 500 + i as u16);
        for (broad, statuses) in [
            ("5xx", &five_xx[..]),
            ("gateway-error", covered_by("gateway-error")),
        ] {
            let carve = statuses.iter().any(|s| excluded.contains(*s))
                || reset_out
                || connect_out
                || timeout_out;
            if has(&http, broad) && carve {
                http.retain(|h| *h != broad);
                for s in statuses.iter().filter(|s| !excluded.contains(**s)) {
                    codes.insert(*s);
                }
                let mut parts = vec!["reset", "connect-failure"];
                if broad == "5xx" {
                    parts.push("refused-stream");
                }
                for part in parts {
                    if !has(&http, part) {
                        http.push(part);
                    }
                }
                if !timeout_out && config.per_try_timeout_ms.is_some() {
                    notes.push((
                        "retry.retry_on".to_owned(),
                        format!(
                            "`{broad}` was spelt out to leave out answers marked not retryable; \
                             per-try timeouts are no longer retried"
                        ),
                    ));
                }
            }
        }
        if has(&http, "retriable-4xx") && excluded.contains(409) {
            http.retain(|h| *h != "retriable-4xx");
        }
        if reset_out {
            http.retain(|h| *h != "reset" && *h != "reset-before-request");
        }
        if connect_out {
            http.retain(|h| *h != "connect-failure");
        }
        for s in excluded.to_vec() {
            codes.remove(s);
        }

        // Statuses marked retryable that no condition covers join the status list.
        let covers = |http: &[&str], s: u16| {
            (has(http, "5xx") && (500..600).contains(&s))
                || http.iter().any(|h| covered_by(h).contains(&s))
        };
        for (s, t) in &statuses {
            if retries(*t) && !covers(&http, *s) {
                codes.insert(*s);
            }
        }
        if widened(outcomes.reset) && !has(&http, "reset") && !has(&http, "5xx") {
            http.push("reset");
        }
        if widened(outcomes.connect_failure)
            && !["connect-failure", "5xx", "gateway-error"]
                .iter()
                .any(|c| has(&http, c))
        {
            http.push("connect-failure");
        }
        if widened(outcomes.timeout) && !has(&http, "5xx") && !has(&http, "gateway-error") {
            notes.push((
                "outcomes.timeout".to_owned(),
                "Envoy's router retries a per-try timeout only under `5xx` or `gateway-error`; \
                 add one to retry.retry_on"
                    .to_owned(),
            ));
        }
        if codes.is_empty() {
            http.retain(|h| *h != "retriable-status-codes");
        } else if !has(&http, "retriable-status-codes") {
            http.push("retriable-status-codes");
        }

        // gRPC: conditions by name, narrowed and widened by explicit treatments.
        let mut grpc_on: Vec<&'static str> = Vec::new();
        for t in tokens(&config.grpc_retry_on) {
            if let Some((c, _)) = GRPC_CONDITIONS.iter().find(|(c, _)| *c == t)
                && !grpc_on.contains(c)
            {
                grpc_on.push(c);
            }
        }
        for (key, t) in &outcomes.grpc {
            let Some(code) = crate::outcome::config::parse_grpc_key(key) else {
                continue;
            };
            let name = GRPC_CONDITIONS
                .iter()
                .find(|(_, c)| *c == code)
                .map(|(n, _)| *n);
            match (name, retries(*t)) {
                (Some(n), true) if !grpc_on.contains(&n) => grpc_on.push(n),
                (Some(n), false) => grpc_on.retain(|g| *g != n),
                (None, true) => notes.push((
                    format!("outcomes.grpc.{key}"),
                    format!(
                        "Envoy's router has no retry condition for {}; it is counted but not \
                         retried",
                        grpc::grpc_code_name(code).unwrap_or("this code")
                    ),
                )),
                _ => {}
            }
        }

        // Requests that are neither idempotent nor keyed: only what proves no processing.
        let broad = has(&http, "5xx") || has(&http, "gateway-error");
        let early_http = BEFORE_PROCESSING
            .iter()
            .filter(|c| {
                has(&http, c) || broad || (**c == "reset-before-request" && has(&http, "reset"))
            })
            .copied()
            .collect();
        let early_grpc = grpc_on
            .iter()
            .filter(|g| **g == "unavailable")
            .copied()
            .collect();
        Conditions {
            http,
            status_codes: codes.to_vec(),
            grpc: grpc_on,
            early_http,
            early_grpc,
            notes,
        }
    }
}

#[cfg(test)]
mod tests;
