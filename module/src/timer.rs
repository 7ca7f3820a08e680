//! The timer thread: the module's own clock driver, one per filter configuration.
//!
//! Envoy gives HTTP filters no timer, and a held request has no route timeout yet (the router
//! has not seen it): queue deadlines and injected delays are breakwater's own. So each
//! configuration runs one thread that sleeps until the engine's
//! [`poll_timeout`](breakwater_core::Engine::poll_timeout), calls
//! [`handle_timeout`](breakwater_core::Engine::handle_timeout), and parks the resulting actions
//! with their streams ([`crate::held`]), which wakes them through Envoy's scheduler. A stream
//! that holds a request with an earlier deadline than the thread's next wake-up notifies it.
//!
//! The thread sleeps on a condition variable of the engine's own mutex, so "check the deadline,
//! then sleep" cannot miss a notification. Every [`REPORT_PERIOD`] it also asks Envoy's main
//! thread (through the configuration's scheduler) to write metrics and logs: Envoy's stats must
//! not be touched from a thread Envoy does not know.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use breakwater_core::Nanos;

use crate::clock;
use crate::config::Shared;

/// How often metrics are written and transitions logged (on Envoy's main thread).
pub(crate) const REPORT_PERIOD: Nanos = Nanos::from_millis(100);

/// Starts the thread of one configuration; it runs until the configuration's `shutdown`.
pub(crate) fn spawn(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("breakwater-timer".to_owned())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    let mut next_report = clock::now();
    loop {
        let mut core = shared.lock();
        if core.shutdown {
            return;
        }
        let now = clock::now();
        let step = catch_unwind(AssertUnwindSafe(|| {
            core.engine.handle_timeout(now);
            core.dispatch(now);
        }));
        if step.is_err() {
            crate::failures::record("timer");
        }
        let report = now >= next_report;
        if report {
            next_report = now + REPORT_PERIOD;
        }
        let due = core.engine.poll_timeout().min(next_report);
        core.timer_due = due;
        if report && let Some(reporter) = &shared.reporter {
            // Outside the lock: Envoy's configuration scheduler holds the configuration for the
            // duration of the commit, so if Envoy dropped it meanwhile, its destruction (and
            // `FilterConfig::drop`, which takes this lock) runs here, on this thread.
            drop(core);
            reporter.commit(0);
            core = shared.lock();
            if core.shutdown {
                return;
            }
        }
        // `timer_due`, not `due`: a stream may have brought it forward while the lock was free.
        let wait = Duration::from_nanos(core.timer_due.saturating_since(clock::now()).as_nanos());
        drop(
            shared
                .wake
                .wait_timeout(core, wait)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }
}
