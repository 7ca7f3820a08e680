//! `loadgen ab`: a few setups compared in short alternating slices, for deciding a change.
//!
//! On a shared machine the CPU a request costs drifts by ±15 % over tens of seconds (other
//! work, the hypervisor), which is the size of the effects a hot-path change has. The rounds
//! of [`super::run`] measure each setup for several seconds in turn, so a drift lands on one
//! setup and not the other. Here every setup's Envoy runs at once, and the load moves from one to
//! the next every `slice` (half a second by default), in a rotating order; CPU comes from the
//! scheduler's nanosecond counters ([`super::procfs::cpu_time_exact`]). Each slice gives a ratio
//! to the first setup measured moments apart, and the median of those ratios is steady to a few
//! percent where whole rounds are not.

use std::time::Duration;

use super::loadgen::closed_loop;
use super::procfs;
use super::setups::{self, Setup};
use envoy_kit::envoy::{Envoy, EnvoyError};

/// One setup's slices.
#[derive(Clone, Debug)]
pub struct AbSeries {
    /// The setup's name.
    pub setup: String,
    /// Envoy CPU per answered request in each slice (µs).
    pub cpu_us: Vec<f64>,
    /// Requests per second in each slice.
    pub rps: Vec<f64>,
}

/// How an A/B run is shaped.
#[derive(Clone, Copy, Debug)]
pub struct AbPlan {
    /// Envoy `--concurrency`.
    pub concurrency: u32,
    /// Slices per setup.
    pub slices: usize,
    /// Length of one slice.
    pub slice: Duration,
    /// Closed-loop connections.
    pub connections: usize,
}

/// Runs `setups` side by side (see the module docs); every Envoy is stopped before returning.
pub fn run(setups: &[Setup], plan: &AbPlan) -> Result<Vec<AbSeries>, EnvoyError> {
    let (upstream, port) = super::start_upstream()?;
    let mut running = Vec::new();
    for s in setups {
        let envoy = setups::start(s, plan.concurrency, port)?;
        let addr = envoy.listener("main")?;
        closed_loop(addr, plan.connections, Duration::from_millis(500));
        running.push((envoy, addr));
    }
    let mut series: Vec<AbSeries> = setups
        .iter()
        .map(|s| AbSeries {
            setup: s.name.clone(),
            cpu_us: Vec::new(),
            rps: Vec::new(),
        })
        .collect();
    let cpu = |envoy: &Envoy| {
        procfs::cpu_time_exact(envoy.pid())
            .ok_or_else(|| EnvoyError::Admin("cannot read /proc/<envoy>/task/*/schedstat".into()))
    };
    let n = setups.len();
    for slice in 0..plan.slices {
        for k in 0..n {
            let i = (k + slice) % n;
            let (envoy, addr) = &running[i];
            let before = cpu(envoy)?;
            let load = closed_loop(*addr, plan.connections, plan.slice);
            let used = cpu(envoy)?.saturating_sub(before);
            if load.ok == 0 {
                return Err(EnvoyError::Admin(format!(
                    "{}: no successful request in a slice ({} errors)",
                    series[i].setup, load.errors
                )));
            }
            series[i]
                .cpu_us
                .push(used.as_secs_f64() * 1e6 / load.ok as f64);
            series[i].rps.push(load.rps());
        }
    }
    drop(running);
    drop(upstream);
    Ok(series)
}

/// The median of `values` (0 when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A Markdown table: per setup the median CPU µs/request and req/s over the slices, and the
/// median of the per-slice CPU ratios to the first setup, with its interquartile range.
pub fn table(series: &[AbSeries]) -> String {
    let mut md = String::from(
        "| setup | CPU µs/req (median) | req/s (median) | CPU × first, paired per slice: median (p25–p75) |\n|---|---|---|---|\n",
    );
    let Some(base) = series.first() else {
        return md;
    };
    for s in series {
        let mut ratios: Vec<f64> = s
            .cpu_us
            .iter()
            .zip(&base.cpu_us)
            .map(|(a, b)| a / b)
            .collect();
        ratios.sort_by(f64::total_cmp);
        let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
        md.push_str(&format!(
            "| {} | {:.1} | {:.0} | {:.3} ({:.3}–{:.3}) |\n",
            s.setup,
            median(&s.cpu_us),
            median(&s.rps),
            median(&ratios),
            q(0.25),
            q(0.75),
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_paired_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let series = [
            AbSeries {
                setup: "a".into(),
                cpu_us: vec![100.0, 200.0, 100.0],
                rps: vec![1.0, 1.0, 1.0],
            },
            AbSeries {
                setup: "b".into(),
                cpu_us: vec![110.0, 220.0, 130.0],
                rps: vec![1.0, 1.0, 1.0],
            },
        ];
        let md = table(&series);
        assert!(
            md.contains("| a | 100.0 | 1 | 1.000 (1.000–1.000) |"),
            "{md}"
        );
        // Paired: 1.1, 1.1, 1.3, although b's own median (130) is 1.3 × a's (100).
        assert!(
            md.contains("| b | 130.0 | 1 | 1.100 (1.100–1.300) |"),
            "{md}"
        );
    }
}
