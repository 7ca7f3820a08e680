//! [`StoreLink`]: the engine's one way to its [`SharedStore`], which counts what failed and
//! leaves an unavailable store alone for a while.
//!
//! Over Envoy's shared data a call never fails for want of a network. Over Redis it can, and
//! each failed call may cost the host a connect or read timeout: an engine that retried on
//! every request during an outage would add that timeout to every request. So after a call
//! fails with [`StoreError::Unavailable`] the link answers `Unavailable` itself, without calling
//! the store, until one `retry` (the sync interval) has passed; then the next call (usually the
//! tick's) tries the store again. An outage thus costs at most about one failed call per sync
//! interval per engine, and the engine's paths treat "unavailable" the same way whether the
//! store or the link said it (see `shared` and `permits`).

use crate::store::{Cas, SharedStore, StoreError};
use crate::time::Nanos;

use super::shared::SyncStats;

/// The engine's link to its store: counters, and when the store last failed.
#[derive(Debug)]
pub(crate) struct StoreLink {
    /// Counters of the shared-state machinery (exported by the adapters).
    pub(crate) stats: SyncStats,
    /// When a call last failed with `Unavailable`; none while the store answers.
    down_at: Option<Nanos>,
    /// How long after a failure the link waits before calling the store again.
    retry: Nanos,
}

impl StoreLink {
    /// A link that waits `retry` after a failure.
    pub(crate) fn new(retry: Nanos) -> Self {
        StoreLink {
            stats: SyncStats::default(),
            down_at: None,
            retry,
        }
    }

    /// Whether the link would call the store at `now` (it is not waiting after a failure). A
    /// clock that stepped back before the failure ends the wait.
    pub(crate) fn reachable(&self, now: Nanos) -> bool {
        self.down_at
            .is_none_or(|t| now < t || now.saturating_since(t) >= self.retry)
    }

    /// Notes how a call ended: a failure starts the wait, an answer ends it.
    fn note<T>(&mut self, now: Nanos, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match r {
            Err(StoreError::CasMismatch) => {
                self.down_at = None;
                Err(StoreError::CasMismatch)
            }
            Err(_) => {
                self.stats.store_failures += 1;
                self.down_at = Some(now);
                Err(StoreError::Unavailable)
            }
            Ok(v) => {
                self.down_at = None;
                Ok(v)
            }
        }
    }

    /// [`SharedStore::get`], unless the store is being left alone. A store that answers a read
    /// with a version mismatch is broken: that counts as unavailable.
    pub(crate) fn get<S: SharedStore>(
        &mut self,
        store: &S,
        key: &str,
        buf: &mut Vec<u8>,
        now: Nanos,
    ) -> Result<Option<Cas>, StoreError> {
        if !self.reachable(now) {
            return Err(StoreError::Unavailable);
        }
        let r = store.get(key, buf).map_err(|_| StoreError::Unavailable);
        self.note(now, r)
    }

    /// [`SharedStore::set`], unless the store is being left alone.
    pub(crate) fn set<S: SharedStore>(
        &mut self,
        store: &S,
        key: &str,
        value: &[u8],
        cas: Option<Cas>,
        now: Nanos,
    ) -> Result<(), StoreError> {
        if !self.reachable(now) {
            return Err(StoreError::Unavailable);
        }
        let r = store.set(key, value, cas);
        self.note(now, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_failure_keeps_the_store_alone_for_one_retry_then_it_is_called_again() {
        let store = MemoryStore::new();
        let mut link = StoreLink::new(Nanos::from_millis(100));
        let mut buf = Vec::new();
        store.set_unavailable(true);
        let t0 = Nanos::from_secs(1);
        assert_eq!(
            link.get(&store, "k", &mut buf, t0),
            Err(StoreError::Unavailable)
        );
        assert_eq!(link.stats.store_failures, 1);
        store.set_unavailable(false);
        // Within the retry nothing reaches the store, and nothing more is counted.
        let calls = store.calls();
        let soon = t0 + Nanos::from_millis(99);
        assert_eq!(
            link.set(&store, "k", b"v", None, soon),
            Err(StoreError::Unavailable)
        );
        assert_eq!(store.calls(), calls);
        assert_eq!(link.stats.store_failures, 1);
        // A clock that stepped back behind the failure does not wait for ever.
        assert!(link.reachable(Nanos::from_millis(10)));
        // Then the store is called and answers.
        let later = t0 + Nanos::from_millis(100);
        assert_eq!(link.set(&store, "k", b"v", None, later), Ok(()));
        assert_eq!(link.get(&store, "k", &mut buf, later), Ok(Some(1)));
        assert!(link.reachable(later));
    }

    #[test]
    fn a_version_mismatch_is_an_answer_not_an_outage() {
        let store = MemoryStore::new();
        let mut link = StoreLink::new(Nanos::from_millis(100));
        store.set("k", b"v", None).unwrap();
        let now = Nanos::from_secs(1);
        assert_eq!(
            link.set(&store, "k", b"w", None, now),
            Err(StoreError::CasMismatch)
        );
        assert!(link.reachable(now));
        assert_eq!(link.stats.store_failures, 0);
    }
}
