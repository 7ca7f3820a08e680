//! [`calls_per_request`]: what the steady path costs a host store, counted, not timed.

use std::sync::Arc;

use component_host::{
    Decision, GuestEngine, HostStore, Outcome, OutcomeKind, StoreCalls, StoreLink, request,
};

const MS: u64 = 1_000_000;

/// Store calls per request on the steady path: `instances` shared-state engines of `config`
/// over `store`, each serving 1,000 requests a second (`GET /`, each answered 200 two
/// milliseconds later) for 10 s of virtual time after a second of warm-up, timers on time.
/// Every request must proceed. Errors are traps or a configuration error.
pub fn calls_per_request(store: HostStore, config: &str, instances: u64) -> Result<f64, String> {
    let calls = Arc::new(StoreCalls::default());
    let mut engines = Vec::new();
    for i in 0..instances {
        let link = StoreLink {
            store: store.clone(),
            calls: calls.clone(),
        };
        let e = GuestEngine::shared(link, config, 0, Some(i + 1))
            .map_err(|e| format!("trap: {e:?}"))?
            .map_err(|e| format!("config: {e:?}"))?;
        engines.push(e);
    }
    let trap = |e: wasmtime::Error| format!("trap: {e:?}");
    let mut deadlines = Vec::new();
    for e in &mut engines {
        deadlines.push(e.poll_timeout().map_err(trap)?);
    }
    let mut in_flight: Vec<Vec<(u64, u64)>> = vec![Vec::new(); engines.len()];
    let mut requests = 0u64;
    let mut before = None;
    for ms in 0..11_000u64 {
        let now = ms * MS;
        if ms == 1_000 {
            before = Some(calls.snapshot());
        }
        for (k, e) in engines.iter_mut().enumerate() {
            if now >= deadlines[k] {
                e.handle_timeout(now).map_err(trap)?;
                while e.poll_action().map_err(trap)?.is_some() {}
                deadlines[k] = e.poll_timeout().map_err(trap)?;
            }
            let (due, later): (Vec<_>, Vec<_>) =
                in_flight[k].iter().partition(|(at, _)| *at <= now);
            in_flight[k] = later;
            for (_, ticket) in due {
                let ok = Outcome {
                    kind: OutcomeKind::Response,
                    http_status: Some(200),
                    grpc_status: None,
                };
                e.on_response(now, ticket, ok, 1).map_err(trap)?;
            }
            match e.on_request(now, &request("GET", "/")).map_err(trap)? {
                Decision::Proceed(p) => in_flight[k].push((now + 2 * MS, p.ticket)),
                other => return Err(format!("the steady path proceeds, got {other:?}")),
            }
            if ms >= 1_000 {
                requests += 1;
            }
        }
    }
    let made = calls.snapshot().calls() - before.map_or(0, |b| b.calls());
    Ok(made as f64 / requests as f64)
}
