//! `make bench`'s Envoy part, and a stand-alone load generator.
//!
//! - `loadgen bench [--rounds N] [--seconds S] [--rate R] [--out DIR]` runs every setup of
//!   `loadgen` (interleaved rounds, `--concurrency 1` and `2`), then writes
//!   `DIR/envoy-bench.md` (tables, criterion figures found under `target/criterion`, artifact
//!   sizes, verdicts on the targets) and `DIR/envoy-bench.csv` (every sample). Default DIR:
//!   `<workspace>/target/bench`. `--seconds` is the closed-loop length (open loop: 2/3 of it).
//!   `--filter FILE` runs the breakwater setups on that `.wasm` instead of the one build.rs made
//!   (e.g. a build of a fixed commit while the working tree is being edited);
//!   `--variant NAME=FILE` (repeatable) adds a setup `breakwater-NAME`: the demo-like policy on
//!   another build of the filter (e.g. another `opt-level`), measured in the same rounds.
//!   `--only NAME,...` keeps only the named setups and `--concurrency N` only that concurrency
//!   (quick comparisons; the ratios need `no-wasm` and `empty-wasm` kept).
//! - `loadgen ab --only NAME,NAME,... [--variant NAME=FILE]... [--concurrency N] [--slices N]
//!   [--seconds S]` runs the named setups side by side and moves the load between them every
//!   S seconds (default 0.5), N slices each (default 20): per-slice paired CPU ratios to the
//!   first named setup, steady enough to decide a hot-path change on a shared machine
//!   (`loadgen::ab`).
//! - `loadgen scale [--out DIR]` measures what 1, 1,000 and 10,000 policies cost Envoy before
//!   any request, for the wasm filter and the module: `--mode validate` and start-up times, and
//!   resident memory per policy and per worker (`loadgen::scale`); writes `DIR/envoy-scale.md`.
//!   The CPU per request at those sizes is `loadgen ab --only scale-wasm-1,scale-wasm-10000`.
//! - `loadgen serve --setup NAME [--concurrency N] [--filter FILE]` starts the fast upstream and
//!   one setup's Envoy (e.g. `breakwater`), prints the listener address and Envoy's pid, and
//!   keeps both up until stdin closes (Enter or Ctrl-D): for profiling one setup by hand
//!   (`perf record -p PID` while `loadgen closed --addr ADDR` runs), as BENCHMARKS.md shows.
//! - `loadgen closed --addr HOST:PORT [--connections N] [--seconds S]` and
//!   `loadgen open --addr HOST:PORT --rate R [--connections N] [--seconds S]` load any HTTP/1.1
//!   server on loopback and print what they measured.
//!
//! Exit codes: 0 done, 1 a measurement failed, 2 bad arguments.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use artifacts::Artifact;
use envoy_kit::envoy::workspace_dir;
use loadgen as bench;
use loadgen::{LoadReport, Plan, report};

const USAGE: &str = "usage: loadgen bench [--rounds N] [--seconds S] [--rate R] [--out DIR] [--filter FILE] [--variant NAME=FILE]... [--only NAME,...] [--concurrency N]\n\
                     \x20      loadgen ab --only NAME,NAME,... [--variant NAME=FILE]... [--concurrency N] [--slices N] [--seconds S]\n\
                     \x20      loadgen scale [--out DIR]\n\
                     \x20      loadgen serve --setup NAME [--concurrency N] [--filter FILE]\n\
                     \x20      loadgen closed|open --addr HOST:PORT [--connections N] [--seconds S] [--rate R]";

#[derive(Debug, Default)]
struct Args {
    mode: String,
    rounds: Option<usize>,
    seconds: Option<f64>,
    rate: Option<f64>,
    connections: Option<usize>,
    addr: Option<SocketAddr>,
    out: Option<PathBuf>,
    variants: Vec<(String, PathBuf)>,
    filter: Option<PathBuf>,
    setup: Option<String>,
    concurrency: Option<u32>,
    only: Option<Vec<String>>,
    slices: Option<usize>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        mode: args.next().ok_or("no mode")?,
        ..Args::default()
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let bad = |v: &str| format!("bad value {v:?} for {arg}");
        match arg.as_str() {
            "--rounds" => a.rounds = Some(value()?.parse().map_err(|_| bad("rounds"))?),
            "--seconds" => a.seconds = Some(value()?.parse().map_err(|_| bad("seconds"))?),
            "--rate" => a.rate = Some(value()?.parse().map_err(|_| bad("rate"))?),
            "--connections" => a.connections = Some(value()?.parse().map_err(|_| bad("n"))?),
            "--addr" => a.addr = Some(value()?.parse().map_err(|_| bad("addr"))?),
            "--out" => a.out = Some(value()?.into()),
            "--filter" => a.filter = Some(value()?.into()),
            "--setup" => a.setup = Some(value()?),
            "--slices" => a.slices = Some(value()?.parse().map_err(|_| bad("slices"))?),
            "--only" => a.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--concurrency" => a.concurrency = Some(value()?.parse().map_err(|_| bad("n"))?),
            "--variant" => {
                let v = value()?;
                let (name, path) = v.split_once('=').ok_or_else(|| bad(&v))?;
                a.variants.push((format!("breakwater-{name}"), path.into()));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn print_load(report: &LoadReport) {
    let [p50, p99, p999, max] = report.latency_us;
    println!(
        "ok {} errors {} in {:.2} s: {:.0} req/s; latency µs p50 {p50:.0} p99 {p99:.0} p99.9 {p999:.0} max {max:.0}; \
         generator lateness µs p50 {:.0} p99 {:.0}",
        report.ok,
        report.errors,
        report.elapsed.as_secs_f64(),
        report.rps(),
        report.send_lateness_us[0],
        report.send_lateness_us[1],
    );
}

fn size(artifact: Artifact) -> String {
    std::fs::metadata(artifact.path())
        .map_or("missing".to_owned(), |m| format!("{} bytes", m.len()))
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_dir().join("target"), PathBuf::from)
        .join("criterion")
}

fn bench_report(samples: &[bench::Sample], plan: &Plan, took: Duration) -> String {
    let mut md = format!(
        "### Envoy (`make bench`: {} rounds, {:.1} s closed loop with {} connections + {:.1} s open loop at {:.0} req/s over {} connections per measurement; took {:.0} s)\n",
        plan.rounds,
        plan.load.closed.as_secs_f64(),
        plan.load.connections,
        plan.load.open.as_secs_f64(),
        plan.load.rate,
        plan.load.open_connections,
        took.as_secs_f64(),
    );
    md.push_str(&report::envoy_tables(samples));
    md.push_str("\n### Verdicts (Envoy, paired per-round ratios)\n\n");
    md.push_str(&report::verdicts(samples));
    md.push_str("\n### Criterion medians (`target/criterion`, from the last `cargo bench`)\n\n| benchmark | median |\n|---|---|\n");
    for (id, ns) in report::criterion_medians(&criterion_dir()) {
        let _ = writeln!(md, "| `{id}` | {ns:.1} ns |");
    }
    md.push_str(
        "\n### Artifacts (stripped; profile `wasm-release`, the component `component-release`)\n\n",
    );
    for a in [
        artifacts::BREAKWATER_FILTER,
        artifacts::EMPTY_FILTER,
        artifacts::BREAKWATER_COMPONENT,
    ] {
        let _ = writeln!(md, "- `{}` ({}): {}", a.package(), a.target(), size(a));
    }
    md
}

/// `loadgen serve`: one setup up until stdin closes.
fn serve(name: &str, concurrency: u32, filter: Option<PathBuf>) -> Result<(), String> {
    let mut setups = bench::setups::all();
    let names: Vec<String> = setups.iter().map(|s| s.name.clone()).collect();
    let Some(mut setup) = setups.drain(..).find(|s| s.name == name) else {
        return Err(format!("no setup {name:?}; the setups are {names:?}"));
    };
    if let (Some(f), true) = (filter, setup.is_breakwater()) {
        setup.wasm = Some(f);
    }
    let (upstream, port) = bench::start_upstream().map_err(|e| e.to_string())?;
    let envoy = bench::setups::start(&setup, concurrency, port).map_err(|e| e.to_string())?;
    let addr = envoy.listener("main").map_err(|e| e.to_string())?;
    println!(
        "{name} (--concurrency {concurrency}) listening on {addr}, envoy pid {}; admin {}\n\
         press Enter (or close stdin) to stop",
        envoy.pid(),
        envoy.admin_addr(),
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(envoy);
    drop(upstream);
    Ok(())
}

/// `loadgen scale`: load time and memory at 1, 1,000 and 10,000 policies, to `out`.
fn scale(out: &std::path::Path) -> Result<(), String> {
    let (upstream, port) = bench::start_upstream().map_err(|e| e.to_string())?;
    let samples = bench::scale::run(port, |s| {
        println!(
            "{} {} policies: validate {:.2} s, start {:.2} s, RSS {:.1}/{:.1} MiB",
            s.adapter,
            s.policies,
            s.validate.as_secs_f64(),
            s.start.as_secs_f64(),
            s.rss[0] as f64 / 1048576.0,
            s.rss[1] as f64 / 1048576.0,
        );
    })
    .map_err(|e| e.to_string())?;
    drop(upstream);
    let md = format!(
        "### Configuration size (`loadgen scale`)\n\n{}",
        bench::scale::table(&samples)
    );
    println!("\n{md}");
    std::fs::create_dir_all(out)
        .and_then(|()| std::fs::write(out.join("envoy-scale.md"), &md))
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}

fn main() {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let seconds = args.seconds.map(Duration::from_secs_f64);
    match (args.mode.as_str(), args.addr) {
        ("closed", Some(addr)) => print_load(&bench::closed_loop(
            addr,
            args.connections.unwrap_or(8),
            seconds.unwrap_or(Duration::from_secs(3)),
        )),
        ("open", Some(addr)) => print_load(&bench::open_loop(
            addr,
            args.connections.unwrap_or(4),
            args.rate.unwrap_or(1000.0),
            seconds.unwrap_or(Duration::from_secs(3)),
        )),
        ("ab", _) => {
            let mut all = bench::setups::all();
            if args.only.iter().flatten().any(|n| n.starts_with("scale-")) {
                all.extend(bench::setups::scale());
            }
            for (name, path) in &args.variants {
                all.push(bench::Setup::breakwater(name, path.clone()));
            }
            let names = args.only.clone().unwrap_or_default();
            let chosen: Result<Vec<_>, String> = names
                .iter()
                .map(|n| {
                    all.iter()
                        .find(|s| &s.name == n)
                        .cloned()
                        .ok_or(format!("no setup {n:?}"))
                })
                .collect();
            let chosen = match chosen {
                Ok(c) if c.len() >= 2 => c,
                Ok(_) => {
                    eprintln!("ab needs --only with two setups or more\n{USAGE}");
                    std::process::exit(2);
                }
                Err(e) => {
                    eprintln!("{e}\n{USAGE}");
                    std::process::exit(2);
                }
            };
            let plan = bench::ab::AbPlan {
                concurrency: args.concurrency.unwrap_or(1),
                slices: args.slices.unwrap_or(20),
                slice: seconds.unwrap_or(Duration::from_millis(500)),
                connections: args.connections.unwrap_or(8),
            };
            match bench::ab::run(&chosen, &plan) {
                Ok(series) => println!("{}", bench::ab::table(&series)),
                Err(e) => {
                    eprintln!("ab failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        ("scale", _) => {
            let out = args
                .out
                .unwrap_or_else(|| workspace_dir().join("target").join("bench"));
            if let Err(e) = scale(&out) {
                eprintln!("scale failed: {e}");
                std::process::exit(1);
            }
        }
        ("serve", _) => {
            let Some(name) = args.setup.as_deref() else {
                eprintln!("serve needs --setup NAME\n{USAGE}");
                std::process::exit(2);
            };
            if let Err(e) = serve(name, args.concurrency.unwrap_or(1), args.filter) {
                eprintln!("serve failed: {e}");
                std::process::exit(1);
            }
        }
        ("bench", _) => {
            let mut plan = Plan::default();
            if let Some(r) = args.rounds {
                plan.rounds = r;
            }
            if let Some(s) = seconds {
                plan.load.closed = s;
                plan.load.open = s.mul_f64(2.0 / 3.0);
            }
            if let Some(r) = args.rate {
                plan.load.rate = r;
            }
            if let Some(filter) = &args.filter {
                for s in plan.setups.iter_mut().filter(|s| s.is_breakwater()) {
                    s.wasm = Some(filter.clone());
                }
            }
            for (name, path) in args.variants {
                plan.setups.push(bench::Setup::breakwater(&name, path));
            }
            if let Some(only) = &args.only {
                plan.setups.retain(|s| only.contains(&s.name));
            }
            if let Some(c) = args.concurrency {
                plan.concurrencies = vec![c];
            }
            let started = Instant::now();
            let result = bench::run(&plan, |round, s| {
                println!(
                    "round {round} --concurrency {} {:<26} {:>7.0} req/s  CPU {:>5.1} µs/req  \
                     open p50/p99/p99.9 {:.0}/{:.0}/{:.0} µs  shared-data/req {}",
                    s.concurrency,
                    s.setup,
                    s.closed.rps(),
                    s.cpu_us_closed,
                    s.open.latency_us[0],
                    s.open.latency_us[1],
                    s.open.latency_us[2],
                    s.shared_data_per_request
                        .map_or("-".to_owned(), |v| format!("{v:.3}")),
                );
            });
            let samples = match result {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bench failed: {e}");
                    std::process::exit(1);
                }
            };
            let md = bench_report(&samples, &plan, started.elapsed());
            let out = args
                .out
                .unwrap_or_else(|| workspace_dir().join("target").join("bench"));
            let written = std::fs::create_dir_all(&out)
                .and_then(|()| std::fs::write(out.join("envoy-bench.md"), &md))
                .and_then(|()| std::fs::write(out.join("envoy-bench.csv"), report::csv(&samples)));
            println!("\n{md}");
            match written {
                Ok(()) => println!("written: {}/envoy-bench.{{md,csv}}", out.display()),
                Err(e) => {
                    eprintln!("cannot write the report to {}: {e}", out.display());
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
