//! The end of the demo in text: the per-step table and breakwater's Prometheus lines.
//!
//! The table is computed from the recorder (the same data the checks used), so it cannot
//! disagree with the narration. The Prometheus lines come straight from Envoy's
//! `/stats/prometheus`: what a scraper would see, with the `policy` label from the bootstrap's
//! `stats_tags`.

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

/// The sample lines of `/stats/prometheus` that are breakwater's (comments left out).
pub fn prometheus_lines(text: &str) -> Vec<&str> {
    // The filter's (`breakwater_…`, through the stats tags) and the module's
    // (`envoy_dynamicmodulescustom_breakwater_…`, labelled by the module itself).
    text.lines()
        .filter(|l| {
            l.starts_with("breakwater_") || l.starts_with("envoy_dynamicmodulescustom_breakwater_")
        })
        .collect()
}

/// Prints breakwater's Prometheus lines: every non-zero sample and every breaker `state`; the
/// count of the other zero-valued ones (counters of policies a step did not use) at the end.
pub fn print_prometheus(say: &Narrator, text: &str, admin: &str) {
    say.line("");
    say.line(&say.paint(
        Style::Bold,
        &format!("breakwater in /stats/prometheus (curl -s http://{admin}/stats/prometheus)"),
    ));
    let mut zeros = 0;
    for line in prometheus_lines(text) {
        let zero = line.rsplit(' ').next().is_some_and(|v| v == "0");
        if zero && !line.starts_with("breakwater_state{") {
            zeros += 1;
        } else {
            say.line(&format!("  {line}"));
        }
    }
    say.line(&say.paint(
        Style::Dim,
        &format!("  … and {zeros} more breakwater lines with value 0"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_breakwater_samples_are_kept() {
        let text = "# TYPE breakwater_requests counter\nbreakwater_requests{policy=\"a\"} 3\n\
                    envoy_cluster_upstream_rq{x=\"y\"} 1\nbreakwater_cas_retries 0\n";
        assert_eq!(
            prometheus_lines(text),
            vec![
                "breakwater_requests{policy=\"a\"} 3",
                "breakwater_cas_retries 0"
            ]
        );
    }
}
