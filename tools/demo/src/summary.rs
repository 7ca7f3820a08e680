//! The end of the demo in text: the per-step table and breakwater's Prometheus lines.
//!
//! The table is computed from the recorder (the same data the checks used), so it cannot
//! disagree with the narration. The Prometheus lines come straight from Envoy's
//! `/stats/prometheus`: what a scraper would see, `envoy_breakwater_…` with a `policy` label (the
//! filter's from the bootstrap's `stats_tags`, the module's its own), the same for both adapters.

use super::narrate::{Narrator, Style};
use super::record::StepSummary;
use super::table::Table;

/// Prints the table.
pub fn print_table(say: &Narrator, rows: &[StepSummary]) {
    say.line("");
    say.line(&say.paint(Style::Bold, "Summary"));
    for (i, line) in Table::of(rows).lines().iter().enumerate() {
        if i == 0 {
            say.line(&say.paint(Style::Dim, line));
        } else {
            say.line(line);
        }
    }
    say.line(&say.paint(
        Style::Dim,
        "saved = requests breakwater answered itself (open, shed, injected): upstream calls avoided",
    ));
}

/// What every breakwater metric's name starts with in Prometheus, whichever adapter runs.
pub const PREFIX: &str = "envoy_breakwater_";

/// The sample lines of `/stats/prometheus` that are breakwater's (comments left out).
pub fn prometheus_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with(PREFIX)).collect()
}

/// Prints breakwater's Prometheus lines: every non-zero sample and every breaker state; the
/// count of the other zero-valued ones (counters of policies a step did not use) and of the
/// histograms' bucket lines (their `_sum` and `_count` are shown) at the end.
pub fn print_prometheus(say: &Narrator, text: &str, admin: &str) {
    say.line("");
    say.line(&say.paint(
        Style::Bold,
        &format!("breakwater in /stats/prometheus (curl -s http://{admin}/stats/prometheus)"),
    ));
    let (mut zeros, mut buckets) = (0, 0);
    for line in prometheus_lines(text) {
        let zero = line.rsplit(' ').next().is_some_and(|v| v == "0");
        let name = line.split(['{', ' ']).next().unwrap_or(line);
        if name.ends_with("_bucket") {
            buckets += 1;
        } else if zero && !name.ends_with("_breaker_state") {
            zeros += 1;
        } else {
            say.line(&format!("  {line}"));
        }
    }
    say.line(&say.paint(
        Style::Dim,
        &format!(
            "  … and {zeros} more breakwater lines with value 0, {buckets} histogram bucket lines"
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_breakwater_samples_are_kept() {
        let text = "# TYPE envoy_breakwater_requests_total counter\n\
                    envoy_breakwater_requests_total{policy=\"a\"} 3\n\
                    envoy_cluster_upstream_rq{x=\"y\"} 1\n\
                    envoy_wasm_breakwater_vm_reload{} 0\n\
                    envoy_breakwater_cas_retries_total{} 0\n";
        assert_eq!(
            prometheus_lines(text),
            vec![
                "envoy_breakwater_requests_total{policy=\"a\"} 3",
                "envoy_breakwater_cas_retries_total{} 0"
            ]
        );
    }
}
