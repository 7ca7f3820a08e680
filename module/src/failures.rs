//! Hooks that failed: a panic caught at the FFI boundary.
//!
//! A caught panic lets the request through (the hook returns Continue) and is counted here,
//! process-wide; the configurations' metric reports export the count as
//! `envoy_breakwater_module_hook_failures_total`, and each failure is logged at error with the
//! hook's name.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::abi::{LogLevel, log};

static FAILURES: AtomicU64 = AtomicU64::new(0);

/// Counts and logs a failed hook.
pub(crate) fn record(hook: &str) {
    FAILURES.fetch_add(1, Ordering::Relaxed);
    log(
        LogLevel::Error,
        &format!("breakwater: hook {hook} failed (a caught panic); the request was let through"),
    );
}

/// Failed hooks so far, in this process.
pub(crate) fn count() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}
