//! Steps 4–7: the bulkhead under a burst, failure injection, retries within a budget, and a
//! gRPC client meeting an open breaker.
//!
//! Each step uses its own policy of envoy/demo.json, so none depends on another's state. The
//! numbers checked are either exact (caps, upstream hits) or, for random injection, a range
//! several standard deviations wide, so a correct filter never fails the demo by bad luck.

use std::time::Duration;

use super::DemoError;
use super::record::Kind;
use super::scenario::{Ctx, count, kinds};
use envoy_kit::client::HttpRequest;
use envoy_kit::upstream::GrpcReply;

/// Step 4: 24 requests at once against a bulkhead of 4 with a queue of 4.
pub fn bulkhead(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    ctx.upstream.set_delay_ms(300);
    ctx.say
        .say("upstream: answers in 300 ms; inventory: max_concurrent 4, queue_size 4");
    ctx.say.strip_start("burst");
    let reqs = (0..24)
        .map(|i| HttpRequest::get("/inventory/items").header("x-seq", i.to_string()))
        .collect();
    let answers = ctx.burst(reqs)?;
    ctx.say.strip_end();
    let ok = count(&answers, Kind::Ok);
    let shed = count(&answers, Kind::Shed);
    let max = ctx.upstream.max_inflight();
    ctx.check(
        ok + shed == answers.len(),
        "every request got an answer: served, or shed by breakwater",
        || kinds(&answers),
    )?;
    ctx.check(
        max <= 4,
        &format!("the upstream never had more than 4 in flight (max seen: {max})"),
        || format!("the upstream had {max} requests in flight at once"),
    )?;
    let waited = answers
        .iter()
        .filter(|a| a.kind == Kind::Ok && a.latency >= Duration::from_millis(450))
        .count();
    ctx.check(
        ok > 4,
        &format!("{ok} served: 4 at once, {waited} more after waiting in the queue"),
        || {
            format!(
                "only {ok} served: the queue did not move ({})",
                kinds(&answers)
            )
        },
    )?;
    let proper = answers
        .iter()
        .filter(|a| a.kind == Kind::Shed)
        .all(|a| a.status() == 429 && a.header("retry-after").is_some());
    ctx.check(
        shed >= 1 && proper,
        &format!("{shed} shed at once with 429 + retry-after (x-breakwater: bulkhead_full)"),
        || kinds(&answers),
    )?;
    let hits = ctx.upstream_total();
    ctx.check(
        hits == ok as u64,
        &format!("the upstream saw only the {ok} served requests"),
        || format!("upstream hits {hits}, served {ok}"),
    )
}

/// Step 5: header-triggered aborts, then rate-based aborts and delays.
pub fn injection(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    ctx.say.say("x-failure-inject: true on 5 requests");
    ctx.say.strip_start("header");
    let mut header = Vec::new();
    for _ in 0..5 {
        let req = HttpRequest::get("/recommendations/top").header("x-failure-inject", "true");
        header.push(ctx.send(req)?);
    }
    ctx.say.strip_end();
    let hits = ctx.upstream_total();
    ctx.check(
        count(&header, Kind::Injected) == 5 && header.iter().all(|a| a.status() == 503),
        "each answered 503 by breakwater (x-breakwater: injected_fault)",
        || kinds(&header),
    )?;
    ctx.check(hits == 0, "none reached the upstream", || {
        format!("upstream hits {hits}")
    })?;
    ctx.say
        .say("no header, 120 requests (12 at a time): abort_rate 0.2, delay_rate 0.1 of 300 ms");
    ctx.delayed_after = Some(Duration::from_millis(280));
    ctx.say.strip_start("rates");
    let mut answers = Vec::new();
    for _ in 0..10 {
        let reqs = (0..12)
            .map(|_| HttpRequest::get("/recommendations/top"))
            .collect();
        let burst = ctx.burst(reqs);
        match burst {
            Ok(b) => answers.extend(b),
            Err(e) => {
                ctx.delayed_after = None;
                return Err(e);
            }
        }
    }
    ctx.delayed_after = None;
    ctx.say.strip_end();
    let aborted = count(&answers, Kind::Injected);
    let delayed = count(&answers, Kind::Delayed);
    let passed = count(&answers, Kind::Ok) + delayed;
    ctx.check(
        aborted + passed == answers.len(),
        "every request either aborted locally or served",
        || kinds(&answers),
    )?;
    // Binomial(120, 0.2): mean 24, sd 4.4; 8..=45 is beyond 3.5 sd either side.
    ctx.check(
        (8..=45).contains(&aborted),
        &format!("{aborted}/120 aborted with 503 (expected about 24)"),
        || format!("{aborted} aborts is far from 20% of 120"),
    )?;
    let mut lat: Vec<_> = answers
        .iter()
        .filter(|a| a.kind == Kind::Delayed)
        .map(|a| a.latency)
        .collect();
    lat.sort_unstable();
    ctx.check(
        (1..=35).contains(&delayed),
        &format!(
            "{delayed}/120 held {:.0} ms before going upstream (expected about 10)",
            super::record::percentile(&lat, 50).as_secs_f64() * 1e3
        ),
        || format!("{delayed} delayed requests is far from 10% of 120"),
    )?;
    let hits = ctx.upstream_total();
    ctx.check(
        hits == passed as u64,
        &format!("aborted requests never reached the upstream ({hits} hits = {passed} served)"),
        || format!("upstream hits {hits}, served {passed}"),
    )
}

/// Step 6: alternate 503/200 is hidden by one retry each; a dead upstream is not hammered.
pub fn retries(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    ctx.upstream.alternate(503, 200);
    ctx.say
        .say("upstream: 503, 200, 503, 200, … (half of all calls fail)");
    ctx.say.strip_start("flaky");
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(ctx.get("/flaky/feed")?);
        ctx.pause(Duration::from_millis(20))?;
    }
    ctx.say.strip_end();
    let hits = ctx.upstream_total();
    ctx.check(
        count(&answers, Kind::Ok) == 10,
        "clients saw 200 every time",
        || kinds(&answers),
    )?;
    ctx.check(
        hits == 20,
        "the upstream saw 20 calls for 10 requests: each 503 was retried once by Envoy's router",
        || format!("upstream hits {hits}"),
    )?;
    ctx.upstream.always(503);
    ctx.say.say(
        "upstream down: max_retries 3 could make 4 calls per request; the retry budget \
         (50% of requests, at least 10 per worker per 10 s) caps them",
    );
    ctx.say.strip_start("down");
    let mut down = Vec::new();
    for _ in 0..20 {
        down.push(ctx.get("/flaky/feed")?);
        ctx.pause(Duration::from_millis(10))?;
    }
    ctx.say.strip_end();
    let down_hits = ctx.upstream_total() - hits;
    ctx.check(
        count(&down, Kind::UpstreamError) == 20,
        "clients see the upstream's 503 (no breaker on this policy)",
        || kinds(&down),
    )?;
    ctx.check(
        down_hits < 80,
        &format!("the budget held it to {down_hits} upstream calls for 20 requests, not 80"),
        || format!("{down_hits} upstream calls: retries were not capped"),
    )
}

/// Step 7: gRPC UNAVAILABLE trips the payments breaker; clients then get breakwater's own
/// trailers-only `grpc-status: 14` and the service is not called.
pub fn grpc(ctx: &mut Ctx<'_>) -> Result<(), DemoError> {
    const METHOD: &str = "/payments.Payments/Charge";
    ctx.say.strip_start("healthy");
    let mut healthy = 0;
    for _ in 0..3 {
        healthy += usize::from(ctx.grpc(METHOD)?.0 == Kind::Ok);
    }
    ctx.say.strip_end();
    ctx.check(healthy == 3, "healthy calls return grpc-status 0", || {
        format!("{healthy} of 3 succeeded")
    })?;
    ctx.upstream.set_grpc(GrpcReply::Trailers(14));
    ctx.say
        .say("payments: every call now ends with grpc-status 14 UNAVAILABLE (in trailers)");
    ctx.say.strip_start("failing");
    let mut failures = 0;
    let mut opened = false;
    for _ in 0..20 {
        match ctx.grpc(METHOD)?.0 {
            Kind::UpstreamError => failures += 1,
            Kind::CircuitOpen => {
                opened = true;
                break;
            }
            _ => {}
        }
    }
    ctx.say.strip_end();
    ctx.check(
        opened,
        &format!("the payments breaker opened after {failures} failed calls (threshold 3)"),
        || format!("{failures} failed calls and no rejection in 20"),
    )?;
    ctx.pause(Duration::from_millis(250))?;
    let before = ctx.upstream_total();
    ctx.say.strip_start("open");
    let mut rejected = Vec::new();
    for _ in 0..10 {
        rejected.push(ctx.grpc(METHOD)?);
        ctx.pause(Duration::from_millis(10))?;
    }
    ctx.say.strip_end();
    let all = rejected.iter().all(|(kind, rsp)| {
        *kind == Kind::CircuitOpen
            && rsp.as_ref().is_some_and(|r| {
                r.http_status == 200 && r.grpc_status == Some(14) && r.trailers_only
            })
    });
    ctx.check(
        all,
        "all 10 rejected: HTTP 200, trailers-only, grpc-status 14 UNAVAILABLE",
        || format!("{rejected:?}"),
    )?;
    if let Some(message) = rejected
        .iter()
        .find_map(|(_, r)| r.as_ref().and_then(|r| r.grpc_message.clone()))
    {
        ctx.say.say(&format!("grpc-message: {message:?}"));
    }
    let spared = ctx.upstream_total() - before;
    ctx.check(
        spared == 0,
        "the payments service was not called (0 hits)",
        || format!("the upstream saw {spared} calls while the breaker was open"),
    )
}
