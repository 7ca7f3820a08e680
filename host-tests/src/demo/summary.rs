//! The end of the demo in text: the per-step table and breakwater's Prometheus lines.
//!
//! The table is computed from the recorder (the same data the checks used), so it cannot
//! disagree with the narration. The Prometheus lines come straight from Envoy's
//! `/stats/prometheus`: what a scraper would see, with the `policy` label from the bootstrap's
//! `stats_tags`.

use std::time::Duration;

use super::narrate::{Narrator, Style};
use super::record::{Kind, StepSummary};

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

/// The table's title column: step number and a shortened title.
fn short(i: usize, title: &str) -> String {
    let mut t: String = title.chars().take(26).collect();
    if title.chars().count() > 26 {
        t.pop();
        t.push('…');
    }
    format!("{} {t}", i + 1)
}

/// The summary table as lines of text (plain; the narrator colours the header).
pub fn table(rows: &[StepSummary]) -> Vec<String> {
    let columns = [
        (Kind::Ok, "ok"),
        (Kind::Delayed, "dly"),
        (Kind::UpstreamError, "5xx"),
        (Kind::CircuitOpen, "open"),
        (Kind::Shed, "shed"),
        (Kind::Injected, "inj"),
        (Kind::Error, "err"),
    ];
    let mut out = Vec::new();
    let mut head = format!("{:<28} {:>4}", "step", "req");
    for (_, name) in columns {
        head.push_str(&format!(" {name:>4}"));
    }
    head.push_str(&format!(
        " {:>8} {:>5} {:>7} {:>7} {:>7}",
        "upstream", "saved", "p50 ms", "p90 ms", "p99 ms"
    ));
    out.push(head);
    let mut total = StepTotals::default();
    for (i, row) in rows.iter().enumerate() {
        let mut line = format!("{:<28} {:>4}", short(i, &row.title), row.requests);
        for (kind, _) in columns {
            line.push_str(&format!(" {:>4}", row.count(kind)));
        }
        line.push_str(&format!(
            " {:>8} {:>5} {:>7} {:>7} {:>7}",
            row.upstream_hits,
            row.saved,
            ms(row.p50),
            ms(row.p90),
            ms(row.p99)
        ));
        out.push(line);
        total.add(row);
    }
    out.push(format!(
        "{:<28} {:>4} {:>43} {:>5}",
        "total", total.requests, total.upstream, total.saved
    ));
    out
}

#[derive(Debug, Default)]
struct StepTotals {
    requests: u64,
    upstream: u64,
    saved: u64,
}

impl StepTotals {
    fn add(&mut self, row: &StepSummary) {
        self.requests += row.requests;
        self.upstream += row.upstream_hits;
        self.saved += row.saved;
    }
}

/// Prints the table.
pub fn print_table(say: &Narrator, rows: &[StepSummary]) {
    say.line("");
    say.line(&say.paint(Style::Bold, "Summary"));
    for (i, line) in table(rows).iter().enumerate() {
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
    text.lines()
        .filter(|l| l.starts_with("breakwater_"))
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

    #[test]
    fn the_table_has_a_row_per_step_and_a_total() {
        let row = StepSummary {
            title: "The upstream fails: the breaker opens".into(),
            requests: 10,
            kinds: [2, 0, 3, 5, 0, 0, 0],
            upstream_hits: 9,
            saved: 5,
            p50: Duration::from_micros(1500),
            p90: Duration::from_millis(3),
            p99: Duration::from_millis(300),
        };
        let lines = table(&[row]);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("1 The upstream fails: the b…"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("1.5"), "{}", lines[1]);
        assert!(lines[2].starts_with("total"), "{}", lines[2]);
        assert!(lines[2].ends_with("9     5"), "{}", lines[2]);
    }
}
