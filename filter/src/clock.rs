//! The host clock and how often the filter reads it.
//!
//! Every read of Envoy's clock is a host call, so the filter reads it once per request start
//! and per tick, and keeps the latest reading ([`recent`]) for the request ends it is precise enough for; the tick
//! period is fine only while requests wait on deadlines. The root context (ticks) and the
//! worker (request ends) both use this module, so it sits below both.

use std::cell::Cell;
use std::time::UNIX_EPOCH;

use breakwater_core::{Config, Nanos};
use proxy_wasm::hostcalls;

/// Finest tick used when something waits on a deadline (bulkhead queues, injected delays, and
/// permits freed on another worker): it bounds how late such a request resumes.
pub const FINE_TICK: Nanos = Nanos::from_millis(10);

/// The tick period for `config`: the sync interval, or [`FINE_TICK`] when requests may wait on a
/// deadline.
pub fn tick_period(config: &Config) -> Nanos {
    let waits = config.policies.iter().any(|p| {
        p.bulkhead.as_ref().is_some_and(|b| b.queue_size > 0)
            || p.injection.as_ref().is_some_and(|i| i.can_delay())
    });
    if waits {
        config.sync_interval.min(FINE_TICK)
    } else {
        config.sync_interval
    }
}

/// Whether a request's end reads the host clock, or the latest reading ([`recent`]) serves.
///
/// A host call costs Envoy a few µs of CPU per request (BENCHMARKS.md), the same order as all
/// the rest of breakwater's work. A request reads the clock when it arrives; its end reads it
/// again only when some breaker's slow-call threshold is under 100 tick periods
/// ([`tick_period`]), where a stale reading could misjudge a call by over 1 %.
///
/// Otherwise the end is stamped with the latest reading on the worker: the start of the latest
/// request or the latest tick, whichever came last. Under load that is microseconds old, and
/// never more than a tick period. The error only shifts an outcome earlier: a breaker opened that
/// much earlier probes that much earlier, an outcome lands in the rate window's previous slice at
/// worst, and across workers a success may look older than it is (so it resets no newer streak)
/// or, where the other worker's clock is staler still, newer: the same order of inexactness
/// as the batching of outcomes between syncs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockUse {
    /// Read the clock when a request ends.
    pub end: bool,
}

impl ClockUse {
    /// What `config` needs.
    pub fn new(config: &Config) -> ClockUse {
        let tick = tick_period(config).as_nanos();
        let fine_timing = config.policies.iter().any(|p| {
            p.breaker.as_ref().is_some_and(|b| {
                Nanos::from_millis(b.slow_call_duration_ms).as_nanos() < tick.saturating_mul(100)
            })
        });
        ClockUse { end: fine_timing }
    }
}

thread_local! {
    /// The latest clock reading of this VM (a VM runs on one thread).
    static LAST_READ: Cell<Nanos> = const { Cell::new(Nanos::ZERO) };
}

/// The host's clock as engine time (nanoseconds since the Unix epoch; Envoy's clock is a wall
/// clock, and the engine's saturating arithmetic absorbs steps back).
pub fn now() -> Nanos {
    let nanos = hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let now = Nanos::new(nanos);
    LAST_READ.with(|last| last.set(now));
    now
}

/// The latest reading of [`now`] on this VM, without a host call. Every request start and
/// every tick reads the clock, so it is at most one tick period old; a request that ends sees
/// no earlier time than it started at (unless the host clock itself stepped back, which the
/// engine absorbs).
pub fn recent() -> Nanos {
    LAST_READ.with(Cell::get)
}
