//! `make demo` end to end: the whole narrated scenario against real Envoy 1.40 (2 workers), with
//! every step's checks, in about 10 s; and `make envoy`'s serve mode starting and stopping.
//!
//! The demo is itself a chain of checks, so running it here keeps `make demo` from rotting: a
//! change to the filter, the Envoy template or envoy/demo.json that breaks a claim the demo
//! narrates fails `make test` with the step, the claim and the evidence.
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

use std::time::{Duration, Instant};

use demo::narrate::Narrator;
use demo::read_table::read_table;
use demo::record::{Kind, StepSummary};
use demo::{self, scenario, serve};

#[test]
fn the_demo_runs_every_step_and_every_claim_holds() {
    every_step_holds(demo::Adapter::Filter);
}

/// `make demo ADAPTER=module`: the same steps and claims on the dynamic module.
#[test]
fn the_demo_runs_every_step_on_the_module_too() {
    every_step_holds(demo::Adapter::Module);
}

fn every_step_holds(adapter: demo::Adapter) {
    let out = tempfile::tempdir().expect("temp dir");
    let (say, transcript) = Narrator::buffer();
    let started = Instant::now();
    let result = demo::run(&say, out.path(), adapter);
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
    summary_table_lines_up(&html, &report.summary);
    assert!(
        report.prometheus.iter().any(|l| l.starts_with(
            "envoy_breakwater_rejections_total{policy=\"checkout\",reason=\"circuit_open\"}"
        )),
        "{:?}",
        report.prometheus
    );
}

#[test]
fn serve_mode_starts_the_stack_prints_how_to_use_it_and_stops() {
    let (say, transcript) = Narrator::buffer();
    serve::serve(&say, Some(Duration::from_secs(1)), demo::Adapter::Filter)
        .expect("serve starts and stops");
    let text = transcript.text();
    for needle in [
        "listener  http://127.0.0.1:",
        "/_control/status/503",
        "x-failure-inject",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

/// The page's summary table as a browser lays it out: a cell per heading in every row, each
/// step's figures and the totals under their own headings.
fn summary_table_lines_up(html: &str, summary: &[StepSummary]) {
    let rows = read_table(html);
    let (header, body) = rows.split_first().expect("a summary table");
    assert_eq!(body.len(), summary.len() + 1, "{rows:?}");
    for row in body {
        assert_eq!(row.len(), header.len(), "{header:?}\n{row:?}");
    }
    let column = |name: &str| {
        let i = header.iter().position(|h| h == name);
        i.unwrap_or_else(|| panic!("no column {name:?} in {header:?}"))
    };
    for (row, step) in body.iter().zip(summary) {
        assert_eq!(row[column("req")], step.requests.to_string(), "{row:?}");
        assert_eq!(
            row[column("open")],
            step.count(Kind::CircuitOpen).to_string()
        );
        assert_eq!(row[column("saved")], step.saved.to_string(), "{row:?}");
        assert!(row[column("p99 ms")].parse::<f64>().is_ok(), "{row:?}");
    }
    let total = body.last().expect("a total row");
    let sum = |f: fn(&StepSummary) -> u64| summary.iter().map(f).sum::<u64>().to_string();
    assert_eq!(total[column("step")], "total");
    assert_eq!(total[column("req")], sum(|s| s.requests), "{total:?}");
    assert_eq!(
        total[column("upstream")],
        sum(|s| s.upstream_hits),
        "{total:?}"
    );
    assert_eq!(total[column("saved")], sum(|s| s.saved), "{total:?}");
    assert_eq!(total[column("ok")], "", "{total:?}");
}
