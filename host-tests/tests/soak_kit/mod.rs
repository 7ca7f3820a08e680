//! Soak: mixed load in real Envoy (2 workers) through one policy with every mechanism on
//! (breaker, retries with budget, bulkhead with queue, injected aborts and delays), while the
//! upstream cycles through healthy, slow and failing phases and some clients abort mid-request.
//! Then: nothing stuck, gauges back to 0, the counters balance, the upstream never saw more than
//! the bulkhead cap, no VM failed, Envoy's memory flat.
//!
//! The same soak runs on both Envoy adapters (`soak.rs`: the wasm filter, ~45 s in `make test`;
//! `soak_module.rs`: the dynamic module, ~20 s). `BREAKWATER_SOAK_SECS=600 cargo test -p
//! host-tests --test soak -- --nocapture` for a long run. Needs Envoy (`make envoy-install`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::e2e::{Adapter, WAIT, scenario, start_on};
use envoy_kit::client::{ClientError, GrpcRequest, HttpRequest, block_on};
use envoy_kit::poll::wait_until;
use envoy_kit::upstream::{Behaviour, GrpcReply, Mode, UpstreamServer};

/// Concurrent clients (the bulkhead admits 6 and queues 6: the rest are shed).
const CLIENTS: u64 = 16;
/// The pause of each client between two requests (keeps the load bounded: ~100-250 req/s).
const PACE: Duration = Duration::from_millis(40);
/// A request with neither an answer nor a reset within this is stuck. The slowest legitimate
/// path is a 40 ms injected delay + 250 ms in the queue + a 300 ms upstream + one retry.
const DEADLINE: Duration = Duration::from_secs(10);
/// Clients that abort give up after this (the upstream holds their request for 1 s).
const ABORT_AFTER: Duration = Duration::from_millis(150);
/// The bulkhead cap of `soak.json`.
const MAX_CONCURRENT: u64 = 6;
/// One phase of the upstream's cycle.
const PHASE: Duration = Duration::from_secs(3);
/// Envoy's RSS may grow at most this much over the last third of the run.
const RSS_GROWTH_BOUND_KB: u64 = 32 * 1024;

/// What the upstream saw during one phase (its counters restart with each phase).
#[derive(Debug)]
struct PhaseRecord {
    name: &'static str,
    aborts: bool,
    hits: u64,
    max_inflight: u64,
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    /// Local replies by `x-breakwater` reason.
    local: BTreeMap<String, u64>,
    /// Upstream answers (HTTP status, or `grpc-<code>`).
    upstream: BTreeMap<String, u64>,
    /// Connection reset or protocol error instead of an answer (allowed, counted).
    resets: u64,
    /// Clients that gave up on purpose.
    aborted: u64,
    /// Requests with no answer and no reset within [`DEADLINE`]: must be 0.
    stuck: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.resets += other.resets;
        self.aborted += other.aborted;
        self.stuck += other.stuck;
        for (k, v) in other.local {
            *self.local.entry(k).or_default() += v;
        }
        for (k, v) in other.upstream {
            *self.upstream.entry(k).or_default() += v;
        }
    }

    fn local(&self, reason: &str) -> u64 {
        self.local.get(reason).copied().unwrap_or(0)
    }

    fn error(&mut self, e: &ClientError, aborting: bool) {
        match e {
            ClientError::Timeout(_) if aborting => self.aborted += 1,
            ClientError::Timeout(_) => self.stuck += 1,
            _ => self.resets += 1,
        }
    }
}

/// The request mix, by sequence number: plain GETs, POSTs with a body, gRPC calls, forced
/// injections, and (while `aborts_on`) clients, HTTP and gRPC, that abort while the upstream
/// holds them.
async fn one(addr: std::net::SocketAddr, seq: u64, aborts_on: &AtomicBool, tally: &mut Tally) {
    tally.sent += 1;
    let kind = seq % 20;
    let aborting = kind >= 18 && aborts_on.load(Ordering::Relaxed);
    let timeout = if aborting { ABORT_AFTER } else { DEADLINE };
    if kind.is_multiple_of(4) || kind == 19 {
        let mut call = GrpcRequest::new("/soak.Echo/Say")
            .message("soak")
            .timeout(timeout);
        if aborting {
            call = call.metadata("x-upstream-delay-ms", "1000");
        }
        match call.send_async(addr).await {
            Ok(r) => match r.header("x-breakwater") {
                Some(reason) => *tally.local.entry(reason.to_owned()).or_default() += 1,
                None => {
                    let code = r.grpc_status.map_or("none".into(), |c| c.to_string());
                    *tally.upstream.entry(format!("grpc-{code}")).or_default() += 1;
                }
            },
            Err(e) => tally.error(&e, aborting),
        }
        return;
    }
    let mut request = match kind {
        1 | 5 | 9 => HttpRequest::post("/soak/orders").body(vec![b'x'; 1024]),
        _ => HttpRequest::get("/soak/items"),
    };
    request = request.timeout(timeout).header("x-seq", seq.to_string());
    if kind == 7 {
        request = request.header("x-failure-inject", "true");
    }
    if aborting {
        request = request.header("x-upstream-delay-ms", "1000");
    }
    match request.send_async(addr).await {
        Ok(r) => match r.header("x-breakwater") {
            Some(reason) => *tally.local.entry(reason.to_owned()).or_default() += 1,
            None => *tally.upstream.entry(r.status.to_string()).or_default() += 1,
        },
        Err(e) => tally.error(&e, aborting),
    }
}

/// Sets the upstream for phase `n` of the cycle (counters kept); returns its name.
fn phase(upstream: &UpstreamServer, n: u64) -> &'static str {
    let (name, mode, delay_ms) = match n % 4 {
        0 => ("healthy", Mode::Status(200), 5),
        1 => ("slow", Mode::Status(200), 300),
        2 => ("failing", fail(0.7, n), 5),
        _ => ("flaky", fail(0.1, n), 60),
    };
    // gRPC answers follow the HTTP decision: 503 becomes UNAVAILABLE.
    upstream.set_behaviour(Behaviour {
        mode,
        delay_ms,
        grpc: GrpcReply::Auto,
    });
    name
}

fn fail(fraction: f64, seed: u64) -> Mode {
    Mode::FailFraction {
        fraction,
        status: 503,
        seed,
    }
}

/// Envoy's resident set size in KiB (`VmRSS` of /proc/<pid>/status).
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the soak on `adapter` for `BREAKWATER_SOAK_SECS` seconds, `default_secs` without it.
pub(crate) fn soak(adapter: Adapter, default_secs: u64) {
    let secs: u64 = std::env::var("BREAKWATER_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_secs);
    let stack = start_on(adapter, &scenario("soak"), 2);
    let addr = stack.addr;
    let pid = stack.envoy.pid();
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let done = AtomicBool::new(false);
    let aborts_on = Arc::new(AtomicBool::new(true));

    let (tally, phases, rss) = std::thread::scope(|s| {
        // The conductor: switches the upstream's phase, turns aborting clients on for 4 phases
        // and off for 4, records what the upstream saw per phase, and samples Envoy's RSS.
        let conductor = s.spawn(|| {
            let mut phases = Vec::new();
            let mut rss = Vec::new();
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                let name = phase(&stack.upstream, n);
                aborts_on.store(n % 8 < 4, Ordering::Relaxed);
                let until = Instant::now() + PHASE;
                while Instant::now() < until && !done.load(Ordering::Relaxed) {
                    rss.extend(rss_kb(pid).map(|kb| (started.elapsed(), kb)));
                    std::thread::sleep(Duration::from_millis(250));
                }
                phases.push(PhaseRecord {
                    name,
                    aborts: n % 8 < 4,
                    hits: stack.upstream.total(),
                    max_inflight: stack.upstream.max_inflight(),
                });
                stack.upstream.reset_counters();
                n += 1;
            }
            (phases, rss)
        });
        let clients_abort = Arc::clone(&aborts_on);
        let tally = block_on(async move {
            let aborts_on = clients_abort;
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    let aborts_on = Arc::clone(&aborts_on);
                    tokio::spawn(async move {
                        let mut tally = Tally::default();
                        let mut seq = c; // client c sends c, c + CLIENTS, ...: every kind
                        while Instant::now() < end {
                            one(addr, seq, &aborts_on, &mut tally).await;
                            seq += CLIENTS;
                            tokio::time::sleep(PACE).await;
                        }
                        tally
                    })
                })
                .collect();
            let mut all = Tally::default();
            for c in clients {
                all.merge(c.await.expect("a client task panicked"));
            }
            all
        });
        done.store(true, Ordering::Relaxed);
        let (phases, rss) = conductor.join().expect("conductor");
        (tally, phases, rss)
    });
    let duration = started.elapsed();
    stack.upstream.set_behaviour(Behaviour::default()); // healthy again: nothing lingers

    // 0 stuck: every request got an answer or a reset within its deadline.
    assert_eq!(tally.stuck, 0, "stuck requests: {tally:?}");

    // Every permit and queue place came back, on every worker.
    let drained = wait_until(WAIT, || {
        stack.stat("soak", "bulkhead_inflight") == 0 && stack.stat("soak", "bulkhead_queued") == 0
    });
    assert!(
        drained,
        "gauges did not return to 0: inflight {}, queued {}",
        stack.stat("soak", "bulkhead_inflight"),
        stack.stat("soak", "bulkhead_queued")
    );
    // Counters are flushed per tick: wait until they stop moving.
    let mut last = u64::MAX;
    let settled = wait_until(WAIT, || {
        let now = stack.stat("soak", "requests_total") + stack.stat("soak", "responses_total");
        std::mem::replace(&mut last, now) == now
    });
    assert!(settled, "counters kept moving");

    let c = |name: &str| stack.stat("soak", name);
    let r = |reason: &str| stack.rejections("soak", reason);
    let requests = c("requests_total");
    let (open, bulk, qto, aborts) = (
        r("circuit_open"),
        r("bulkhead_full"),
        r("queue_timeout"),
        r("injected_fault"),
    );
    let (responses, retries) = (c("responses_total"), c("retries_made_total"));
    // The engine's identity: each matched request ends exactly one way, a cancel being the
    // client leaving while the request was queued, delayed or upstream.
    let cancelled = c("cancelled_total");
    let settled_ways = open + bulk + qto + aborts + responses + cancelled;
    assert_eq!(
        requests, settled_ways,
        "requests ({requests}) != responses {responses} + rejections: circuit_open {open} + \
         bulkhead_full {bulk} + queue_timeout {qto} + injected_fault {aborts} + \
         cancelled {cancelled}"
    );
    assert!(
        cancelled <= tally.aborted,
        "{cancelled} cancelled but only {} clients left early",
        tally.aborted
    );
    // Every request reached the filter, except perhaps one whose client gave up first.
    assert!(requests <= tally.sent && tally.sent - requests <= tally.aborted);
    // What the clients saw matches what the filter counted (an aborting client may miss its
    // own local reply).
    for (reason, counted) in [
        ("circuit_open", open),
        ("bulkhead_full", bulk),
        ("queue_timeout", qto),
        ("injected_fault", aborts),
    ] {
        let seen = tally.local(reason);
        assert!(
            seen <= counted && counted <= seen + tally.aborted,
            "{reason}: clients saw {seen}, the filter counted {counted}"
        );
    }
    // The upstream: every attempt is a response, a retry or a cancelled request; never more
    // at once than the bulkhead admits.
    let hits = phases.iter().map(|p| p.hits).sum::<u64>() + stack.upstream.total();
    assert!(
        hits <= responses + retries + cancelled,
        "upstream saw {hits} > {responses} responses + {retries} retries + {cancelled} cancels"
    );
    // The cap holds exactly while no client aborts (in the phase and the one before). A client
    // that leaves frees its permit at once, but an upstream learns of the reset only later (an
    // HTTP/1 server when it next reads): meanwhile it can hold more than the cap.
    let strict: Vec<_> = phases
        .windows(2)
        .filter(|w| !w[0].aborts && !w[1].aborts)
        .map(|w| &w[1])
        .collect();
    for p in &strict {
        assert!(
            p.max_inflight <= MAX_CONCURRENT,
            "upstream saw {} at once without aborting clients: {phases:?}",
            p.max_inflight
        );
    }
    let max_inflight = strict.iter().map(|p| p.max_inflight).max().unwrap_or(0);
    let max_with_aborts = phases.iter().map(|p| p.max_inflight).max().unwrap_or(0);
    // Each mechanism really ran.
    for (what, n) in [
        ("breaker rejections", open),
        ("bulkhead rejections", bulk),
        ("queue timeouts", qto),
        ("injected aborts", aborts),
        ("injected delays", c("injected_delays_total")),
        ("retries", retries),
        ("cancels", cancelled),
        ("phases checked for the cap", strict.len() as u64),
    ] {
        assert!(
            n > 0,
            "no {what} in {duration:?}: the soak did not exercise it"
        );
    }

    // No VM failed or was reloaded; no panic logged.
    let stats = stack.envoy.stats().expect("stats");
    let vm_trouble: Vec<_> = stats
        .iter()
        .filter(|(k, v)| {
            k.starts_with("wasm.") && (k.contains("fail") || k.contains("reload")) && **v > 0
        })
        .collect();
    assert!(vm_trouble.is_empty(), "wasm VM trouble: {vm_trouble:?}");
    let panics = stack.envoy.log_text().matches("panicked").count();
    assert_eq!(panics, 0, "breakwater panicked");
    assert_eq!(
        stack.engine_stat("module_hook_failures_total"),
        0,
        "a module hook failed"
    );

    // Memory: Envoy's RSS over the last third may grow at most RSS_GROWTH_BOUND_KB.
    let third = rss.len() / 3;
    let at_two_thirds = rss.get(2 * third).map_or(0, |s| s.1);
    let peak_last = rss[2 * third..].iter().map(|s| s.1).max().unwrap_or(0);
    let growth = peak_last.saturating_sub(at_two_thirds);
    assert!(
        growth <= RSS_GROWTH_BOUND_KB,
        "Envoy RSS grew {growth} KiB in the last third: {rss:?}"
    );

    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &phases {
        *kinds.entry(p.name).or_default() += 1;
    }
    let first = rss.first().map_or(0, |s| s.1);
    println!(
        "soak: {} requests in {:.1} s ({:.0}/s), {} phases of {PHASE:?} {kinds:?}\n\
         soak: {adapter:?}: {requests} matched = {responses} responses + {open} circuit_open + \
         {bulk} bulkhead_full + {qto} queue_timeout + {aborts} injected aborts + {cancelled} \
         cancelled; {} injected delays, {retries} retries\n\
         soak: clients: upstream answers {:?}, local {:?}, {} resets, {} aborted on purpose, \
         stuck 0, panics 0, VM failures 0\n\
         soak: upstream: {hits} attempts, max {max_inflight} at once (cap {MAX_CONCURRENT}; \
         {max_with_aborts} with aborting clients); \
         Envoy RSS {first} KiB -> {} KiB (last third +{growth} KiB, bound {RSS_GROWTH_BOUND_KB})",
        tally.sent,
        duration.as_secs_f64(),
        tally.sent as f64 / duration.as_secs_f64(),
        phases.len(),
        c("injected_delays_total"),
        tally.upstream,
        tally.local,
        tally.resets,
        tally.aborted,
        rss.last().map_or(0, |s| s.1),
    );
}
