//! fleet: several OS processes, each one instance of the shared-state component over one Redis,
//! driven step by step by a test.
//!
//! The exactness claims of the store (a bulkhead cap, a probe limit, a breaker seen open) are
//! about engines that share nothing but the store, so the tests run them in separate processes:
//! separate address spaces, separate connections, real concurrency where the test asks for it
//! ([`Worker::send`] to all, then [`Worker::recv`] from all). Virtual time still drives every
//! engine: each command carries its `now`, so a test says exactly when each process acts.
//!
//! A test binary cannot name a binary of another package, so a worker is the test binary itself,
//! started again to run one ignored test ([`Worker::spawn`]) that calls [`serve`] when
//! [`WORKER_ENV`] holds its [`Spec`]. The protocol is one line per command and per reply (see
//! [`serve`]).
//!
//! [`steady::calls_per_request`] counts what the steady path costs a store (any host store).

mod protocol;
pub mod steady;
mod worker;

pub use protocol::serve;
pub use worker::{Spec, WORKER_ENV, Worker};
