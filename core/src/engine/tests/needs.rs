//! [`crate::RequestNeeds`] is a promise to adapters: what it leaves out never changes a decision
//! and is never looked up. The filter relies on it to read single headers instead of the whole
//! map, so these tests hold the engine to it under configurations that use every part of a
//! request.

use std::cell::RefCell;

use super::*;
use crate::engine::FAULT_HEADER;
use crate::request::{HeaderLookup, RequestNeeds};

/// Configurations that between them read every part of a request.
const CONFIGS: &[&str] = &[
    r#"{"policies":[{"name":"all","breaker":{"failure_threshold":2,"recovery_jitter":0}}]}"#,
    r#"{"policies":[
        {"name":"pay","match":{"path_prefix":"/pay","methods":["POST","GET"]},
         "retry":{"max_retries":2,"idempotency_header":"x-idem"},
         "injection":{"enabled":true,"abort_rate":0.3,"delay_rate":0.0,"header_trigger":true}},
        {"name":"rest","match":{"headers":{"x-tenant":"blue"}},"bulkhead":{"max_concurrent":2}},
        {"name":"edge","match":{"cluster":"edge","route":"r1"},
         "breaker":{"failure_threshold":1,"recovery_jitter":0},"retry":{"max_retries":1}}]}"#,
    r#"{"policies":[{"name":"grpc","preset":"grpc",
        "injection":{"enabled":true,"abort_rate":0.0,"delay_rate":0.0}}]}"#,
    r#"{"policies":[{"name":"quiet","retry":{"max_retries":1},
        "injection":{"enabled":true,"abort_rate":0.5,"header_trigger":false}}]}"#,
];

/// A request: method, path, cluster, route, headers.
type Request = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// Requests that vary every part the configurations above look at.
fn requests() -> Vec<Request> {
    let grpc = ("content-type", "application/grpc");
    vec![
        ("GET", "/pay/1", "", "", vec![]),
        ("POST", "/pay/2", "edge", "r1", vec![("x-idem", "k")]),
        (
            "POST",
            "/pay/3",
            "",
            "",
            vec![grpc, ("x-failure-inject", "true")],
        ),
        ("PATCH", "/other", "edge", "r1", vec![("x-tenant", "blue")]),
        (
            "GET",
            "/other",
            "edge",
            "r2",
            vec![("x-tenant", "green"), ("user-agent", "t")],
        ),
        (
            "DELETE",
            "/",
            "",
            "r1",
            vec![grpc, ("idempotency-key", "k")],
        ),
        (
            "PUT",
            "/pay",
            "edge",
            "r1",
            vec![("x-failure-inject", "TRUE")],
        ),
    ]
}

/// A header map that records which names the engine asked for, and can hide the ones
/// [`RequestNeeds`] leaves out.
struct Recording<'a> {
    pairs: &'a [(&'a str, &'a str)],
    only: Option<&'a [String]>,
    asked: RefCell<Vec<String>>,
}

impl HeaderLookup for Recording<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.asked.borrow_mut().push(name.to_owned());
        if self
            .only
            .is_some_and(|only| !only.iter().any(|n| n == name))
        {
            return None;
        }
        self.pairs.header(name)
    }
}

/// Runs every request through two engines built alike: one sees the whole request, the other
/// only what `needs` keeps. Returns both traces and every header name asked for.
fn run(json: &str, needs: &RequestNeeds) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut full = one(json);
    let mut lean = one(json);
    let (mut a, mut b, mut asked) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..6u64 {
        for (i, (method, path, cluster, route, headers)) in requests().iter().enumerate() {
            let now = ms(round * 700 + i as u64);
            let seen = Recording {
                pairs: headers,
                only: None,
                asked: RefCell::new(Vec::new()),
            };
            let hidden = Recording {
                pairs: headers,
                only: Some(&needs.headers),
                asked: RefCell::new(Vec::new()),
            };
            let keep = |on: bool, v: &'static str| if on { v } else { "" };
            let whole = RequestInfo {
                method,
                path,
                cluster,
                route,
                headers: &seen,
            };
            let trimmed = RequestInfo {
                method: keep(needs.method, method),
                path: keep(needs.path, path),
                cluster: keep(needs.cluster, cluster),
                route: keep(needs.route, route),
                headers: &hidden,
            };
            for (engine, req, trace) in [(&mut full, whole, &mut a), (&mut lean, trimmed, &mut b)] {
                let d = engine.on_request(now, &req);
                if let Decision::Proceed { ticket } = &d {
                    trace.push(format!("{:?}", engine.request_headers(*ticket)));
                    let status = if round % 2 == 0 { 503 } else { 200 };
                    engine.on_response(now, *ticket, &Outcome::http(status), 1);
                }
                trace.push(format!("{d:?}"));
            }
            asked.extend(seen.asked.into_inner());
        }
    }
    (a, b, asked)
}

#[test]
fn the_engine_looks_only_at_what_request_needs_names() {
    for json in CONFIGS {
        let config = Config::from_json(json).unwrap_or_else(|e| panic!("{e}"));
        let needs = config.request_needs();
        let (whole, trimmed, asked) = run(json, &needs);
        assert_eq!(
            whole, trimmed,
            "{json}: leaving out what needs omits changed a decision"
        );
        for name in &asked {
            assert!(
                needs.headers.contains(name),
                "{json}: looked up {name:?}, not in {needs:?}"
            );
        }
        assert!(
            asked.iter().any(|n| n == "content-type"),
            "{json}: the check saw no lookup"
        );
    }
}

#[test]
fn needs_follow_the_configuration() {
    let needs = |json: &str| Config::from_json(json).unwrap().request_needs();
    let plain = needs(CONFIGS[0]);
    assert_eq!(plain.headers, ["content-type"]);
    assert!(!plain.method && !plain.path && !plain.cluster && !plain.route);
    let rich = needs(CONFIGS[1]);
    assert!(rich.method && rich.path && rich.cluster && rich.route);
    let untriggered = needs(CONFIGS[3]);
    assert_eq!(untriggered.headers, ["content-type", "idempotency-key"]);
    assert_eq!(
        rich.headers,
        [
            "content-type",
            FAULT_HEADER,
            "x-idem",
            "x-tenant",
            "idempotency-key"
        ]
    );
}
