//! What operators read: breakwater's metrics in real Envoy's `/stats/prometheus`, the Grafana
//! dashboard and the Prometheus alerting rules of `envoy/observability/`.
//!
//! - Both Envoy adapters run the same traffic (successes, failures that open a breaker, a full
//!   bulkhead with a queue, an injected abort and delay); their `/stats/prometheus` must show
//!   the same series (names and labels) and the same types, every metric of core's table among
//!   them, counters ending in `_total`; and neither the dashboard nor a rule may query a metric
//!   that breakwater does not export.
//! - The rules pass `promtool check rules` and their unit tests (`promtool test rules`); every
//!   dashboard query is valid PromQL (`promtool check rules` over it, Grafana's variables
//!   filled in).
//!
//! Needs Envoy (`make envoy-install`) and promtool (`make promtool-install`); a missing one
//! fails the test.

mod e2e;
mod observability_kit;

use std::collections::BTreeSet;

use breakwater_core::engine::metrics::{
    COUNTERS, ENGINE_COUNTERS, GAUGES, HISTOGRAMS, POLICY_LABEL, PROMETHEUS_PREFIX, REASON_LABEL,
    REJECTION_REASONS, REJECTIONS,
};
use e2e::{Adapter, Stack, WAIT, breakwater, scenario, start_on};
use envoy_kit::client::{HttpRequest, send_all};
use envoy_kit::poll::wait_until;
use observability_kit::{
    FILTER_ONLY, MODULE_ONLY, PREFIX, Scrape, dashboard_exprs, dashboard_variable_queries,
    metric_names, observability_dir, promtool, rule_exprs, without_grafana_variables,
};

/// How long Envoy may take to show a histogram: it merges them on its stats flush (every 5 s
/// by default).
const HISTOGRAM_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Drives the traffic that makes every metric of `envoy/scenarios/observability.json` move,
/// then scrapes once every histogram has its samples.
fn drive_and_scrape(adapter: Adapter) -> Scrape {
    let stack = start_on(adapter, &scenario("observability"), 2);
    // api: answered, then failing until its breaker opens, then refused.
    for _ in 0..3 {
        assert_eq!(stack.get("/api/ok").status, 200);
    }
    for _ in 0..3 {
        let rsp = HttpRequest::get("/api/fail")
            .header("connection", "close")
            .header("x-upstream-status", "503")
            .send(stack.addr)
            .expect("answer");
        assert_eq!(rsp.status, 503);
    }
    assert!(wait_until(WAIT, || {
        breakwater(&stack.get("/api/ok")) == Some("circuit_open")
    }));
    // db: two run for 1 s, two wait in the queue and then run, one is refused (a whole second
    // for the five to arrive, however busy the machine).
    let slow = (0..5)
        .map(|_| {
            HttpRequest::get("/db/q")
                .header("connection", "close")
                .header("x-upstream-delay-ms", "1000")
        })
        .collect();
    let answers: Vec<_> = send_all(stack.addr, slow)
        .into_iter()
        .map(|r| r.expect("answer"))
        .collect();
    let refused = answers
        .iter()
        .filter(|r| breakwater(r) == Some("bulkhead_full"))
        .count();
    assert_eq!(
        (answers.len() - refused, refused),
        (4, 1),
        "4 ran, 1 refused"
    );
    // chaos: an abort on demand, and a request that passes; slow: an injected delay.
    let aborted = HttpRequest::get("/chaos/x")
        .header("connection", "close")
        .header("x-failure-inject", "true")
        .send(stack.addr)
        .expect("answer");
    assert_eq!(breakwater(&aborted), Some("injected_fault"));
    assert_eq!(stack.get("/chaos/x").status, 200);
    assert_eq!(stack.get("/slow/x").status, 200);

    let mut last = String::new();
    let complete = wait_until(HISTOGRAM_WAIT, || {
        last = stack.envoy.stats_prometheus().unwrap_or_default();
        let scrape = Scrape::parse(&last);
        let count = |name: &str, policy: &str| {
            scrape.value(&format!("{PREFIX}{name}_count"), &[(POLICY_LABEL, policy)])
        };
        ["api", "db", "chaos", "slow"]
            .iter()
            .all(|p| count("request_duration_milliseconds", p) >= 1.0)
            && count("queue_wait_milliseconds", "db") >= 2.0
            && scrape.value(
                &format!("{PREFIX}{REJECTIONS}"),
                &[(POLICY_LABEL, "db"), (REASON_LABEL, "bulkhead_full")],
            ) >= 1.0
    });
    assert!(
        complete,
        "{adapter:?}: histograms or counters incomplete:\n{}",
        Scrape::parse(&last)
            .series
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    check_values(adapter, &Scrape::parse(&last), &stack);
    Scrape::parse(&last)
}

/// The values the traffic above must have produced (on either adapter).
fn check_values(adapter: Adapter, scrape: &Scrape, stack: &Stack) {
    let v = |name: &str, labels: &[(&str, &str)]| scrape.value(&format!("{PREFIX}{name}"), labels);
    let rejected = |policy: &str, reason: &str| {
        v(
            REJECTIONS,
            &[(POLICY_LABEL, policy), (REASON_LABEL, reason)],
        )
    };
    assert!(rejected("api", "circuit_open") >= 1.0, "{adapter:?}");
    assert_eq!(rejected("db", "bulkhead_full"), 1.0, "{adapter:?}");
    assert_eq!(rejected("chaos", "injected_fault"), 1.0, "{adapter:?}");
    assert_eq!(rejected("db", "circuit_open"), 0.0, "{adapter:?}");
    assert_eq!(v("breaker_state", &[(POLICY_LABEL, "api")]), 1.0, "open");
    assert!(v("breaker_opened_total", &[(POLICY_LABEL, "api")]) >= 1.0);
    assert!(v("retries_granted_total", &[(POLICY_LABEL, "api")]) >= 1.0);
    assert_eq!(v("injected_delays_total", &[(POLICY_LABEL, "slow")]), 1.0);
    assert_eq!(v("bulkhead_max_concurrent", &[(POLICY_LABEL, "db")]), 2.0);
    assert_eq!(v("bulkhead_max_queued", &[(POLICY_LABEL, "db")]), 2.0);
    // The two queued requests waited for the first two to end (1 s each).
    let waited_long = v("queue_wait_milliseconds_count", &[(POLICY_LABEL, "db")])
        - v(
            "queue_wait_milliseconds_bucket",
            &[(POLICY_LABEL, "db"), ("le", "100")],
        );
    assert_eq!(waited_long, 2.0, "{adapter:?}: queue waits under 100 ms");
    // The same numbers in `/stats`, where the tests read them.
    assert_eq!(stack.rejections("db", "bulkhead_full"), 1);
}

#[test]
fn both_adapters_export_the_same_metrics_and_the_dashboard_and_alerts_read_only_those() {
    let (filter, module) = std::thread::scope(|s| {
        let filter = s.spawn(|| drive_and_scrape(Adapter::Filter));
        let module = s.spawn(|| drive_and_scrape(Adapter::Module));
        (
            filter.join().expect("filter run"),
            module.join().expect("module run"),
        )
    });

    // One dashboard serves both: the same series (names and every label) and types, but for
    // each adapter's own extra.
    let series = |s: &Scrape, only: &[&str]| {
        s.series
            .iter()
            .filter(|(n, _)| !only.contains(&n.as_str()))
            .flat_map(|(n, labels)| labels.iter().map(move |l| (n.clone(), l.clone())))
            .collect::<BTreeSet<_>>()
    };
    let (f, m) = (series(&filter, FILTER_ONLY), series(&module, MODULE_ONLY));
    assert_eq!(
        f.symmetric_difference(&m).collect::<Vec<_>>(),
        Vec::<&(String, Vec<(String, String)>)>::new(),
        "series only one adapter shows"
    );
    let types = |s: &Scrape, only: &[&str]| {
        s.types
            .iter()
            .filter(|(n, _)| !only.contains(&n.as_str()))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(types(&filter, FILTER_ONLY), types(&module, MODULE_ONLY));
    for only in FILTER_ONLY {
        assert!(filter.series.contains_key(*only), "{only}");
    }
    for only in MODULE_ONLY {
        assert!(module.series.contains_key(*only), "{only}");
    }

    // Every metric of core's table is there, with its type; counters end in `_total`.
    for scrape in [&filter, &module] {
        let expected = COUNTERS
            .iter()
            .map(|(n, _)| (*n, "counter"))
            .chain([(REJECTIONS, "counter")])
            .chain(ENGINE_COUNTERS.iter().map(|(n, _)| (*n, "counter")))
            .chain(GAUGES.iter().map(|(n, _)| (*n, "gauge")))
            .chain(HISTOGRAMS.iter().map(|(n, _)| (*n, "histogram")));
        for (name, kind) in expected {
            let full = format!("{PROMETHEUS_PREFIX}{name}");
            assert_eq!(
                scrape.types.get(&full).map(String::as_str),
                Some(kind),
                "{full}"
            );
        }
        for (name, kind) in &scrape.types {
            assert!(kind != "counter" || name.ends_with("_total"), "{name}");
        }
        // Every per-policy series has its policy; the rejections have every reason.
        for (name, labels) in &scrape.series {
            let engine_wide = ENGINE_COUNTERS
                .iter()
                .map(|(n, _)| format!("{PROMETHEUS_PREFIX}{n}"))
                .chain(FILTER_ONLY.iter().chain(MODULE_ONLY).map(|n| n.to_string()))
                .any(|n| &n == name);
            for l in labels {
                let has_policy = l.iter().any(|(k, _)| k == POLICY_LABEL);
                assert_eq!(has_policy, !engine_wide, "{name} {l:?}");
            }
        }
        let reasons: BTreeSet<&str> = scrape.series[&format!("{PREFIX}{REJECTIONS}")]
            .iter()
            .flat_map(|l| l.iter().filter(|(k, _)| k == REASON_LABEL))
            .map(|(_, v)| v.as_str())
            .collect();
        let all: BTreeSet<&str> = REJECTION_REASONS.iter().map(|(r, _)| *r).collect();
        assert_eq!(reasons, all);
    }

    // The dashboard and the rules read only what breakwater exports (an adapter's own extra
    // counts as exported: a panel or rule for it stays empty on the other).
    let exported: BTreeSet<String> = filter
        .names_without(&[])
        .union(&module.names_without(&[]))
        .cloned()
        .collect();
    for (what, exprs) in queried_exprs() {
        let mut read = BTreeSet::new();
        for expr in &exprs {
            read.extend(metric_names(expr));
        }
        assert!(!read.is_empty(), "{what} reads no breakwater metric");
        let unknown: Vec<_> = read.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} queries metrics breakwater does not export: {unknown:?}"
        );
    }
}

/// The shipped dashboard.
fn dashboard() -> serde_json::Value {
    let path = observability_dir().join("breakwater-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped rules file.
fn rules() -> String {
    let path = observability_dir().join("alerts.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the shipped dashboard (panels and variables) and rules query, by file.
fn queried_exprs() -> Vec<(&'static str, Vec<String>)> {
    let dashboard = dashboard();
    let mut panels = dashboard_exprs(&dashboard);
    panels.extend(dashboard_variable_queries(&dashboard));
    let rules = rules();
    let exprs = rule_exprs(&rules);
    assert_eq!(exprs.len(), rules.matches("- alert:").count(), "{exprs:?}");
    vec![
        ("breakwater-dashboard.json", panels),
        ("alerts.yaml", exprs),
    ]
}

#[test]
fn the_alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = observability_dir();
    let checked =
        promtool(&dir, &["check", "rules", "alerts.yaml"]).unwrap_or_else(|e| panic!("{e}"));
    let alerts = rules().matches("- alert:").count();
    assert!(alerts >= 4, "{alerts} alerts");
    assert!(
        checked.contains(&format!("SUCCESS: {alerts} rules found")),
        "{checked}"
    );
    let tested =
        promtool(&dir, &["test", "rules", "alerts.test.yaml"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let exprs = dashboard_exprs(&dashboard());
    assert!(exprs.len() >= 10, "{exprs:?}");
    // promtool parses the PromQL of recording rules: one per query, variables filled in.
    let mut rules = String::from("groups:\n- name: dashboard\n  rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        let expr = without_grafana_variables(expr);
        let quoted = serde_json::Value::String(expr).to_string();
        rules.push_str(&format!(
            "  - record: dashboard:query_{i}\n    expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("dashboard.yaml"), rules).expect("write");
    let out = promtool(dir.path(), &["check", "rules", "dashboard.yaml"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}
