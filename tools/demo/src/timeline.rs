//! The demo as one self-contained HTML page: breaker states and request outcomes over time.
//!
//! A terminal transcript shows the order of events; a timeline shows their *shape*: the
//! failures piling up, the breaker flipping to open, the flat line of fast rejections, the
//! probes, the close. The page is plain HTML with inline SVG and CSS, no scripts and no external
//! assets, so it opens anywhere (also from a CI artifact) and can be attached to an issue.

use std::fmt::Write as _;
use std::time::Duration;

use super::record::{Kind, Sample, StateSample, StepSpan, StepSummary};
use super::table::Table;

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 20.0;
const LANE: f64 = 22.0;
const PLOT: f64 = 260.0;

/// The colour of an outcome.
pub fn kind_color(kind: Kind) -> &'static str {
    match kind {
        Kind::Ok => "#2e9e44",
        Kind::Delayed => "#c9a000",
        Kind::UpstreamError => "#d63a3a",
        Kind::CircuitOpen => "#2f7fd6",
        Kind::Shed => "#e07b00",
        Kind::Injected => "#a14fd6",
        Kind::Error => "#111111",
    }
}

fn state_style(state: u64) -> (&'static str, &'static str) {
    match state {
        0 => ("#bfe6c8", "closed"),
        1 => ("#f4a6a6", "open"),
        _ => ("#ffe08a", "half-open"),
    }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Everything the page shows.
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    /// The steps' spans.
    pub steps: &'a [StepSpan],
    /// Every request.
    pub samples: &'a [Sample],
    /// Breaker states read from Envoy.
    pub states: &'a [StateSample],
    /// The summary rows.
    pub summary: &'a [StepSummary],
}

impl Timeline<'_> {
    fn end(&self) -> f64 {
        let last_step = self
            .steps
            .iter()
            .filter_map(|s| s.end.or(Some(s.start)))
            .max();
        let last_sample = self.samples.iter().map(|s| s.at + s.latency).max();
        last_step
            .max(last_sample)
            .unwrap_or(Duration::from_secs(1))
            .as_secs_f64()
            .max(1.0)
    }

    fn x(&self, t: Duration) -> f64 {
        LEFT + t.as_secs_f64() / self.end() * (WIDTH - LEFT - RIGHT)
    }

    /// The policies with a breaker state, in first-seen order.
    fn policies(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.states {
            if !out.contains(&s.policy.as_str()) {
                out.push(&s.policy);
            }
        }
        out.retain(|p| self.states.iter().any(|s| s.policy == *p && s.state != 0));
        out
    }

    /// A policy's states as runs `(from, to, state)`: consecutive equal samples merged, the
    /// last run extended to the end of the demo.
    fn runs(&self, policy: &str) -> Vec<(Duration, Duration, u64)> {
        let mut runs: Vec<(Duration, Duration, u64)> = Vec::new();
        for s in self.states.iter().filter(|s| s.policy == policy) {
            match runs.last_mut() {
                Some(last) if last.2 == s.state => last.1 = s.at,
                Some(last) => {
                    last.1 = s.at;
                    runs.push((s.at, s.at, s.state));
                }
                None => runs.push((s.at, s.at, s.state)),
            }
        }
        if let Some(last) = runs.last_mut() {
            last.1 = Duration::from_secs_f64(self.end());
        }
        runs
    }

    /// The page.
    pub fn html(&self) -> String {
        let mut page = String::new();
        page.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>breakwater demo timeline</title><style>\
             body{font:14px system-ui,sans-serif;margin:24px;color:#222}\
             table{border-collapse:collapse;font:12px ui-monospace,monospace}\
             td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}\
             td:first-child,th:first-child{text-align:left}\
             tfoot td{font-weight:bold;border-top:1px solid #999}\
             .legend span{display:inline-block;margin-right:14px}\
             .sw{display:inline-block;width:10px;height:10px;margin-right:4px}\
             </style></head><body>\n<h1>breakwater demo: timeline</h1>\n\
             <p>Envoy 1.40 (2 workers) with the breakwater filter in front of the demo upstream. \
             Top: each policy's breaker state (the <code>envoy_breakwater_breaker_state</code> \
             gauge, sampled every 100 ms). Below: every request at the time it was sent, by \
             latency \
             (log scale) and outcome.</p>\n",
        );
        page.push_str(&self.legend());
        page.push_str(&self.svg());
        page.push_str("<h2>Summary</h2>\n");
        page.push_str(&summary_table(&Table::of(self.summary)));
        page.push_str("</body></html>\n");
        page
    }

    fn legend(&self) -> String {
        let mut out = String::from("<p class=\"legend\">");
        for kind in Kind::ALL {
            let _ = write!(
                out,
                "<span><i class=\"sw\" style=\"background:{}\"></i>{}</span>",
                kind_color(kind),
                kind.label()
            );
        }
        for state in 0..3 {
            let (color, name) = state_style(state);
            let _ = write!(
                out,
                "<span><i class=\"sw\" style=\"background:{color}\"></i>breaker {name}</span>"
            );
        }
        out.push_str("</p>\n");
        out
    }

    fn svg(&self) -> String {
        let policies = self.policies();
        let lanes_top = 30.0;
        let plot_top = lanes_top + LANE * policies.len() as f64 + 20.0;
        let height = plot_top + PLOT + 40.0;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
        );
        // Step bands, numbered.
        for (i, step) in self.steps.iter().enumerate() {
            let x0 = self.x(step.start);
            let x1 = self.x(step.end.unwrap_or(step.start));
            let fill = if i % 2 == 0 { "#f5f7fa" } else { "#ffffff" };
            let _ = writeln!(
                svg,
                "<rect x=\"{x0:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height}\" fill=\"{fill}\">\
                 <title>{}</title></rect>\
                 <text x=\"{:.1}\" y=\"16\" font-weight=\"bold\">{}</text>",
                (x1 - x0).max(0.5),
                esc(&step.title),
                x0 + 3.0,
                i + 1
            );
        }
        // Breaker lanes.
        for (lane, policy) in policies.iter().enumerate() {
            let y = lanes_top + LANE * lane as f64;
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} breaker</text>",
                LEFT - 6.0,
                y + 14.0,
                esc(policy)
            );
            for (from, to, state) in self.runs(policy) {
                let (x0, x1) = (self.x(from), self.x(to));
                let (color, name) = state_style(state);
                let _ = writeln!(
                    svg,
                    "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{color}\">\
                     <title>{} {name} from {:.1} s to {:.1} s</title></rect>",
                    (x1 - x0).max(0.5),
                    LANE - 4.0,
                    esc(policy),
                    from.as_secs_f64(),
                    to.as_secs_f64()
                );
            }
        }
        self.plot(&mut svg, plot_top);
        svg.push_str("</svg>\n");
        svg
    }

    /// Latency (log scale, 0.5 ms to 2 s) against time, one dot per request.
    fn plot(&self, svg: &mut String, top: f64) {
        let (lo, hi) = (0.5f64.log10(), 2000f64.log10());
        let y = |ms: f64| top + PLOT - (ms.clamp(0.5, 2000.0).log10() - lo) / (hi - lo) * PLOT;
        for tick in [1.0, 10.0, 100.0, 1000.0] {
            let ty = y(tick);
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick} ms</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                ty + 4.0
            );
        }
        let end = self.end();
        let step = if end > 30.0 { 5 } else { 2 };
        for s in (0..=end as u64).step_by(step) {
            let tx = self.x(Duration::from_secs(s));
            let _ = writeln!(
                svg,
                "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{s} s</text>",
                top + PLOT + 16.0
            );
        }
        for s in self.samples {
            let ms = s.latency.as_secs_f64() * 1e3;
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.6\" fill=\"{}\" fill-opacity=\"0.8\">\
                 <title>{} at {:.2} s, {ms:.1} ms</title></circle>",
                self.x(s.at),
                y(ms),
                kind_color(s.kind),
                s.kind.label(),
                s.at.as_secs_f64()
            );
        }
    }
}

/// The summary as an HTML table: a cell per [`Table`] cell, the `total` row in the footer.
fn summary_table(table: &Table) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for heading in &table.header {
        let _ = write!(out, "<th>{}</th>", esc(heading));
    }
    out.push_str("</tr></thead>\n");
    let (steps, total) = match table.rows.split_last() {
        Some((total, steps)) => (steps, std::slice::from_ref(total)),
        None => (&[][..], &[][..]),
    };
    for (tag, rows) in [("tbody", steps), ("tfoot", total)] {
        let _ = writeln!(out, "<{tag}>");
        for row in rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", esc(cell));
            }
            out.push_str("</tr>\n");
        }
        let _ = writeln!(out, "</{tag}>");
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::read_table::read_table;
    use super::super::record::StepSummary;
    use super::*;

    fn step(title: &str, requests: u64, upstream_hits: u64, saved: u64) -> StepSummary {
        StepSummary {
            title: title.into(),
            requests,
            kinds: [1, 0, 2, saved, 0, 0, 0],
            upstream_hits,
            saved,
            p50: Duration::from_micros(1300),
            p90: Duration::from_micros(3700),
            p99: Duration::from_millis(632),
        }
    }

    #[test]
    fn the_summary_table_has_a_cell_per_heading_and_totals_under_their_own() {
        let summary = [
            step("Healthy <traffic>", 40, 40, 0),
            step("Fails", 46, 10, 41),
        ];
        let html = Timeline {
            steps: &[],
            samples: &[],
            states: &[],
            summary: &summary,
        }
        .html();
        let rows = read_table(&html);
        let (header, body) = rows.split_first().expect("a header row");
        assert_eq!(body.len(), 3, "{rows:?}");
        for row in body {
            assert_eq!(row.len(), header.len(), "{header:?}\n{row:?}");
        }
        let cell = |row: &[String], name: &str| {
            let i = header.iter().position(|h| h == name);
            row[i.unwrap_or_else(|| panic!("no column {name:?} in {header:?}"))].clone()
        };
        let first = &body[0];
        assert_eq!(cell(first, "step"), "1 Healthy <traffic>");
        assert_eq!(cell(first, "p50 ms"), "1.3");
        assert_eq!(cell(first, "p90 ms"), "3.7");
        assert_eq!(cell(first, "p99 ms"), "632");
        assert_eq!(cell(&body[1], "open"), "41");
        let total = &body[2];
        assert_eq!(cell(total, "step"), "total");
        assert_eq!(cell(total, "req"), "86");
        assert_eq!(cell(total, "upstream"), "50");
        assert_eq!(cell(total, "saved"), "41");
        for empty in ["ok", "dly", "err", "p50 ms"] {
            assert_eq!(cell(total, empty), "", "{empty}");
        }
    }

    #[test]
    fn the_page_is_self_contained_and_shows_states_and_requests() {
        let steps = [StepSpan {
            title: "A <step>".into(),
            start: Duration::ZERO,
            end: Some(Duration::from_secs(2)),
            upstream_hits: 1,
        }];
        let samples = [Sample {
            at: Duration::from_millis(500),
            step: 0,
            kind: Kind::CircuitOpen,
            latency: Duration::from_millis(2),
        }];
        let states = [
            StateSample {
                at: Duration::ZERO,
                policy: "checkout".into(),
                state: 0,
            },
            StateSample {
                at: Duration::from_secs(1),
                policy: "checkout".into(),
                state: 1,
            },
        ];
        let html = Timeline {
            steps: &steps,
            samples: &samples,
            states: &states,
            summary: &[],
        }
        .html();
        assert!(html.contains("<svg"));
        assert!(html.contains("checkout breaker"));
        assert!(html.contains("checkout open from 1.0 s to 2.0 s"), "{html}");
        assert!(html.contains("A &lt;step&gt;"));
        assert!(html.contains(kind_color(Kind::CircuitOpen)));
        for external in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }
}
