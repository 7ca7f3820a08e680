//! Turns samples into the report: medians and spreads per setup, paired ratios to the
//! baselines, criterion's figures, artifact sizes, and a verdict on each target of the issue.
//!
//! Ratios are computed per round (the setup and its baseline measured minutes apart at most,
//! under the same background load) and only then summarised, which cancels most of a shared
//! machine's drift. Every figure is written `median (min–max)` over the rounds.

use std::fmt::Write as _;
use std::path::Path;

use super::setups::Sample;

/// Median, min and max of a set of figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (`None` when empty).
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    fn cell(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

fn cell(values: &[f64], decimals: usize) -> String {
    Spread::of(values).map_or("–".to_owned(), |s| s.cell(decimals))
}

/// The samples of one setup at one concurrency, in round order.
fn of<'a>(samples: &'a [Sample], setup: &str, concurrency: u32) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.setup == setup && s.concurrency == concurrency)
        .collect()
}

/// Per-round ratios of `metric` between `setup` and `baseline` (rounds where both exist).
pub fn ratios(
    samples: &[Sample],
    setup: &str,
    baseline: &str,
    concurrency: u32,
    metric: fn(&Sample) -> f64,
) -> Vec<f64> {
    let base = of(samples, baseline, concurrency);
    of(samples, setup, concurrency)
        .iter()
        .filter_map(|s| {
            let b = base.iter().find(|b| b.round == s.round)?;
            Some(metric(s) / metric(b))
        })
        .collect()
}

fn rps(s: &Sample) -> f64 {
    s.closed.rps()
}

/// One target: what, the baseline, the metric, the limit on the ratio, lower is better.
type Check = (&'static str, &'static str, fn(&Sample) -> f64, f64, bool);

fn cpu(s: &Sample) -> f64 {
    s.cpu_us_closed
}

/// The setups present, in first-seen order.
fn setup_names(samples: &[Sample]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for s in samples {
        if !names.contains(&s.setup.as_str()) {
            names.push(&s.setup);
        }
    }
    names
}

fn concurrencies(samples: &[Sample]) -> Vec<u32> {
    let mut c: Vec<u32> = samples.iter().map(|s| s.concurrency).collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// The Envoy tables (throughput and CPU; latency), as Markdown.
pub fn envoy_tables(samples: &[Sample]) -> String {
    let mut out = String::new();
    for c in concurrencies(samples) {
        let _ = writeln!(
            out,
            "\n#### `--concurrency {c}`: throughput and CPU (closed loop)\n"
        );
        out.push_str(
            "| setup | req/s | Envoy CPU µs/req | CPU × no-wasm | CPU × empty | CPU × floor | \
             req/s × no-wasm | req/s × empty | shared-data calls/req | CPU µs/req at fixed rate | \
             RSS MiB |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for name in setup_names(samples) {
            let s = of(samples, name, c);
            let col =
                |f: fn(&Sample) -> f64, d| cell(&s.iter().map(|x| f(x)).collect::<Vec<_>>(), d);
            let shared: Vec<f64> = s.iter().filter_map(|x| x.shared_data_per_request).collect();
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                col(rps, 0),
                col(cpu, 1),
                cell(&ratios(samples, name, "no-wasm", c, cpu), 2),
                cell(&ratios(samples, name, "empty-wasm", c, cpu), 2),
                cell(&ratios(samples, name, "floor-wasm", c, cpu), 2),
                cell(&ratios(samples, name, "no-wasm", c, rps), 2),
                cell(&ratios(samples, name, "empty-wasm", c, rps), 2),
                cell(&shared, 3),
                col(|x| x.cpu_us_open, 1),
                col(|x| x.rss as f64 / (1024.0 * 1024.0), 1),
            );
        }
        let rate = of(samples, "no-wasm", c)
            .first()
            .map_or(0.0, |s| s.open.rps());
        let _ = writeln!(
            out,
            "\n#### `--concurrency {c}`: latency at a fixed rate (open loop, ~{rate:.0} req/s, µs from the scheduled send)\n"
        );
        out.push_str(
            "| setup | p50 | p99 | p99.9 | max | generator lateness p99 | errors |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for name in setup_names(samples) {
            let s = of(samples, name, c);
            let lat = |i: usize| {
                cell(
                    &s.iter().map(|x| x.open.latency_us[i]).collect::<Vec<_>>(),
                    0,
                )
            };
            let errors: u64 = s.iter().map(|x| x.open.errors + x.closed.errors).sum();
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {errors} |",
                lat(0),
                lat(1),
                lat(2),
                lat(3),
                cell(
                    &s.iter()
                        .map(|x| x.open.send_lateness_us[1])
                        .collect::<Vec<_>>(),
                    0
                ),
            );
        }
    }
    out
}

/// Every sample, one CSV line each (the raw data behind the tables).
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from(
        "round,concurrency,setup,closed_rps,closed_p50_us,closed_p99_us,cpu_us_closed,\
         open_rps,open_p50_us,open_p99_us,open_p999_us,open_max_us,lateness_p99_us,cpu_us_open,\
         shared_data_per_request,rss_bytes,errors\n",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "{},{},{},{:.0},{:.0},{:.0},{:.2},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.2},{},{},{}",
            s.round,
            s.concurrency,
            s.setup,
            s.closed.rps(),
            s.closed.latency_us[0],
            s.closed.latency_us[1],
            s.cpu_us_closed,
            s.open.rps(),
            s.open.latency_us[0],
            s.open.latency_us[1],
            s.open.latency_us[2],
            s.open.latency_us[3],
            s.open.send_lateness_us[1],
            s.cpu_us_open,
            s.shared_data_per_request
                .map_or(String::new(), |v| format!("{v:.4}")),
            s.rss,
            s.closed.errors + s.open.errors,
        );
    }
    out
}

/// Criterion's median estimates (ns) under `<target>/criterion`, by benchmark id.
pub fn criterion_medians(criterion_dir: &Path) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(criterion_dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let dir = entry.path().join("new");
        let read = |f: &str| -> Option<serde_json::Value> {
            serde_json::from_str(&std::fs::read_to_string(dir.join(f)).ok()?).ok()
        };
        let (Some(bench), Some(est)) = (read("benchmark.json"), read("estimates.json")) else {
            continue;
        };
        let id = bench.get("full_id").and_then(|v| v.as_str());
        let median = est
            .pointer("/median/point_estimate")
            .and_then(|v| v.as_f64());
        if let (Some(id), Some(median)) = (id, median) {
            out.push((id.to_owned(), median));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The median over concurrencies' medians of `ratios` for a verdict line.
pub fn median_ratio(
    samples: &[Sample],
    setup: &str,
    baseline: &str,
    concurrency: u32,
    metric: fn(&Sample) -> f64,
) -> Option<Spread> {
    Spread::of(&ratios(samples, setup, baseline, concurrency, metric))
}

/// Verdicts on the Envoy-level targets, one Markdown bullet each.
pub fn verdicts(samples: &[Sample]) -> String {
    let mut out = String::new();
    for c in concurrencies(samples) {
        let checks: [Check; 5] = [
            ("CPU/req ≤ native", "native", cpu, 1.0, true),
            (
                "CPU/req ≤ 1.10 × the floor (not a target of the issue: the least any \
                 resilience filter pays, `floor-wasm`)",
                "floor-wasm",
                cpu,
                1.10,
                true,
            ),
            (
                "CPU/req ≤ 1.10 × empty filter",
                "empty-wasm",
                cpu,
                1.10,
                true,
            ),
            ("req/s ≥ native", "native", rps, 1.0, false),
            (
                "req/s ≥ empty filter / 1.10",
                "empty-wasm",
                rps,
                1.0 / 1.10,
                false,
            ),
        ];
        for (what, base, metric, limit, lower_is_better) in checks {
            for setup in setup_names(samples)
                .into_iter()
                .filter(|n| n.starts_with("breakwater"))
            {
                let Some(r) = median_ratio(samples, setup, base, c, metric) else {
                    continue;
                };
                let met = if lower_is_better {
                    r.median <= limit
                } else {
                    r.median >= limit
                };
                let _ = writeln!(
                    out,
                    "- `--concurrency {c}` {setup}: {what}: ratio {} → **{}**",
                    r.cell(2),
                    if met { "met" } else { "missed" }
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(&[1.0, 2.0, 4.0, 8.0]).unwrap().median, 3.0);
        assert!(Spread::of(&[]).is_none());
        assert_eq!(s.cell(1), "2.0 (1.0–3.0)");
    }
}
