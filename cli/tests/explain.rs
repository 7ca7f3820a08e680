//! `breakwater explain` as users run it, held to the source documents' preset table (SEEDS.md,
//! source 002, read as written) and to the engine itself: the headers it prints are the ones a
//! real request gets.

use std::path::Path;
use std::process::{Command, Output};

use breakwater_core::{
    Config, Decision, Engine, HeaderLookup, MemoryStore, Nanos, RequestInfo, random::SplitMix64,
};
use serde_json::Value;

/// Source 002's preset table, verbatim: core's copy, which `core/tests/seeds.rs` checks
/// against SEEDS.md.
const PRESETS: &str = include_str!("../../core/tests/data/presets-002.md");

/// One row of the table, in the source's words turned into numbers.
struct Row {
    preset: String,
    timeout_ms: u64,
    failures: u64,
    cooldown_ms: u64,
    retries: u64,
}

fn rows() -> Vec<Row> {
    PRESETS
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let breaker: Vec<&str> = cells[2].split(',').map(str::trim).collect();
            Row {
                preset: cells[0].to_owned(),
                timeout_ms: seconds_ms(cells[1]),
                failures: number(breaker[0].strip_suffix(" failures").expect("failures")),
                cooldown_ms: seconds_ms(breaker[1].strip_suffix(" cooldown").expect("cooldown")),
                retries: match cells[3] {
                    "none" => 0,
                    r => number(r.strip_suffix(" retries").expect("retries")),
                },
            }
        })
        .collect()
}

fn number(s: &str) -> u64 {
    s.trim().parse().expect("a number")
}

fn seconds_ms(cell: &str) -> u64 {
    number(cell.strip_suffix(" s").expect("seconds")) * 1000
}

#[test]
fn the_table_has_the_six_presets() {
    assert_eq!(rows().len(), 6);
}

fn explain(dir: &Path, body: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let file = dir.join("policies.yaml");
    std::fs::write(&file, body).expect("write");
    let mut command = Command::new(env!("CARGO_BIN_EXE_breakwater"));
    command.arg("explain").args(args).arg(&file);
    // Only the variables the test sets: a developer's own BREAKWATER_* must not leak in.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BREAKWATER_")) {
        command.env_remove(k);
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

fn explain_json(dir: &Path, body: &str, env: &[(&str, &str)]) -> Value {
    let o = explain(dir, body, &["--format", "json"], env);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

/// Policy `i` of the first configuration.
fn policy(doc: &Value, i: usize) -> &Value {
    &doc["configurations"][0]["policies"][i]
}

/// The (value, source) of `key` in a policy.
fn setting(p: &Value, key: &str) -> (Value, String) {
    let s = p["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {p}"));
    (
        s["value"].clone(),
        s["source"].as_str().expect("source").to_owned(),
    )
}

/// The headers of the request kind whose label starts with `kind`, as (name, value) pairs.
fn headers(p: &Value, kind: &str) -> Vec<(String, String)> {
    let r = p["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["request"].as_str().is_some_and(|l| l.starts_with(kind)))
        .unwrap_or_else(|| panic!("no request {kind} in {p}"));
    r["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_owned(),
                h["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn header<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn every_preset_row_with_an_explicit_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    for row in rows() {
        // The preset, and one key the policy sets itself: it wins, the rest is the preset's.
        let explicit = row.failures + 2;
        let body = format!(
            "policies:\n- name: dep\n  preset: {}\n  breaker:\n    failure_threshold: {explicit}\n",
            row.preset
        );
        let doc = explain_json(dir.path(), &body, &[]);
        let p = policy(&doc, 0);
        let from_preset = format!("preset {}", row.preset);
        let at = &row.preset;
        assert_eq!(
            setting(p, "timeout_ms"),
            (row.timeout_ms.into(), from_preset.clone()),
            "{at}"
        );
        assert_eq!(
            setting(p, "breaker.failure_threshold"),
            (explicit.into(), "explicit".into()),
            "{at}"
        );
        assert_eq!(
            setting(p, "breaker.recovery_timeout_ms"),
            (row.cooldown_ms.into(), from_preset.clone()),
            "{at}"
        );
        assert_eq!(
            setting(p, "retry.max_retries"),
            (row.retries.into(), from_preset.clone()),
            "{at}"
        );
        // Production (the default profile) sets the rate threshold; nothing set the mode.
        assert_eq!(
            setting(p, "breaker.failure_rate_threshold").1,
            "environment production",
            "{at}"
        );
        assert_eq!(setting(p, "breaker.mode").1, "default", "{at}");

        // What the router is told: the preset's timeout replaces the route's, and its retries
        // (a preset without retries has one list for every request).
        let get = headers(
            p,
            if row.retries > 0 {
                "GET"
            } else {
                "every request"
            },
        );
        let timeout = row.timeout_ms.to_string();
        assert_eq!(
            header(&get, "x-envoy-upstream-rq-timeout-ms"),
            Some(timeout.as_str()),
            "{at}"
        );
        let retries = row.retries.to_string();
        assert_eq!(
            header(&get, "x-envoy-max-retries"),
            Some(retries.as_str()),
            "{at}"
        );
        assert_eq!(
            header(&get, "x-envoy-retry-on").is_some(),
            row.retries > 0,
            "{at}: {get:?}"
        );
    }
}

#[test]
fn environment_variables_show_as_env_and_the_profile_as_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "service: checkout\npolicies:\n- name: payments\n  match: {cluster: payments}\n  preset: grpc\n";
    let var = "BREAKWATER_POLICY_PAYMENTS_BREAKER_FAILURE_THRESHOLD";
    let env = [("BREAKWATER_ENVIRONMENT", "testing"), (var, "4")];
    let doc = explain_json(dir.path(), body, &env);
    let c = &doc["configurations"][0];
    assert_eq!(c["environment"]["value"], "testing");
    assert_eq!(c["environment"]["source"], "env BREAKWATER_ENVIRONMENT");
    assert_eq!(c["service"]["source"], "explicit");
    let p = policy(&doc, 0);
    assert_eq!(
        setting(p, "breaker.failure_threshold"),
        (4.into(), format!("env {var}"))
    );
    // testing's own keys where the preset is silent; the grpc row where it speaks (60 s
    // cooldown over testing's 1 s).
    assert_eq!(
        setting(p, "breaker.probe_lease_ms"),
        (2000.into(), "environment testing".into())
    );
    assert_eq!(
        setting(p, "breaker.minimum_calls"),
        (5.into(), "environment testing".into())
    );
    let grpc = rows().into_iter().find(|r| r.preset == "grpc").unwrap();
    assert_eq!(
        setting(p, "breaker.recovery_timeout_ms"),
        (grpc.cooldown_ms.into(), "preset grpc".into())
    );

    // The text form says the same, one line per key.
    let o = explain(dir.path(), body, &[], &env);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("breaker.failure_threshold "))
        .expect("the line");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        words,
        ["breaker.failure_threshold", "4", "env", var],
        "{line}"
    );
    assert!(
        out.contains("environment \"testing\" (env BREAKWATER_ENVIRONMENT)"),
        "{out}"
    );
    assert!(
        out.contains(
            "x-envoy-upstream-rq-timeout-ms: 30000    <- timeout_ms, preset grpc: replaces the route's timeout"
        ),
        "{out}"
    );
}

/// Headers a request could carry, for the engine.
struct Headers(&'static [(&'static str, &'static str)]);

impl HeaderLookup for Headers {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

#[test]
fn the_headers_are_the_ones_a_real_request_gets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"{"policies": [{"name": "api", "preset": "grpc",
        "retry": {"per_try_timeout_ms": 800, "retriable_status_codes": [429]}}]}"#;
    let doc = explain_json(dir.path(), body, &[]);
    let p = policy(&doc, 0);
    let config = Config::from_json(body).expect("valid");
    let kinds: [(&str, &str, Headers); 4] = [
        ("GET", "GET", Headers(&[])),
        ("POST", "POST", Headers(&[])),
        (
            "gRPC:",
            "POST",
            Headers(&[("content-type", "application/grpc")]),
        ),
        (
            "gRPC with",
            "POST",
            Headers(&[
                ("content-type", "application/grpc"),
                ("idempotency-key", "k1"),
            ]),
        ),
    ];
    for (kind, method, request_headers) in kinds {
        // A fresh engine per request: a full retry budget, as explain assumes.
        let mut engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(7), Nanos::ZERO);
        let request = RequestInfo {
            method,
            path: "/",
            cluster: "",
            route: "",
            headers: &request_headers,
        };
        let Decision::Proceed { ticket } = engine.on_request(Nanos::from_secs(1), &request) else {
            panic!("{kind}: the request should proceed");
        };
        let sent: Vec<(String, String)> = engine.request_headers(ticket).to_vec();
        let label = kind.trim_end_matches(':');
        let shown = headers(p, label);
        assert_eq!(shown, sent, "{kind}");
        assert!(header(&sent, "x-envoy-upstream-rq-per-try-timeout-ms") == Some("800"));
    }
}

#[test]
fn a_hedged_policy_shows_the_hedge_header_where_retries_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"{"policies": [{"name": "api",
        "retry": {"per_try_timeout_ms": 300, "hedge_on_per_try_timeout": true}}]}"#;
    let doc = explain_json(dir.path(), body, &[]);
    let p = policy(&doc, 0);
    let get = headers(p, "GET");
    assert_eq!(
        header(&get, "x-envoy-hedge-on-per-try-timeout"),
        Some("true")
    );
    assert_eq!(
        header(&get, "x-envoy-upstream-rq-per-try-timeout-ms"),
        Some("300")
    );
    assert_eq!(
        header(&headers(p, "POST"), "x-envoy-hedge-on-per-try-timeout"),
        None,
        "a request that is not idempotent is not sent twice at once"
    );
    let (value, source) = setting(p, "retry.hedge_on_per_try_timeout");
    assert_eq!((value, source.as_str()), (Value::Bool(true), "explicit"));
}

#[test]
fn a_timeout_left_to_the_route_sends_no_timeout_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "policies:\n- name: db\n  preset: database\n  timeout_ms: route\n- name: other\n  match: {path_prefix: /x}\n  bulkhead: {max_concurrent: 2}\n";
    let doc = explain_json(dir.path(), body, &[]);
    let p = policy(&doc, 0);
    assert_eq!(
        setting(p, "timeout_ms"),
        ("route".into(), "explicit".into())
    );
    for r in p["requests"].as_array().unwrap() {
        let names: Vec<&str> = r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&"x-envoy-upstream-rq-timeout-ms"), "{r}");
    }
    assert!(
        p["route_timeout"]
            .as_str()
            .is_some_and(|t| t.contains("the route's own timeout applies")),
        "{p}"
    );

    // --policy keeps one; an unknown name is refused with the names there are.
    let o = explain(dir.path(), body, &["--policy", "other"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.contains("policy other (policies[1])") && !out.contains("policy db"),
        "{out}"
    );
    assert!(out.contains("bulkhead.max_concurrent"), "{out}");
    let o = explain(dir.path(), body, &["--policy", "nope"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no policy named \"nope\" (it has db, other)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_broken_configuration_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = explain(
        dir.path(),
        "policies:\n- name: a\n  breaker: {failure_treshold: 3}\n",
        &[],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error: policies[0].breaker.failure_treshold: unknown field"),
        "{err}"
    );
    // A bad override names the variable.
    let o = explain(
        dir.path(),
        "policies:\n- name: a\n",
        &[],
        &[("BREAKWATER_POLICY_NOPE_BREAKER_X", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("BREAKWATER_POLICY_NOPE_BREAKER_X: names no policy"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_configuration_inside_an_envoy_file_is_explained_where_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = root.join("envoy/istio/wasmplugin.yaml");
    let o = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(["explain", "--format", "json"])
        .arg(&file)
        .env_remove("BREAKWATER_ENVIRONMENT")
        .output()
        .expect("runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(doc["configurations"][0]["place"], "spec.pluginConfig");
    assert!(!policy(&doc, 0)["settings"].as_array().unwrap().is_empty());
}
