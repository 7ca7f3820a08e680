//! The shared runtime behind the blocking client calls.
//!
//! One small multi-thread runtime per test binary (2 workers, the machine has
//! 2 cores), created on first use. `block_on` may be called from many test
//! threads at once, and also from inside another runtime (a `#[tokio::test]`):
//! there it moves to a scoped helper thread, since blocking a runtime's own
//! thread on another runtime panics.

use std::future::Future;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("host-tests-client")
            .enable_all()
            .build()
            // Creating a runtime fails only if the OS refuses threads or an epoll fd.
            .expect("the client runtime starts (threads and epoll available)")
    })
}

/// Runs `future` to completion on the shared client runtime, blocking the
/// calling thread; safe to call from inside async code.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| runtime().block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    } else {
        runtime().block_on(future)
    }
}

/// Spawns `future` on the shared runtime (used to run many requests at once).
pub(crate) fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}
