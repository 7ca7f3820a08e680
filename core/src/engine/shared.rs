//! Breaker and bulkhead state kept in a [`SharedStore`], exact where it must be and cheap where
//! it can be.
//!
//! Envoy gives each worker thread its own VM; shared data is the only common memory and every
//! access takes a process-wide lock and copies the value. So the engine splits the work:
//!
//! - **Exact, through compare-and-swap**: anything that must not be exceeded or lost — taking a
//!   half-open probe lease, the open → half-open step, recording a failure or a probe result,
//!   taking and returning bulkhead permits. Read, apply the pure transition, write back on the
//!   read version; on a mismatch another worker won the race, so read again and retry.
//! - **Cached, refreshed at least every `sync_interval_ms`** (default 100 ms): the snapshot a
//!   worker consults to admit while closed or to reject while open. A breaker opened by another
//!   worker is therefore seen within one interval. Refreshes happen on the tick, or lazily on the
//!   next request when no tick came.
//! - **Batched**: successes while the breaker is closed with no failure streak are counted locally
//!   and flushed with the next write or refresh. A success after a failure streak is written at
//!   once (it must reset the consecutive count for every worker).
//!
//! In steady state (closed, no failures) a request therefore costs no shared-data call; each
//! worker pays one read (plus one write when it has successes to flush) per interval.
//!
//! **When the CAS loop gives up** (after [`MAX_CAS_ATTEMPTS`] lost races, or a store error), the
//! engine errs on the safe side and loses nothing: a probe or a bulkhead permit is refused (the
//! caps are never exceeded); outcomes stay pending locally and are written with the next tick,
//! and a bulkhead release counts locally at once and the next write or heartbeat puts the
//! shared row right (bulkheads live in `permits`, one row per engine, so that the permits of a
//! VM that dies are reclaimed after a lease). Every give-up is counted (`cas_give_ups`), every lost race too
//! (`cas_retries`).

use crate::breaker::{BreakerConfig, Event, ProbePermit, Snapshot, Transition};
use crate::store::SharedStore;
use crate::time::Nanos;

/// Attempts of one compare-and-swap loop before giving up.
pub const MAX_CAS_ATTEMPTS: u32 = 8;

/// Counters of the shared-state machinery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Writes refused because another worker wrote first (then retried).
    pub cas_retries: u64,
    /// Loops that gave up (see the module docs for what happens then).
    pub cas_give_ups: u64,
}

/// Outcomes not yet written to the shared snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) successes: u32,
    pub(crate) slow_successes: u32,
    pub(crate) failures: u32,
    pub(crate) slow_failures: u32,
    /// When the latest pending success finished.
    pub(crate) latest_success: Nanos,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.successes == 0 && self.failures == 0
    }

    fn event(&self) -> Event {
        Event::Flush {
            successes: self.successes,
            slow_successes: self.slow_successes,
            failures: self.failures,
            slow_failures: self.slow_failures,
            latest_success: self.latest_success,
        }
    }
}

/// One breaker's view of its shared snapshot.
#[derive(Debug)]
pub(crate) struct BreakerCell {
    key: String,
    pub(crate) cached: Snapshot,
    fetched_at: Option<Nanos>,
    pub(crate) pending: Pending,
    /// Probe outcomes whose write gave up; retried on the tick.
    pending_probes: Vec<Event>,
    buf: Vec<u8>,
}

/// The result of a write: the admission (for an acquire) and up to two transitions (pending
/// outcomes flushed first can trip the breaker before the event itself applies).
pub(crate) type Applied = (Option<crate::breaker::Admission>, [Option<Transition>; 2]);

impl BreakerCell {
    /// Reads (or creates) the snapshot under `key`.
    pub(crate) fn new<S: SharedStore>(
        key: String,
        config: &BreakerConfig,
        store: &S,
        now: Nanos,
    ) -> Self {
        let mut cell = BreakerCell {
            key,
            cached: Snapshot::new(config),
            fetched_at: None,
            pending: Pending::default(),
            // Grown on first use and kept (no allocation in the steady state); an idle policy
            // holds no spare room.
            pending_probes: Vec::new(),
            buf: Vec::new(),
        };
        cell.refresh(config, store, now);
        cell
    }

    /// True when the cache is older than `interval`.
    pub(crate) fn stale(&self, now: Nanos, interval: Nanos) -> bool {
        self.fetched_at
            .is_none_or(|t| now.saturating_since(t) >= interval || now < t)
    }

    /// Reads the shared snapshot into the cache; a missing or unreadable one (another version, or
    /// another window shape after a config change) is replaced by a fresh snapshot.
    pub(crate) fn refresh<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        store: &S,
        now: Nanos,
    ) {
        match store.get(&self.key, &mut self.buf) {
            Some(cas) => match Snapshot::decode(config, &self.buf) {
                Some(s) => self.cached = s,
                None => {
                    let fresh = Snapshot::new(config);
                    fresh.encode(config, &mut self.buf);
                    // If another worker replaced it first, their fresh snapshot is as good.
                    let _ = store.set(&self.key, &self.buf, Some(cas));
                    self.cached = fresh;
                }
            },
            None => {
                let fresh = Snapshot::new(config);
                fresh.encode(config, &mut self.buf);
                let _ = store.set(&self.key, &self.buf, None);
                self.cached = fresh;
            }
        }
        self.fetched_at = Some(now);
    }

    /// Applies `event` (after any pending outcomes) to the shared snapshot with CAS.
    /// `None` when the loop gave up; `event` is then *not* applied, pending outcomes stay pending.
    pub(crate) fn apply<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        store: &S,
        now: Nanos,
        event: Option<Event>,
        unit: f64,
        stats: &mut SyncStats,
    ) -> Option<Applied> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (current, cas) = match store.get(&self.key, &mut self.buf) {
                Some(cas) => (
                    Snapshot::decode(config, &self.buf).unwrap_or_else(|| Snapshot::new(config)),
                    Some(cas),
                ),
                None => (Snapshot::new(config), None),
            };
            let mut next = current;
            let mut transitions = [None, None];
            if !self.pending.is_empty() {
                transitions[0] = next
                    .apply_in_place(config, self.pending.event(), now, unit)
                    .1;
            }
            let mut admission = None;
            if let Some(e) = event {
                (admission, transitions[1]) = next.apply_in_place(config, e, now, unit);
            }
            if next == current {
                // Nothing to write (e.g. a rejection while open): the read is a refresh.
                self.cached = current;
                self.fetched_at = Some(now);
                self.pending = Pending::default();
                return Some((admission, transitions));
            }
            next.encode(config, &mut self.buf);
            let written = match cas {
                Some(_) => store.set(&self.key, &self.buf, cas),
                None => store.set(&self.key, &self.buf, None),
            };
            match written {
                Ok(()) => {
                    self.cached = next;
                    self.fetched_at = Some(now);
                    self.pending = Pending::default();
                    return Some((admission, transitions));
                }
                Err(crate::store::StoreError::CasMismatch) => stats.cas_retries += 1,
                Err(_) => break,
            }
        }
        stats.cas_give_ups += 1;
        None
    }

    /// Records an outcome to write later (batched success, or a write that gave up).
    pub(crate) fn defer(&mut self, now: Nanos, failed: bool, slow: bool) {
        let p = &mut self.pending;
        if failed {
            p.failures = p.failures.saturating_add(1);
            p.slow_failures = p.slow_failures.saturating_add(u32::from(slow));
        } else {
            p.successes = p.successes.saturating_add(1);
            p.latest_success = p.latest_success.max(now);
            p.slow_successes = p.slow_successes.saturating_add(u32::from(slow));
        }
    }

    /// Keeps a probe outcome whose write gave up, to retry on the tick.
    pub(crate) fn defer_probe(&mut self, permit: ProbePermit, failed: Option<bool>) {
        if self.pending_probes.len() < self.pending_probes.capacity() {
            self.pending_probes.push(match failed {
                Some(failed) => Event::ProbeResult { permit, failed },
                None => Event::ProbeRelease { permit },
            });
        }
        // More pending probes than slots cannot happen (one per lease); if it did, the lease
        // deadline reclaims the slot anyway.
    }

    /// The tick: writes pending outcomes and probe results, or refreshes the cache.
    /// Returns transitions caused by the flush.
    /// Whether outcomes or probe results wait to be written: a sync would write them.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.pending_probes.is_empty()
    }

    pub(crate) fn sync<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        store: &S,
        now: Nanos,
        unit: f64,
        stats: &mut SyncStats,
        out: &mut impl FnMut(Transition),
    ) {
        while let Some(&e) = self.pending_probes.last() {
            match self.apply(config, store, now, Some(e), unit, stats) {
                Some((_, ts)) => {
                    self.pending_probes.pop();
                    ts.into_iter().flatten().for_each(&mut *out);
                }
                None => return,
            }
        }
        if self.pending.is_empty() {
            self.refresh(config, store, now);
        } else if let Some((_, ts)) = self.apply(config, store, now, None, unit, stats) {
            ts.into_iter().flatten().for_each(&mut *out);
        }
    }
}
