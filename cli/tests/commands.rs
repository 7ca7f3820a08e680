//! The `breakwater` command as users run it: the real binary, real files, exit statuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn breakwater(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p.display().to_string()
}

#[test]
fn the_shipped_examples_pass() {
    for file in ["envoy/demo.json", "envoy/istio/wasmplugin.yaml"] {
        let o = breakwater(&["check", root().join(file).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", text(&o));
        assert!(
            text(&o).contains("1 configuration(s) checked: 0 error(s)"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn every_entry_of_the_invalid_corpus_is_refused_with_its_path() {
    let corpus = root().join("host-tests/tests/data/invalid_configs.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus).expect("corpus")).expect("json");
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, case) in cases.iter().enumerate() {
        let expect = case["expect"].as_str().expect("expect");
        let body = match &case["config"] {
            serde_json::Value::String(raw) => raw.clone(),
            config => config.to_string(),
        };
        let file = write(dir.path(), &format!("case{i}.json"), &body);
        let o = breakwater(&["check", &file]);
        assert_eq!(o.status.code(), Some(1), "case {i}: {}", text(&o));
        // The path leads the message (`policies[0].name: …`); a missing top-level key or a
        // syntax error's line and column are named in it.
        let named = text(&o)
            .lines()
            .filter_map(|l| l.split_once(": error: ").map(|(_, m)| m))
            .any(|m| m.starts_with(expect) || m.contains(expect));
        assert!(
            named,
            "case {i}: expected a problem at {expect}: {}",
            text(&o)
        );
    }
}

#[test]
fn problems_in_an_envoy_bootstrap_name_the_file_the_place_and_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bootstrap = r#"
static_resources:
  listeners:
  - name: main
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                root_id: breakwater
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"policies": [{"name": "a", "match": {"cluster": "payments"}, "breaker": {"failure_treshold": 3}}]}'
  clusters:
  - name: backend
"#;
    let file = write(dir.path(), "envoy.yaml", bootstrap);
    let o = breakwater(&["check", &file]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("envoy.yaml: error: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.configuration: policies[0].breaker.failure_treshold: unknown field"), "{out}");

    // Fixed, it passes with a warning: no cluster `payments` in this bootstrap.
    let fixed = write(
        dir.path(),
        "fixed.yaml",
        &bootstrap.replace("failure_treshold", "failure_threshold"),
    );
    let o = breakwater(&["check", &fixed]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("policies[0].match.cluster: \"payments\" names no cluster of this bootstrap (it has backend)"),
        "{}",
        text(&o)
    );
    // As JSON for machines.
    let o = breakwater(&["check", "--format", "json", &file]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(doc["findings"][0]["severity"], "error");
    assert_eq!(doc["configurations"], 1);
}

#[test]
fn a_policy_behind_a_catch_all_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "p.json",
        r#"{"policies": [{"name": "all"}, {"name": "api", "match": {"path_prefix": "/api"}}]}"#,
    );
    let o = breakwater(&["check", &file]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o).contains(
            "warning: policies[1]: never applies: policies[0] (all) matches every request"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn unreadable_files_and_bad_arguments_exit_2() {
    let o = breakwater(&["check", "/nonexistent/breakwater.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot read"));
    assert_eq!(breakwater(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(breakwater(&["check"]).status.code(), Some(2));
    let help = breakwater(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help).contains("breakwater check"));
}

#[test]
fn render_applies_the_environment_and_checks_the_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "policies.yaml",
        "service: checkout\npolicies:\n- name: payments\n  preset: grpc\n",
    );
    let o = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(["render", &file, "--as", "envoy"])
        .env("BREAKWATER_ENVIRONMENT", "testing")
        .env("BREAKWATER_POLICY_PAYMENTS_BREAKER_FAILURE_THRESHOLD", "3")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        out["@type"],
        "type.googleapis.com/google.protobuf.StringValue"
    );
    let config: serde_json::Value =
        serde_json::from_str(out["value"].as_str().expect("value")).expect("json");
    assert_eq!(config["environment"], "testing");
    assert_eq!(config["policies"][0]["breaker"]["failure_threshold"], 3);

    let o = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(["render", &file])
        .env(
            "BREAKWATER_POLICY_PAYMENTS_BREAKER_FAILURE_THRESHOLD",
            "many",
        )
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("policies[0].breaker.failure_threshold: invalid type: string \"many\""),
        "{}",
        text(&o)
    );
}
