//! What an Envoy adapter saw of an upstream answer, and the [`Outcome`] it amounts to.
//!
//! Both Envoy adapters (the proxy-wasm filter and the dynamic module) see an answer the same
//! way, through Envoy's filter chain, and must report the same outcome for it: so the mapping
//! lives here, once, as pure functions over the raw pieces. An adapter only collects them (`:status`, `grpc-status` from the headers of a trailers-only answer *or* from the
//! trailers, and for a 503/504 Envoy's `response.code_details`) and asks [`Observed::outcome`]
//! once the stream ends.
//!
//! The router's own answers pass through the adapter too: an upstream reset becomes a local 503
//! with details `upstream_reset_before_response_started{…}`, a route timeout a local 504 with
//! `upstream_response_timeout`. Those are the upstream's failures and count as such (as a reset,
//! a connect failure or a timeout); only breakwater's *own* replies are never reported.

use super::{Outcome, OutcomeKind, parse_grpc_status, parse_http_status};

/// gRPC `UNKNOWN`: what an unparseable `grpc-status` amounts to.
const GRPC_UNKNOWN: u32 = 2;

/// gRPC `UNAVAILABLE`: what Envoy's own 503 and 504 replies become for a gRPC client.
const GRPC_UNAVAILABLE: u32 = 14;

/// The pieces of an answer the filter collected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Whether the request was gRPC (`content-type: application/grpc*`).
    pub grpc: bool,
    /// The `:status` of the response headers, once they came (unparseable: `Some(0)`).
    pub status: Option<u16>,
    /// The `grpc-status`, from the headers or the trailers (unparseable: `Some(UNKNOWN)`).
    pub grpc_status: Option<u32>,
    /// The response headers came without ending the stream (trailers may follow).
    pub trailers_expected: bool,
    /// Response trailers came.
    pub trailers_seen: bool,
}

impl Observed {
    /// Records the response's `:status` header value, and whether those headers ended the
    /// stream.
    pub fn set_status(&mut self, value: Option<&[u8]>, end_of_stream: bool) {
        self.status = Some(value.and_then(parse_http_status).unwrap_or(0));
        self.trailers_expected = !end_of_stream;
    }

    /// Records a `grpc-status` value seen in the headers or trailers.
    pub fn set_grpc_status(&mut self, value: &[u8]) {
        self.grpc_status = Some(parse_grpc_status(value).unwrap_or(GRPC_UNKNOWN));
    }

    /// Records that the response trailers came (whatever they held).
    pub fn set_trailers_seen(&mut self) {
        self.trailers_seen = true;
    }

    /// Whether the `grpc-status` must still be looked for in the response headers: a gRPC
    /// answer whose headers did not end the stream, and whose trailers never came.
    pub fn grpc_status_in_headers(&self) -> bool {
        self.grpc && self.trailers_expected && !self.trailers_seen && self.grpc_status.is_none()
    }

    /// Whether Envoy's `response.code_details` could refine this answer (a 503 or 504 may be
    /// the router's reply to a reset, a connect failure or a timeout).
    pub fn wants_details(&self) -> bool {
        matches!(self.status, Some(503 | 504)) && self.grpc_status.is_none()
    }

    /// Whether the answer may be Envoy's own reply to an upstream failure, so that reading
    /// `response.code_details` at response-headers time can tell: a 503 or 504
    /// ([`Observed::wants_details`]), or a trailers-only gRPC `UNAVAILABLE` (what Envoy's own
    /// replies become for a gRPC client).
    pub fn may_be_envoy_reply(&self) -> bool {
        self.wants_details()
            || (self.grpc && !self.trailers_expected && self.grpc_status == Some(GRPC_UNAVAILABLE))
    }

    /// The answer as known when the response headers pass, for
    /// [`crate::Engine::on_response_headers`]: Envoy's own failure reply when `details` names
    /// one (see [`Observed::may_be_envoy_reply`]), else what was seen.
    pub fn outcome_at_headers(&self, details: Option<&str>) -> Option<Outcome> {
        self.status?;
        match details.and_then(kind_from_details) {
            Some(kind) => Some(Outcome::without_answer(kind)),
            None => self.outcome(None),
        }
    }

    /// The outcome to report, or `None` when no answer came (the client went away first: the
    /// request is cancelled and the breaker learns nothing). `details` is Envoy's
    /// `response.code_details`, when it was read.
    pub fn outcome(&self, details: Option<&str>) -> Option<Outcome> {
        let status = self.status?;
        if let Some(kind) = details.and_then(kind_from_details) {
            return Some(Outcome::without_answer(kind));
        }
        // A gRPC 200 without any status is reported as seen: the engine judges it
        // (`Outcome::for_request`), the same way for every adapter.
        let http_status = (status != 0).then_some(status);
        Some(Outcome {
            kind: OutcomeKind::Response,
            http_status: http_status.or(Some(502)),
            grpc_status: self.grpc_status,
        })
    }
}

/// The failure Envoy's `response.code_details` names, if it names one.
pub fn kind_from_details(details: &str) -> Option<OutcomeKind> {
    if details.starts_with("upstream_reset_before_response_started{connection_failure")
        || details.starts_with("upstream_reset_before_response_started{connection failure")
        || details == "no_healthy_upstream"
    {
        Some(OutcomeKind::ConnectFailure)
    } else if details.starts_with("upstream_reset") {
        Some(OutcomeKind::Reset)
    } else if details == "upstream_response_timeout" || details == "upstream_per_try_timeout" {
        Some(OutcomeKind::Timeout)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(grpc: bool, status: &str, grpc_status: Option<&str>) -> Observed {
        let mut o = Observed {
            grpc,
            ..Observed::default()
        };
        o.set_status(Some(status.as_bytes()), true);
        if let Some(g) = grpc_status {
            o.set_grpc_status(g.as_bytes());
        }
        o
    }

    #[test]
    fn no_answer_is_no_outcome() {
        assert_eq!(Observed::default().outcome(None), None);
    }

    #[test]
    fn http_status_is_reported() {
        assert_eq!(
            seen(false, "503", None).outcome(None),
            Some(Outcome::http(503))
        );
        assert_eq!(
            seen(false, "404", None).outcome(None),
            Some(Outcome::http(404))
        );
    }

    #[test]
    fn grpc_status_wins_and_a_missing_status_is_left_to_core() {
        assert_eq!(
            seen(true, "200", Some("14")).outcome(None),
            Some(Outcome::grpc(14))
        );
        // Reported as seen; the engine judges it UNKNOWN for a gRPC request.
        assert_eq!(
            seen(true, "200", None).outcome(None),
            Some(Outcome::http(200))
        );
        assert_eq!(
            Outcome::http(200).for_request(true),
            Outcome::grpc(2),
            "core's rule"
        );
        assert_eq!(
            seen(true, "200", Some("nope")).outcome(None),
            Some(Outcome::grpc(2))
        );
        // A gRPC request answered by an HTTP error (no grpc-status) keeps the HTTP verdict.
        assert_eq!(
            seen(true, "503", None).outcome(None),
            Some(Outcome::http(503))
        );
    }

    #[test]
    fn grpc_status_is_looked_for_in_the_headers_only_when_trailers_never_came() {
        let mut o = Observed {
            grpc: true,
            ..Observed::default()
        };
        o.set_status(Some(b"200"), true);
        assert!(
            !o.grpc_status_in_headers(),
            "trailers-only: read with the headers"
        );
        o.set_status(Some(b"200"), false);
        assert!(o.grpc_status_in_headers(), "trailers promised, none came");
        o.set_trailers_seen();
        assert!(!o.grpc_status_in_headers(), "trailers came");
        let mut found = seen(true, "200", Some("0"));
        found.set_status(Some(b"200"), false);
        assert!(!found.grpc_status_in_headers(), "status already known");
        assert!(
            !seen(false, "200", None).grpc_status_in_headers(),
            "not gRPC"
        );
    }

    #[test]
    fn garbage_status_is_a_bad_gateway() {
        assert_eq!(
            seen(false, "abc", None).outcome(None),
            Some(Outcome::http(502))
        );
    }

    #[test]
    fn router_details_refine_5xx() {
        let o = seen(false, "503", None);
        assert!(o.wants_details());
        assert!(!seen(false, "500", None).wants_details());
        let reset = "upstream_reset_before_response_started{remote_reset}";
        let connect = "upstream_reset_before_response_started{connection_failure}";
        assert_eq!(
            o.outcome(Some(reset)).map(|x| x.kind),
            Some(OutcomeKind::Reset)
        );
        assert_eq!(
            o.outcome(Some(connect)).map(|x| x.kind),
            Some(OutcomeKind::ConnectFailure)
        );
        assert_eq!(
            o.outcome(Some("upstream_response_timeout")).map(|x| x.kind),
            Some(OutcomeKind::Timeout)
        );
        assert_eq!(o.outcome(Some("via_upstream")), Some(Outcome::http(503)));
    }

    #[test]
    fn envoy_replies_are_recognised_at_response_headers() {
        let reset = "upstream_reset_before_response_started{remote_reset}";
        assert!(seen(false, "503", None).may_be_envoy_reply());
        assert!(!seen(false, "200", None).may_be_envoy_reply());
        // Envoy answers a gRPC client trailers-only with UNAVAILABLE.
        let grpc = seen(true, "200", Some("14"));
        assert!(grpc.may_be_envoy_reply());
        assert_eq!(
            grpc.outcome_at_headers(Some(reset)).map(|o| o.kind),
            Some(OutcomeKind::Reset)
        );
        assert_eq!(
            grpc.outcome_at_headers(Some("via_upstream")),
            Some(Outcome::grpc(14))
        );
        assert_eq!(
            grpc.outcome(None),
            Some(Outcome::grpc(14)),
            "the reported outcome keeps the gRPC status"
        );
        assert!(!seen(true, "200", Some("0")).may_be_envoy_reply());
        assert_eq!(Observed::default().outcome_at_headers(Some(reset)), None);
    }
}
