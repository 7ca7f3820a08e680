//! The per-step summary as a table of cells, built once from the recorder's rows.
//!
//! The terminal and the HTML page show the same table, so both take it from [`Table::of`]: the
//! terminal pads the cells into aligned columns ([`Table::lines`]), the page puts each cell in
//! its own `<td>`. Neither ever splits printed text back into cells, which is how a heading
//! with a space in it (`p50 ms`) or a total row with gaps ends up under the wrong column.

use std::time::Duration;

use super::record::{Kind, StepSummary};

/// The outcome columns: which kind each counts, and its heading.
const KINDS: [(Kind, &str); 7] = [
    (Kind::Ok, "ok"),
    (Kind::Delayed, "dly"),
    (Kind::UpstreamError, "5xx"),
    (Kind::CircuitOpen, "open"),
    (Kind::Shed, "shed"),
    (Kind::Injected, "inj"),
    (Kind::Error, "err"),
];

/// The narrowest each column is printed (a wider cell widens its column).
const STEP_WIDTH: usize = 28;
const REQ_WIDTH: usize = 4;
const KIND_WIDTH: usize = 4;
const UPSTREAM_WIDTH: usize = 8;
const SAVED_WIDTH: usize = 5;
const LATENCY_WIDTH: usize = 7;

/// The summary: headings and rows of cells, every row as long as the headings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The column headings, `step` first.
    pub header: Vec<&'static str>,
    /// One row per step, then the `total` row; a figure with no total (an outcome count, a
    /// percentile) is an empty cell there.
    pub rows: Vec<Vec<String>>,
    /// Each column's narrowest printed width.
    widths: Vec<usize>,
}

impl Table {
    /// The table of `steps`, in order, with a `total` row of requests, upstream hits and saved
    /// calls.
    pub fn of(steps: &[StepSummary]) -> Self {
        let mut header = vec!["step", "req"];
        let mut widths = vec![STEP_WIDTH, REQ_WIDTH];
        for (_, name) in KINDS {
            header.push(name);
            widths.push(KIND_WIDTH);
        }
        header.extend(["upstream", "saved", "p50 ms", "p90 ms", "p99 ms"]);
        widths.extend([UPSTREAM_WIDTH, SAVED_WIDTH]);
        widths.extend([LATENCY_WIDTH; 3]);

        let mut rows = Vec::with_capacity(steps.len() + 1);
        let (mut requests, mut upstream, mut saved) = (0, 0, 0);
        for (i, step) in steps.iter().enumerate() {
            let mut row = vec![short(i, &step.title), step.requests.to_string()];
            row.extend(KINDS.iter().map(|(kind, _)| step.count(*kind).to_string()));
            row.extend([step.upstream_hits.to_string(), step.saved.to_string()]);
            row.extend([step.p50, step.p90, step.p99].map(ms));
            rows.push(row);
            requests += step.requests;
            upstream += step.upstream_hits;
            saved += step.saved;
        }
        let mut total = vec!["total".to_owned(), requests.to_string()];
        total.extend(KINDS.iter().map(|_| String::new()));
        total.extend([upstream.to_string(), saved.to_string()]);
        total.extend(std::iter::repeat_n(String::new(), 3));
        rows.push(total);
        Self {
            header,
            rows,
            widths,
        }
    }

    /// The index of the column headed `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| *h == name)
    }

    /// The table as aligned text, the headings first: `step` left-aligned, figures right-aligned.
    pub fn lines(&self) -> Vec<String> {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .chain([
                        self.widths.get(c).copied().unwrap_or(0),
                        self.header[c].chars().count(),
                    ])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        std::iter::once(&header)
            .chain(&self.rows)
            .map(|row| {
                let mut line = String::new();
                for (c, (cell, width)) in row.iter().zip(&widths).enumerate() {
                    if c == 0 {
                        line.push_str(&format!("{cell:<width$}"));
                    } else {
                        line.push_str(&format!(" {cell:>width$}"));
                    }
                }
                line.trim_end().to_owned()
            })
            .collect()
    }
}

/// Milliseconds, one decimal below 100.
fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

/// The `step` cell: step number and a shortened title.
fn short(i: usize, title: &str) -> String {
    let mut t: String = title.chars().take(26).collect();
    if title.chars().count() > 26 {
        t.pop();
        t.push('…');
    }
    format!("{} {t}", i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(title: &str, requests: u64, upstream_hits: u64, saved: u64) -> StepSummary {
        StepSummary {
            title: title.into(),
            requests,
            kinds: [2, 0, 3, 5, 0, 0, 0],
            upstream_hits,
            saved,
            p50: Duration::from_micros(1500),
            p90: Duration::from_millis(3),
            p99: Duration::from_millis(300),
        }
    }

    #[test]
    fn every_row_has_a_cell_per_heading_and_totals_sit_under_their_own() {
        let table = Table::of(&[step("a", 10, 9, 5), step("b", 7, 1, 6)]);
        assert_eq!(table.rows.len(), 3);
        for row in &table.rows {
            assert_eq!(row.len(), table.header.len(), "{row:?}");
        }
        let total = &table.rows[2];
        let at = |name: &str| total[table.column(name).expect(name)].as_str();
        assert_eq!(
            (at("step"), at("req"), at("upstream"), at("saved")),
            ("total", "17", "10", "11")
        );
        for empty in ["ok", "dly", "5xx", "open", "p50 ms", "p99 ms"] {
            assert_eq!(at(empty), "", "{empty}");
        }
        let first = &table.rows[0];
        assert_eq!(first[table.column("p50 ms").expect("p50")], "1.5");
        assert_eq!(first[table.column("p99 ms").expect("p99")], "300");
        assert_eq!(first[table.column("open").expect("open")], "5");
    }

    #[test]
    fn the_text_lines_up_under_the_headings() {
        let lines = Table::of(&[step("The upstream fails: the breaker opens", 10, 9, 5)]).lines();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("1 The upstream fails: the b…"),
            "{}",
            lines[1]
        );
        // A figure ends where its heading ends (counted in characters: the title has a `…`).
        let head = &lines[0];
        let end_of = |name: &str| head.find(name).expect(name) + name.len();
        let ends_at = |line: &str, figure: &str, end: usize| {
            line.chars().take(end).collect::<String>().ends_with(figure)
        };
        assert!(ends_at(&lines[1], " 1.5", end_of("p50 ms")), "{lines:#?}");
        assert!(ends_at(&lines[1], " 300", end_of("p99 ms")), "{lines:#?}");
        assert!(ends_at(&lines[2], " 10", end_of("req")), "{lines:#?}");
        assert!(ends_at(&lines[2], " 9", end_of("upstream")), "{lines:#?}");
        assert!(ends_at(&lines[2], " 5", end_of("saved")), "{lines:#?}");
        assert_eq!(lines[2].chars().count(), end_of("saved"), "{lines:#?}");
    }
}
