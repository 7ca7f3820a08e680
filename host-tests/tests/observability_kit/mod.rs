//! Helpers of `observability.rs`: what breakwater exports (scraped from real Envoy), what the
//! shipped dashboard and alerting rules query (the metric names in their PromQL), and
//! `promtool`.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use envoy_kit::envoy::{config_dir, parse_prometheus};
use serde_json::Value;

/// What every breakwater metric is called in Prometheus, whichever adapter exports it.
pub(crate) const PREFIX: &str = "envoy_breakwater_";

/// Metrics only one adapter has: the filter's shared-data calls (the module has no shared
/// data) and the module's failed hooks (a wasm VM that traps is Envoy's to count).
pub(crate) const FILTER_ONLY: &[&str] = &["envoy_breakwater_shared_data_calls_total"];
/// See [`FILTER_ONLY`].
pub(crate) const MODULE_ONLY: &[&str] = &["envoy_breakwater_module_hook_failures_total"];

/// `envoy/observability/`, where the dashboard and the rules live.
pub(crate) fn observability_dir() -> PathBuf {
    config_dir().join("observability")
}

/// One scrape of `/stats/prometheus`, breakwater's part: every series (name and labels,
/// values left out) and every metric family's `# TYPE`.
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    /// Sample name → the label sets seen with it.
    pub(crate) series: BTreeMap<String, BTreeSet<Vec<(String, String)>>>,
    /// Family name → `counter`, `gauge` or `histogram`.
    pub(crate) types: BTreeMap<String, String>,
    /// Sample name and labels → value.
    pub(crate) values: BTreeMap<(String, Vec<(String, String)>), f64>,
}

impl Scrape {
    /// breakwater's series of a `/stats/prometheus` text.
    pub(crate) fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ")
                && let Some((name, kind)) = rest.split_once(' ')
                && name.starts_with(PREFIX)
            {
                scrape.types.insert(name.to_owned(), kind.trim().to_owned());
            }
        }
        for s in parse_prometheus(text) {
            if !s.name.starts_with(PREFIX) {
                continue;
            }
            let mut labels = s.labels;
            labels.sort();
            scrape
                .values
                .insert((s.name.clone(), labels.clone()), s.value);
            scrape.series.entry(s.name).or_default().insert(labels);
        }
        scrape
    }

    /// The sample names, without those of `leave_out`.
    pub(crate) fn names_without(&self, leave_out: &[&str]) -> BTreeSet<String> {
        self.series
            .keys()
            .filter(|n| !leave_out.contains(&n.as_str()))
            .cloned()
            .collect()
    }

    /// The value of the one sample `name` whose labels include `labels` (summed if several).
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.values
            .iter()
            .filter(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

/// The PromQL expressions of an alerting-rules file: every `expr:` value, inline or as a
/// block scalar (`expr: |` and the more-indented lines after it).
pub(crate) fn rule_exprs(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((indent, value)) = line.split_once("expr:") else {
            continue;
        };
        if !indent.trim_start_matches([' ', '-']).is_empty() {
            continue; // `expr:` inside some other text
        }
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let mut block = Vec::new();
            while let Some(next) = lines.peek() {
                let deeper = next.len() - next.trim_start().len() > indent.len();
                if !next.trim().is_empty() && !deeper {
                    break;
                }
                block.push(next.trim());
                lines.next();
            }
            exprs.push(block.join(" ").trim().to_owned());
        } else {
            exprs.push(value.trim_matches(['"', '\'']).to_owned());
        }
    }
    exprs
}

/// The PromQL of a Grafana dashboard's panels: every target's `expr`, wherever it is nested.
pub(crate) fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(dashboard, "expr", &mut out);
    out
}

/// The queries of a Grafana dashboard's variables (`label_values(…)`: Grafana's, not PromQL,
/// but they name metrics too).
pub(crate) fn dashboard_variable_queries(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(dashboard, "definition", &mut out);
    out
}

/// Every string value under `key`, at any depth.
fn collect(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == key => out.push(s.clone()),
                    _ => collect(v, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, key, out)),
        _ => {}
    }
}

/// The breakwater metric names a PromQL expression reads (identifiers starting [`PREFIX`]).
pub(crate) fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut at = 0;
    while let Some(found) = expr[at..].find(PREFIX) {
        let start = at + found;
        let mut end = start + PREFIX.len();
        while end < bytes.len() && ident(bytes[end]) {
            end += 1;
        }
        // Only a whole identifier: not the tail of a longer one.
        if start == 0 || !ident(bytes[start - 1]) {
            names.insert(expr[start..end].to_owned());
        }
        at = end;
    }
    names
}

/// Grafana's variables in a dashboard expression replaced by values PromQL accepts, so
/// `promtool` can parse it.
pub(crate) fn without_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$policy", ".*")
        .replace("$instance", ".*")
}

/// Runs `promtool` with `args` in `dir`; the error holds its output. A missing promtool is an
/// error that says how to install it, never a skip.
pub(crate) fn promtool(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            format!(
                "cannot run promtool ({e}): run `make promtool-install` \
                 (Debian's `prometheus` package provides it)"
            )
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "promtool {}: {}\n{text}",
            args.join(" "),
            out.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_promql() {
        let expr = "sum by (policy) (rate(envoy_breakwater_rejections_total{reason!=\"x\"}[5m])) \
                    / sum(rate(envoy_breakwater_requests_total[5m])) + my_envoy_breakwater_other";
        let names: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(
            names,
            [
                "envoy_breakwater_rejections_total",
                "envoy_breakwater_requests_total"
            ]
        );
    }

    #[test]
    fn exprs_are_read_from_rules_inline_and_as_blocks() {
        let yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n  \
                    - alert: B\n    expr: |\n      sum(a)\n      / sum(b)\n    labels: {}\n  \
                    - record: c\n    expr: \"rate(x[1m])\"\n";
        assert_eq!(
            rule_exprs(yaml),
            ["up == 0", "sum(a) / sum(b)", "rate(x[1m])"]
        );
    }
}
