//! `make demo` end to end: the whole narrated scenario against real Envoy 1.40 (2 workers), with
//! every step's checks, in about 10 s; and `make envoy`'s serve mode starting and stopping.
//!
//! The demo is itself a chain of checks, so running it here keeps `make demo` from rotting: a
//! change to the filter, the Envoy template or envoy/demo.json that breaks a claim the demo
//! narrates fails `make test` with the step, the claim and the evidence.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

use std::time::{Duration, Instant};

use host_tests::demo::narrate::Narrator;
use host_tests::demo::record::Kind;
use host_tests::demo::{self, scenario, serve};

#[test]
fn the_demo_runs_every_step_and_every_claim_holds() {
    let out = tempfile::tempdir().expect("temp dir");
    let (say, transcript) = Narrator::buffer();
    let started = Instant::now();
    let result = demo::run(&say, out.path());
    let text = transcript.text();
    let report = result.unwrap_or_else(|e| panic!("{e}\n--- transcript ---\n{text}"));
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
    assert!(!text.contains('✘'), "{text}");
    assert!(text.contains("all 7 steps behaved as narrated"), "{text}");
    assert!(
        !text.contains("\x1b["),
        "colours in a non-terminal transcript"
    );

    assert_eq!(report.summary.len(), scenario::STEPS.len());
    let open = &report.summary[1];
    assert!(open.count(Kind::CircuitOpen) >= 40, "{open:?}");
    assert!(report.summary[3].count(Kind::Shed) >= 1);
    assert!(report.summary[4].count(Kind::Injected) >= 5);

    let html = std::fs::read_to_string(&report.timeline).expect("timeline written");
    assert!(report.timeline.starts_with(out.path()));
    assert!(html.contains("<svg") && html.contains("checkout breaker"));
    assert!(
        report
            .prometheus
            .iter()
            .any(|l| l.starts_with("breakwater_rejected_open{policy=\"checkout\"}")),
        "{:?}",
        report.prometheus
    );
}

#[test]
fn serve_mode_starts_the_stack_prints_how_to_use_it_and_stops() {
    let (say, transcript) = Narrator::buffer();
    serve::serve(&say, Some(Duration::from_secs(1))).expect("serve starts and stops");
    let text = transcript.text();
    for needle in [
        "listener  http://127.0.0.1:",
        "/_control/status/503",
        "x-failure-inject",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}
