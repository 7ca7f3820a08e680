//! Time: `proxy_get_current_time_nanoseconds`, `proxy_set_tick_period_milliseconds`,
//! and the WASI clocks.
//!
//! Every clock the guest can read answers from the [`World`]'s scripted clock:
//! the proxy-wasm call, and WASI `clock_time_get` (Rust's `SystemTime::now()`
//! and `Instant::now()` on wasip1) through the clocks given to the WASI
//! context. So no test depends on real time and none needs to sleep.
//!
//! `proxy_set_tick_period_milliseconds` arms the worker's tick: the next tick
//! is due one period after the call, then every period after each tick;
//! 0 disarms it. [`Envoy::advance`](super::Envoy::advance) fires due ticks in
//! time order across workers; [`Worker::tick`](super::Worker::tick) fires one now.

use std::time::Duration;

use wasmtime::{Linker, Result};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use super::abi::status;
use super::memory::{Ctx, write_u64};
use super::state::HostState;
use super::world::World;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut caller: Ctx<'_>, ptr: i32| -> Result<i32> {
            let now = caller.data().world.now_nanos();
            write_u64(&mut caller, ptr, now)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut caller: Ctx<'_>, period: i32| -> Result<i32> {
            let state = caller.data_mut();
            let period = period as u32;
            state.tick_period_ms = period;
            state.next_tick_nanos = (period > 0).then(|| {
                state
                    .world
                    .now_nanos()
                    .saturating_add(u64::from(period) * 1_000_000)
            });
            Ok(status::OK)
        },
    )?;
    Ok(())
}

/// WASI's realtime clock, read from the world.
#[derive(Debug)]
pub(crate) struct WorldWallClock(pub(crate) World);

impl HostWallClock for WorldWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.now_nanos())
    }
}

/// WASI's monotonic clock, read from the world (never goes back).
#[derive(Debug)]
pub(crate) struct WorldMonotonicClock(pub(crate) World);

impl HostMonotonicClock for WorldMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.lock().monotonic_nanos
    }
}
