//! Steps 1–3: healthy traffic, the checkout breaker opening, and its recovery.
//!
//! These three tell the circuit breaker's whole story on one policy (`checkout`: 5 consecutive
//! failures, 3 s open, 2 half-open probes, 2 successes to close), so they share the instant the
//! breaker was seen open. Each claim is checked against both sides: what the clients got and
//! how many requests the upstream actually received.

use std::time::{Duration, Instant};

use super::DemoError;
use super::narrate::legend;
use super::record::Kind;
use super::scenario::{Ctx, count, kinds};
use envoy_kit::client::HttpRequest;

/// The checkout policy's `recovery_timeout_ms` in envoy/demo.json.
const RECOVERY: Duration = Duration::from_millis(3_000);
/// Its `failure_threshold`.
const THRESHOLD: usize = 5;
/// Its `half_open_max_calls`.
const PROBES: usize = 2;

/// Step 1: 40 requests over three policies, all served, each seen once upstream.
pub fn healthy(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    ctx.say.say(&format!("legend: {}", legend(ctx.say)));
    let paths = [
        "/checkout/cart",
        "/inventory/items",
        "/flaky/feed",
        "/checkout/pay",
    ];
    ctx.say.strip_start("requests");
    let mut answers = Vec::new();
    for i in 0..40 {
        answers.push(ctx.get(paths[i % paths.len()])?);
        ctx.pause(Duration::from_millis(20))?;
    }
    ctx.say.strip_end();
    ctx.check(
        count(&answers, Kind::Ok) == 40,
        "every request was answered 200 by the upstream",
        || kinds(&answers),
    )?;
    let hits = ctx.upstream_total();
    ctx.check(
        hits == 40,
        "the upstream saw each request exactly once (40 hits)",
        || format!("upstream hits: {hits}"),
    )?;
    let (status, doc) = ctx.status_doc()?;
    ctx.check(
        status == 200 && doc["healthy"] == true,
        "GET /breakwater/status: 200, every breaker closed",
        || format!("status {status}: {doc}"),
    )
}

/// Step 2: the upstream fails; the breaker opens after the threshold and then answers every
/// request itself, fast, with `retry-after`, while the upstream sees none of them.
pub fn breaker_opens(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    ctx.upstream.always(503);
    ctx.say
        .say("upstream: every request now gets 503 (like `curl …/_control/status/503`)");
    ctx.say.strip_start("failing");
    let mut failures = 0;
    let mut opened = None;
    for _ in 0..40 {
        let a = ctx.get("/checkout/pay")?;
        match a.kind {
            Kind::UpstreamError => failures += 1,
            Kind::CircuitOpen => {
                opened = Some(Instant::now());
                break;
            }
            _ => {}
        }
    }
    ctx.say.strip_end();
    let trip_hits = ctx.upstream_total();
    ctx.check(opened.is_some(), "the checkout breaker opened", || {
        format!("{failures} failed requests and no `x-breakwater: circuit_open` reply in 40")
    })?;
    ctx.checkout_opened = opened;
    ctx.check(
        failures >= THRESHOLD,
        &format!("… only after {failures} failures reached clients (threshold {THRESHOLD})"),
        || format!("opened after {failures} failures"),
    )?;
    ctx.say.say(&format!(
        "(those {failures} failing requests cost {trip_hits} upstream calls: the router retried them)"
    ));
    // Every worker picks the opening up within sync_interval_ms (100 ms).
    ctx.pause(Duration::from_millis(250))?;
    ctx.say.strip_start("open");
    let mut answers = Vec::new();
    for _ in 0..40 {
        answers.push(ctx.get("/checkout/pay")?);
        ctx.pause(Duration::from_millis(10))?;
    }
    ctx.say.strip_end();
    let spared = ctx.upstream_total() - trip_hits;
    ctx.check(
        count(&answers, Kind::CircuitOpen) == 40,
        "all 40 answered by breakwater: 503, x-breakwater: circuit_open",
        || kinds(&answers),
    )?;
    ctx.check(
        spared == 0,
        "the upstream saw none of them (0 hits)",
        || format!("the upstream saw {spared} rejected requests"),
    )?;
    let retry_after = answers
        .iter()
        .filter_map(|a| a.header("retry-after"))
        .next_back();
    ctx.check(
        answers.iter().all(|a| {
            a.header("retry-after")
                .is_some_and(|v| v.parse::<u64>().is_ok())
        }),
        &format!(
            "each carries retry-after (last: {} s)",
            retry_after.unwrap_or("-")
        ),
        || "a rejection without a numeric retry-after".to_owned(),
    )?;
    let mut lat: Vec<_> = answers.iter().map(|a| a.latency).collect();
    lat.sort_unstable();
    ctx.say.say(&format!(
        "fast failure: p50 {:.1} ms per rejection, no upstream wait",
        super::record::percentile(&lat, 50).as_secs_f64() * 1e3
    ));
    let (status, doc) = ctx.status_doc()?;
    let state = Ctx::policy_state(&doc, "checkout");
    ctx.check(
        status == 503 && state == "open",
        "GET /breakwater/status: 503, checkout open",
        || format!("status {status}, checkout {state}: {doc}"),
    )?;
    ctx.check(
        ctx.log_has("policy=checkout from=closed to=open"),
        "Envoy logged the transition (from=closed to=open)",
        || "no `policy=checkout from=closed to=open` line in the Envoy log".to_owned(),
    )
}

/// Step 3: the upstream heals but stays untouched until the recovery timeout; then exactly the
/// configured probes pass, succeed, and the breaker closes.
pub fn recovery(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    let opened = ctx
        .checkout_opened
        .ok_or_else(|| DemoError::Setup("step 2 did not record the opening".into()))?;
    ctx.upstream.set_delay_ms(300);
    ctx.say
        .say("upstream: healthy again (200, answering in 300 ms); the breaker does not know yet");
    ctx.say.strip_start("waiting");
    let mut waiting = Vec::new();
    for _ in 0..100 {
        if opened.elapsed() + Duration::from_millis(600) >= RECOVERY {
            break;
        }
        waiting.push(ctx.get("/checkout/pay")?);
        ctx.pause(Duration::from_millis(200))?;
    }
    ctx.say.strip_end();
    let hits = ctx.upstream_total();
    ctx.check(
        count(&waiting, Kind::CircuitOpen) == waiting.len() && hits == 0,
        "until the 3 s recovery timeout, requests are still rejected and the upstream rests",
        || format!("{}; upstream hits {hits}", kinds(&waiting)),
    )?;
    let until = opened + RECOVERY + Duration::from_millis(200);
    let mut first = true;
    for _ in 0..100 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        ctx.say.countdown("half-open in", left, first);
        first = false;
        ctx.pause(left.min(Duration::from_millis(100)))?;
    }
    ctx.say.countdown_end();
    ctx.say.say("recovery timeout passed: 8 requests at once");
    ctx.say.strip_start("probes");
    let burst = ctx.burst((0..8).map(|_| HttpRequest::get("/checkout/pay")).collect())?;
    ctx.say.strip_end();
    let passed = count(&burst, Kind::Ok);
    let probe_hits = ctx.upstream_total();
    ctx.check(
        (1..=PROBES).contains(&passed) && passed + count(&burst, Kind::CircuitOpen) == 8,
        &format!("half-open: {passed} probe(s) admitted (max {PROBES}), the rest still rejected"),
        || kinds(&burst),
    )?;
    ctx.check(
        probe_hits == passed as u64,
        &format!("only the probes reached the upstream ({probe_hits} hits)"),
        || format!("upstream hits {probe_hits}, probes {passed}"),
    )?;
    ctx.upstream.set_delay_ms(0);
    ctx.say.strip_start("closing");
    let mut streak = 0;
    let mut tail = Vec::new();
    for _ in 0..60 {
        let a = ctx.get("/checkout/pay")?;
        streak = if a.kind == Kind::Ok { streak + 1 } else { 0 };
        tail.push(a);
        if streak >= 10 {
            break;
        }
        ctx.pause(Duration::from_millis(20))?;
    }
    ctx.say.strip_end();
    ctx.check(
        streak >= 10,
        "closed: traffic flows again on every worker",
        || kinds(&tail),
    )?;
    ctx.check(
        ctx.log_has("policy=checkout from=open to=half_open")
            && ctx.log_has("policy=checkout from=half_open to=closed"),
        "Envoy logged open → half_open → closed",
        || "missing transition lines in the Envoy log".to_owned(),
    )?;
    let mut healthy = false;
    for _ in 0..20 {
        let (status, _) = ctx.status_doc()?;
        if status == 200 {
            healthy = true;
            break;
        }
        ctx.pause(Duration::from_millis(100))?;
    }
    ctx.check(healthy, "GET /breakwater/status: 200 again", || {
        "still 503 after 2 s".to_owned()
    })
}
