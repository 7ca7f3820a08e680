//! Every scenario in `harness/conformance/scenarios/` through every adapter: core natively (the
//! reference), the component on wasmtime (world `resilience`, and world `resilience-shared` with
//! one instance per worker over one host store), and the real filter in the proxy-wasm host with one
//! VM per scenario worker, and real Envoy with the filter and with the dynamic module. Each
//! run must meet the scenario's expectations, and each trace must
//! equal core's as far as that adapter can see (`Sight`). An adapter that cannot play a
//! scenario must be named in its `not_for`: nothing is skipped silently.

use conformance::envoy::{Adapter, EnvoyDriver};
use conformance::filter::FilterDriver;
use conformance::guest::ComponentDriver;
use conformance::native::NativeDriver;
use conformance::{Driver, Scenario, Sight, Trace, load_dir, run};

fn scenarios() -> Vec<(String, Scenario)> {
    let dir = conformance::scenarios_dir();
    let all = load_dir(&dir).expect("scenarios parse");
    assert!(
        all.len() >= 8,
        "expected the committed scenarios, found {}",
        all.len()
    );
    all
}

/// Plays `s` through `driver`, or says why not: an adapter that cannot play a scenario must be
/// named in its `not_for`, with a reason (some reasons, such as a clock that must be exact, only
/// the scenario can know; the ones a driver can see, it checks).
fn play(
    file: &str,
    s: &Scenario,
    adapter: &str,
    cannot: Option<String>,
    new: impl FnOnce(&Scenario) -> wasmtime::Result<Box<dyn Driver>>,
) -> Option<(Trace, Sight)> {
    match (cannot, s.not_for.get(adapter)) {
        (_, Some(reason)) => {
            eprintln!("{file}: not for {adapter}: {reason}");
            None
        }
        (Some(why), None) => {
            panic!("{file}: {adapter} cannot play it ({why}) and `not_for` does not say so")
        }
        (None, None) => {
            let mut driver = new(s).unwrap_or_else(|e| panic!("{file}: {adapter}: {e:?}"));
            let trace = run(s, driver.as_mut()).unwrap_or_else(|e| panic!("{adapter}: {e:?}"));
            Some((trace, driver.sight()))
        }
    }
}

fn native(file: &str, s: &Scenario) -> Trace {
    play(file, s, "native", None, |s| {
        Ok(Box::new(NativeDriver::new(s)?) as Box<dyn Driver>)
    })
    .expect("native plays every scenario")
    .0
}

/// Asserts `other` saw what core saw, as far as its sight goes.
fn same_as_native(file: &str, adapter: &str, native: &Trace, other: &Trace, sight: Sight) {
    assert_eq!(
        native.len(),
        other.len(),
        "{file}: {adapter}: trace lengths"
    );
    for (i, (n, o)) in native.iter().zip(other).enumerate() {
        assert_eq!(&n.seen_as(sight), o, "{file}: {adapter}: entry {i} differs");
    }
}

#[test]
fn native_engine_meets_every_scenario() {
    for (file, s) in scenarios() {
        let trace = native(&file, &s);
        assert!(!trace.is_empty(), "{file}: nothing observed");
    }
}

#[test]
fn component_decides_exactly_as_the_native_engine() {
    for (file, s) in scenarios() {
        let cannot = ComponentDriver::cannot_play(&s);
        let Some((trace, sight)) = play(&file, &s, "component", cannot, |s| {
            Ok(Box::new(ComponentDriver::new(s)?) as Box<dyn Driver>)
        }) else {
            continue;
        };
        same_as_native(&file, "component", &native(&file, &s), &trace, sight);
    }
}

/// World `resilience-shared`: one instance per worker over one in-memory host store plays every
/// scenario, the multi-worker ones included.
#[test]
fn the_shared_state_component_decides_exactly_as_the_native_engine_on_every_worker() {
    let mut multi = 0;
    for (file, s) in scenarios() {
        let Some((trace, sight)) = play(&file, &s, "component_shared", None, |s| {
            Ok(Box::new(ComponentDriver::shared(s)?) as Box<dyn Driver>)
        }) else {
            continue;
        };
        same_as_native(&file, "component_shared", &native(&file, &s), &trace, sight);
        multi += usize::from(s.workers > 1);
    }
    assert!(multi >= 1, "a scenario with several workers was played");
}

#[test]
fn the_filter_decides_exactly_as_the_native_engine_on_every_worker() {
    for (file, s) in scenarios() {
        let cannot = FilterDriver::cannot_play(&s);
        let Some((trace, sight)) = play(&file, &s, "filter", cannot, |s| {
            Ok(Box::new(FilterDriver::new(s)?) as Box<dyn Driver>)
        }) else {
            continue;
        };
        same_as_native(&file, "filter", &native(&file, &s), &trace, sight);
    }
}

/// Plays every scenario it can through real Envoy with `adapter`.
fn through_real_envoy(adapter: Adapter, name: &str) {
    let mut played = 0;
    for (file, s) in scenarios() {
        let cannot = EnvoyDriver::cannot_play(&s);
        let Some((trace, sight)) = play(&file, &s, name, cannot, |s| {
            Ok(Box::new(EnvoyDriver::new(s, adapter)?) as Box<dyn Driver>)
        }) else {
            continue;
        };
        same_as_native(&file, name, &native(&file, &s), &trace, sight);
        played += 1;
    }
    assert!(played >= 3, "{name} played only {played} scenarios");
}

/// Real Envoy 1.40 with the wasm filter (needs `make envoy-install`; a missing Envoy fails).
#[test]
fn real_envoy_with_the_filter_decides_as_the_native_engine() {
    through_real_envoy(Adapter::Filter, "envoy_filter");
}

/// Real Envoy 1.40 with the dynamic module.
#[test]
fn real_envoy_with_the_module_decides_as_the_native_engine() {
    through_real_envoy(Adapter::Module, "envoy_module");
}

#[test]
fn a_wrong_expectation_fails_the_run() {
    let (_, mut s) = scenarios()
        .into_iter()
        .find(|(f, _)| f == "bulkhead-queue.json")
        .expect("bulkhead scenario");
    // Claim the third request proceeds: both runners must refuse the scenario.
    let text =
        r#"{"name": "x", "config": {}, "steps": [{"request": {"id": "c"}, "expect": "proceed"}]}"#;
    let wrong = Scenario::from_json(text).expect("parses");
    s.steps.truncate(2);
    s.steps.extend(wrong.steps);
    let native_err = run(&s, &mut NativeDriver::new(&s).unwrap()).unwrap_err();
    assert!(format!("{native_err}").contains("step 2"), "{native_err}");
    let component_err = run(&s, &mut ComponentDriver::new(&s).unwrap()).unwrap_err();
    assert!(
        format!("{component_err}").contains("step 2"),
        "{component_err}"
    );
}

#[test]
fn malformed_steps_are_refused() {
    for bad in [
        r#"{"name": "x", "config": {}, "steps": [{"advance_ms": 1, "cancel": "a"}]}"#,
        r#"{"name": "x", "config": {}, "steps": [{"expect": "pass"}]}"#,
        r#"{"name": "x", "config": {}, "steps": [{"advnce_ms": 1}]}"#,
    ] {
        assert!(Scenario::from_json(bad).is_err(), "{bad}");
    }
}
