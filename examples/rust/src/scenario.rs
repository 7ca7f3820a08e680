//! The story the example tells, in real time against the local upstream, and what it saw.
//!
//! Nothing here is scripted on a virtual clock: the upstream really fails and recovers, the
//! breaker's 200 ms open time really passes, the bulkhead really holds callers while the
//! upstream is slow, and an injected delay really waits for the driver's timer. Waits are
//! bounded, so a broken engine fails the run instead of hanging it.

use std::time::Duration;

use tokio::time::Instant;

use crate::component::{BreakerState, Runtime};
use crate::guard::{Answer, Guard};
use crate::upstream::Upstream;

/// The configuration: the Envoy filter's JSON document, unchanged. `/inventory` is guarded by
/// a breaker (3 consecutive failures, 200 ms open, one probe) and a bulkhead (2 at once, 1
/// waiting up to a second); `/reports` gets a 50 ms injected delay on every request.
pub const CONFIG: &str = r#"{
  "service": "shop",
  "environment": "testing",
  "policies": [
    { "name": "inventory", "match": { "path_prefix": "/inventory" },
      "breaker": { "failure_threshold": 3, "recovery_timeout_ms": 200, "recovery_jitter": 0.0,
                   "half_open_max_calls": 1, "half_open_success_threshold": 1 },
      "bulkhead": { "max_concurrent": 2, "queue_size": 1, "queue_timeout_ms": 1000 } },
    { "name": "reports", "match": { "path_prefix": "/reports" },
      "injection": { "enabled": true, "delay_rate": 1.0, "delay_ms": 50 } }
  ]
}"#;

/// The breaker's open time in [`CONFIG`].
pub const OPEN_TIME: Duration = Duration::from_millis(200);

/// What happened, step by step.
#[derive(Debug)]
pub struct Report {
    /// Two calls while the upstream is healthy.
    pub healthy: Vec<Answer>,
    /// Three calls while it answers 503.
    pub failing: Vec<Answer>,
    /// The call right after: the breaker's local reply.
    pub while_open: Answer,
    /// Upstream requests made by that call (0: rejected locally).
    pub upstream_calls_while_open: u64,
    /// Calls rejected locally while waiting for the open time to pass (upstream healed).
    pub rejected_while_waiting: u32,
    /// The first call that reached the healed upstream: the probe.
    pub probe: Answer,
    /// How long after the third failing call began the probe went out (at least the open time).
    pub probe_after: Duration,
    /// Four concurrent calls while the upstream takes 300 ms, in the order they were made.
    pub burst: Vec<Answer>,
    /// The most requests the upstream served at once during the burst.
    pub upstream_max_inflight: usize,
    /// A call held by the injected delay, and how long it took in all.
    pub delayed: (Answer, Duration),
    /// The breaker's transitions (from, to, reason), oldest first.
    pub transitions: Vec<(BreakerState, BreakerState, String)>,
    /// The status document at the end.
    pub status_json: String,
}

/// Runs the story with the component at `runtime`; prints each step when `narrate` is set.
pub async fn run(runtime: &Runtime, narrate: bool) -> wasmtime::Result<Report> {
    let say = |line: String| {
        if narrate {
            println!("{line}");
        }
    };
    let upstream = Upstream::start().await?;
    let guard = Guard::new(runtime, CONFIG, &upstream.url(), Duration::from_secs(2))?;
    let path = "/inventory/42";

    let mut healthy = Vec::new();
    for _ in 0..2 {
        healthy.push(guard.get(path).await?);
    }
    say(format!("healthy upstream:  {}", list(&healthy)));

    upstream.fail_with(503);
    let mut failing = Vec::new();
    let mut opened = Instant::now();
    for _ in 0..3 {
        // The breaker opens inside the third call (at its outcome): the open time starts later.
        opened = Instant::now();
        failing.push(guard.get(path).await?);
    }
    say(format!("failing upstream:  {}", list(&failing)));

    let hits = upstream.hits();
    let while_open = guard.get(path).await?;
    let upstream_calls_while_open = upstream.hits() - hits;
    say(format!(
        "breaker open:      {while_open} (upstream calls: {upstream_calls_while_open})"
    ));

    upstream.fail_with(200);
    let mut rejected_while_waiting = 0;
    let probe = loop {
        if opened.elapsed() > OPEN_TIME * 25 {
            return Err(wasmtime::format_err!(
                "no probe within {:?}",
                OPEN_TIME * 25
            ));
        }
        let hits = upstream.hits();
        let answer = guard.get(path).await?;
        if upstream.hits() > hits {
            break answer;
        }
        rejected_while_waiting += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let probe_after = opened.elapsed();
    say(format!(
        "recovered:         {probe} after {probe_after:.0?} ({rejected_while_waiting} rejected meanwhile)"
    ));

    upstream.slow_down(Duration::from_millis(300));
    let (a, b, c, d) = tokio::join!(
        guard.get(path),
        guard.get(path),
        guard.get(path),
        guard.get(path)
    );
    let burst = vec![a?, b?, c?, d?];
    let upstream_max_inflight = upstream.max_inflight();
    upstream.slow_down(Duration::ZERO);
    say(format!(
        "4 at once (slow):  {} (the upstream served at most {upstream_max_inflight} at once)",
        list(&burst)
    ));

    let started = Instant::now();
    let delayed = (guard.get("/reports/daily").await?, started.elapsed());
    say(format!(
        "injected delay:    {} after {:.0?}",
        delayed.0, delayed.1
    ));

    let transitions = guard
        .transitions()?
        .into_iter()
        .map(|t| (t.from, t.to, t.reason))
        .collect::<Vec<_>>();
    for (from, to, reason) in &transitions {
        say(format!("transition:        {from:?} -> {to:?} ({reason})"));
    }
    let status_json = guard.status_json()?;
    say(format!("status:            {status_json}"));
    Ok(Report {
        healthy,
        failing,
        while_open,
        upstream_calls_while_open,
        rejected_while_waiting,
        probe,
        probe_after,
        burst,
        upstream_max_inflight,
        delayed,
        transitions,
        status_json,
    })
}

fn list(answers: &[Answer]) -> String {
    let texts: Vec<String> = answers.iter().map(ToString::to_string).collect();
    texts.join(", ")
}
