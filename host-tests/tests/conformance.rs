//! Every scenario in `harness/conformance/scenarios/` through core natively and through the component:
//! each run must meet the scenario's expectations, and the two traces must be identical.


use conformance::guest::ComponentDriver;
use conformance::native::NativeDriver;
use conformance::{Scenario, Trace, load_dir, run};

fn scenarios() -> Vec<(String, Scenario)> {
    let dir = conformance::scenarios_dir();
    let all = load_dir(&dir).expect("scenarios parse");
    assert!(
        all.len() >= 3,
        "expected the committed scenarios, found {}",
        all.len()
    );
    all
}

fn native(s: &Scenario) -> Trace {
    let mut driver = NativeDriver::new(s).expect("native engine");
    run(s, &mut driver).unwrap_or_else(|e| panic!("native: {e:?}"))
}

fn component(s: &Scenario) -> Trace {
    let mut driver = ComponentDriver::new(s).expect("component engine");
    run(s, &mut driver).unwrap_or_else(|e| panic!("component: {e:?}"))
}

#[test]
fn native_engine_meets_every_scenario() {
    for (file, s) in scenarios() {
        let trace = native(&s);
        assert!(!trace.is_empty(), "{file}: nothing observed");
    }
}

#[test]
fn component_decides_exactly_as_the_native_engine() {
    for (file, s) in scenarios() {
        let native = native(&s);
        let component = component(&s);
        assert_eq!(native.len(), component.len(), "{file}: trace lengths");
        for (i, (n, c)) in native.iter().zip(&component).enumerate() {
            assert_eq!(n, c, "{file}: entry {i} differs");
        }
    }
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
