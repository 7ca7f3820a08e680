//! Bounded polling: the only way the real-Envoy tests wait for something.
//!
//! A real Envoy and a real upstream change state on their own threads; a test
//! that sleeps a fixed time is either slow or flaky. These helpers check a
//! condition in small steps up to a deadline and report whether it came true,
//! so a test fails with a message instead of hanging.

use std::time::{Duration, Instant};

/// The step between two checks unless a caller picks another.
pub const DEFAULT_STEP: Duration = Duration::from_millis(20);

/// Checks `condition` every [`DEFAULT_STEP`] until it returns `true` or
/// `timeout` has passed; returns whether it came true. Checks at least once.
pub fn wait_until(timeout: Duration, condition: impl FnMut() -> bool) -> bool {
    wait_until_step(timeout, DEFAULT_STEP, condition)
}

/// [`wait_until`] with an explicit step.
pub fn wait_until_step(
    timeout: Duration,
    step: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(step.min(deadline - now));
    }
}

/// Polls `probe` until it yields `Some`, or `timeout` passes (then `None`).
pub fn poll_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    wait_until(timeout, || {
        found = probe();
        found.is_some()
    });
    found
}
