//! Ctrl-C as a flag, so the demo stops the way it stops on any other path.
//!
//! The demo owns an Envoy process and an upstream server through Drop guards. A default SIGINT
//! would end the process at once and skip every `Drop`, leaving Envoy running when it was not
//! in the terminal's process group (e.g. `kill -INT <demo pid>`). So SIGINT, SIGTERM and SIGHUP
//! only set a flag here; every request, pause and wait of the demo checks it and returns
//! [`super::DemoError::Interrupted`], the stack unwinds normally and the guards stop both
//! processes. The handler does nothing but an atomic store (async-signal-safe).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Routes SIGINT, SIGTERM and SIGHUP to the flag. Call once, early in `main`.
#[allow(unsafe_code)]
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; signal(2)
        // touches no memory of ours.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}

/// Whether a stop was requested (Ctrl-C, SIGTERM, SIGHUP).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Sets the flag as a signal would (tests, and `--serve` when Envoy dies on its own).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Sleeps for `duration` in small steps; `false` if a stop was requested meanwhile.
pub fn sleep(duration: Duration) -> bool {
    !envoy_kit::poll::wait_until_step(duration, Duration::from_millis(20), requested)
}
