//! A corpus of invalid configurations (`data/invalid_configs.json`: what is wrong, and the JSON
//! path or phrase the error must name), each refused three ways: by the core parser, by the real
//! filter in the harness (`on_configure` returns false and logs the path), and by real Envoy's
//! `envoy --mode validate`, which runs the VM and must fail printing the path.

use artifacts::BREAKWATER_FILTER;
use breakwater_core::Config;
use envoy_kit::envoy::Envoy;
use proxywasm_host::HostError;
use serde_json::Value;

/// One corpus entry: the text to load and what its error must mention.
struct Case {
    expect: String,
    config: String,
}

fn corpus() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/invalid_configs.json"
    );
    let text = std::fs::read_to_string(path).expect("corpus readable");
    let entries: Vec<Value> = serde_json::from_str(&text).expect("corpus is JSON");
    let cases: Vec<Case> = entries
        .into_iter()
        .map(|e| Case {
            expect: e["expect"].as_str().expect("expect is a string").to_owned(),
            // A string config is used verbatim (syntax errors); anything else as JSON.
            config: match &e["config"] {
                Value::String(raw) => raw.clone(),
                other => other.to_string(),
            },
        })
        .collect();
    assert!(cases.len() >= 30, "the corpus shrank to {}", cases.len());
    cases
}

#[test]
fn the_core_refuses_every_entry_naming_its_path() {
    for case in corpus() {
        match Config::from_json(&case.config) {
            Ok(_) => panic!("accepted: {}", case.config),
            Err(e) => assert!(
                e.to_string().contains(&case.expect),
                "{}\nerror does not name {:?}:\n{e}",
                case.config,
                case.expect
            ),
        }
    }
}

#[test]
fn the_filter_refuses_every_entry_in_on_configure() {
    for case in corpus() {
        match proxywasm_host::Envoy::start(&BREAKWATER_FILTER, 1, &case.config) {
            Err(HostError::ConfigRejected { logs, .. }) => {
                assert!(logs.contains(&case.expect), "{}\n{logs}", case.config)
            }
            Err(other) => panic!("{}: unexpected host error {other}", case.config),
            Ok(_) => panic!("the filter accepted: {}", case.config),
        }
    }
}

#[test]
fn envoy_validate_refuses_every_entry_naming_its_path() {
    let cases = corpus();
    // Two at a time: each validation starts a V8 VM.
    let failures: Vec<String> = std::thread::scope(|s| {
        let halves: Vec<_> = cases
            .chunks(cases.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|case| {
                            let result = Envoy::from_template("demo.yaml")
                                .upstream_port(1)
                                .filter_wasm(BREAKWATER_FILTER.path())
                                .plugin_config(&case.config)
                                .validate();
                            match result {
                                Ok(()) => Some(format!("accepted: {}", case.config)),
                                Err(out) if !out.contains(&case.expect) => Some(format!(
                                    "{}: output does not name {:?}:\n{out}",
                                    case.config, case.expect
                                )),
                                Err(_) => None,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves
            .into_iter()
            .flat_map(|h| h.join().expect("validation thread"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
