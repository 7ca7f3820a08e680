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
//! caps are never exceeded); outcomes and probe results stay pending locally and are written
//! with the next tick, and a bulkhead release counts locally at once and the next write or
//! heartbeat puts the shared row right (bulkheads live in `permits`, one row per engine, so that
//! the permits of a VM that dies are reclaimed after a lease). Every give-up is counted
//! (`cas_give_ups`), every lost race too (`cas_retries`).
//!
//! **When the store is unavailable** (a Redis outage; [`StoreError::Unavailable`] from a read or
//! a write, counted in `store_failures`; the engine's [`super::link`] then leaves the store alone
//! for a sync interval) the rules above are all it takes, plus two about reads:
//!
//! - an unreadable snapshot is *not* a missing one: the breaker keeps its cached view (an open
//!   breaker stays open, a closed one admits) and tries again on a later tick, so an outage can
//!   never reset a breaker for the fleet;
//! - a snapshot that is missing (never written, or lost by a store that restarted empty or let
//!   the key expire) is written back from this engine's cached view, created only if still
//!   absent: the first engine to notice restores what it last saw, an open breaker included.
//!
//! While the store cannot be written, no probe is granted (the probe cap needs the store), so an
//! open breaker stays open until the store answers again.
//!
//! [`StoreError::Unavailable`]: crate::store::StoreError::Unavailable

use crate::breaker::{BreakerConfig, Event, MAX_PROBES, ProbePermit, Snapshot, Transition};
use crate::store::{SharedStore, StoreError};
use crate::time::Nanos;

use super::link::StoreLink;

/// Attempts of one compare-and-swap loop before giving up.
pub const MAX_CAS_ATTEMPTS: u32 = 8;

/// Counters of the shared-state machinery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Writes refused because another worker wrote first (then retried).
    pub cas_retries: u64,
    /// Loops that gave up (see the module docs for what happens then).
    pub cas_give_ups: u64,
    /// Store calls that failed for another reason than a lost race: the store was unavailable
    /// (see the module docs for what the engine does then).
    pub store_failures: u64,
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
    /// Calls rejected from the cached view (the breaker's `rejected` statistic).
    pub(crate) rejections: u32,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.successes == 0 && self.failures == 0 && self.rejections == 0
    }

    fn event(&self) -> Event {
        Event::Flush {
            successes: self.successes,
            slow_successes: self.slow_successes,
            failures: self.failures,
            slow_failures: self.slow_failures,
            latest_success: self.latest_success,
            rejections: self.rejections,
        }
    }
}

/// One breaker's view of its shared snapshot.
#[derive(Debug)]
pub(crate) struct BreakerCell {
    key: String,
    /// A keyed breaker's generation (`engine::keyed`): written before the snapshot, so a value
    /// left by an evicted key (older) reads as fresh, and a newer one marks this cell
    /// [`BreakerCell::superseded`]. `None` (every unkeyed breaker): the snapshot alone.
    tag: Option<u64>,
    /// The store holds a newer key's breaker under this cell's store key: this cell must not
    /// write, and its owner drops it (see `engine::keyed`).
    pub(crate) superseded: bool,
    pub(crate) cached: Snapshot,
    fetched_at: Option<Nanos>,
    pub(crate) pending: Pending,
    /// Probe outcomes whose write gave up; retried on the tick.
    pending_probes: Vec<Event>,
    buf: Vec<u8>,
    /// The health mark this engine's last write changed (`Some(true)`: now unhealthy), for the
    /// engine to notice once.
    pub(crate) health_change: Option<bool>,
}

/// What a cell found in the store (returned by value and matched at once: boxing the snapshot
/// would allocate on every read).
#[allow(clippy::large_enum_variant)]
enum Read {
    Snapshot(Snapshot),
    /// Damaged, another shape, or (keyed) an evicted key's: replaced by a fresh snapshot.
    Unreadable,
    /// (Keyed) a newer key's: left alone.
    Superseded,
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
        link: &mut StoreLink,
        now: Nanos,
    ) -> Self {
        BreakerCell::tagged(key, None, config, store, link, now)
    }

    /// [`BreakerCell::new`] for a keyed breaker of generation `tag` (see the field's docs).
    pub(crate) fn tagged<S: SharedStore>(
        key: String,
        tag: Option<u64>,
        config: &BreakerConfig,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
    ) -> Self {
        let mut cell = BreakerCell {
            key,
            tag,
            superseded: false,
            cached: Snapshot::new(config),
            fetched_at: None,
            pending: Pending::default(),
            // Grown on first use and kept (no allocation in the steady state); an idle policy
            // holds no spare room.
            pending_probes: Vec::new(),
            buf: Vec::new(),
            health_change: None,
        };
        cell.refresh(config, store, link, now);
        cell
    }

    /// True when the cache is older than `interval`.
    pub(crate) fn stale(&self, now: Nanos, interval: Nanos) -> bool {
        self.fetched_at
            .is_none_or(|t| now.saturating_since(t) >= interval || now < t)
    }

    /// Reads the shared snapshot into the cache. An unreadable one (another version, or another
    /// window shape after a config change) is replaced by a fresh snapshot; a missing one is
    /// restored from the cache (see the module docs); when the store is unavailable the cache
    /// stays as it is, and counts as fresh until the next interval (the store is tried again
    /// then, not on every request).
    pub(crate) fn refresh<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
    ) {
        match link.get(store, &self.key, &mut self.buf, now) {
            Ok(Some(cas)) => match self.decode(config) {
                Read::Snapshot(s) => self.cached = s,
                Read::Superseded => self.superseded = true,
                Read::Unreadable => {
                    let fresh = Snapshot::new(config);
                    self.encode(&fresh, config);
                    // If another worker replaced it first, their fresh snapshot is as good.
                    let _ = link.set(store, &self.key, &self.buf, Some(cas), now);
                    self.cached = fresh;
                }
            },
            Ok(None) => {
                let cached = self.cached;
                self.encode(&cached, config);
                // Created only if still absent: another engine that restored it first wins,
                // and the next refresh reads theirs.
                let _ = link.set(store, &self.key, &self.buf, None, now);
            }
            Err(_) => {}
        }
        self.fetched_at = Some(now);
    }

    /// Applies `event` (after any pending outcomes) to the shared snapshot with CAS.
    /// `None` when the loop gave up; `event` is then *not* applied, pending outcomes stay pending.
    pub(crate) fn apply<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
        event: Option<Event>,
        unit: f64,
    ) -> Option<Applied> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (current, cas) = match link.get(store, &self.key, &mut self.buf, now) {
                Ok(Some(cas)) => match self.decode(config) {
                    Read::Snapshot(s) => (s, Some(cas)),
                    Read::Unreadable => (Snapshot::new(config), Some(cas)),
                    Read::Superseded => {
                        // Not ours to write: the owner drops this cell on its next sync.
                        self.superseded = true;
                        return None;
                    }
                },
                // Missing: restored from the cache, created only if still absent.
                Ok(None) => (self.cached, None),
                Err(_) => break,
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
            if next == current && cas.is_some() {
                // Nothing to write (e.g. a rejection while open): the read is a refresh.
                self.cached = current;
                self.fetched_at = Some(now);
                self.pending = Pending::default();
                return Some((admission, transitions));
            }
            self.encode(&next, config);
            match link.set(store, &self.key, &self.buf, cas, now) {
                Ok(()) => {
                    if next.health.unhealthy != current.health.unhealthy {
                        self.health_change = Some(next.health.unhealthy);
                    }
                    self.cached = next;
                    self.fetched_at = Some(now);
                    self.pending = Pending::default();
                    return Some((admission, transitions));
                }
                Err(StoreError::CasMismatch) => link.stats.cas_retries += 1,
                Err(_) => break,
            }
        }
        link.stats.cas_give_ups += 1;
        None
    }

    /// Reads the value in `buf`: this cell's snapshot, or why not.
    fn decode(&self, config: &BreakerConfig) -> Read {
        let Some(tag) = self.tag else {
            return Snapshot::decode(config, &self.buf).map_or(Read::Unreadable, Read::Snapshot);
        };
        let Some((head, rest)) = self.buf.split_first_chunk::<8>() else {
            return Read::Unreadable;
        };
        match u64::from_le_bytes(*head).cmp(&tag) {
            std::cmp::Ordering::Greater => Read::Superseded,
            std::cmp::Ordering::Less => Read::Unreadable,
            std::cmp::Ordering::Equal => {
                Snapshot::decode(config, rest).map_or(Read::Unreadable, Read::Snapshot)
            }
        }
    }

    /// Writes `snapshot` (behind the tag, if any) into `buf`.
    fn encode(&mut self, snapshot: &Snapshot, config: &BreakerConfig) {
        snapshot.encode(config, &mut self.buf);
        if let Some(tag) = self.tag {
            self.buf.splice(0..0, tag.to_le_bytes());
        }
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
        // At most one per probe slot: more cannot be in flight (one per lease). If it happened,
        // the lease deadline would reclaim the slot anyway.
        if self.pending_probes.len() < MAX_PROBES {
            self.pending_probes.push(match failed {
                Some(failed) => Event::ProbeResult { permit, failed },
                None => Event::ProbeRelease { permit },
            });
        }
    }

    /// Whether outcomes or probe results wait to be written: a sync would write them.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.pending_probes.is_empty()
    }

    /// The tick: writes pending probe results and outcomes, or refreshes the cache.
    /// Transitions caused by the flush go to `out`.
    pub(crate) fn sync<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
        unit: f64,
        out: &mut impl FnMut(Transition),
    ) {
        while let Some(&e) = self.pending_probes.last() {
            match self.apply(config, store, link, now, Some(e), unit) {
                Some((_, ts)) => {
                    self.pending_probes.pop();
                    ts.into_iter().flatten().for_each(&mut *out);
                }
                None => {
                    // Not written: keep the cached view for another interval.
                    self.fetched_at = Some(now);
                    return;
                }
            }
        }
        if self.pending.is_empty() {
            self.refresh(config, store, link, now);
        } else if let Some((_, ts)) = self.apply(config, store, link, now, None, unit) {
            ts.into_iter().flatten().for_each(&mut *out);
        } else {
            self.fetched_at = Some(now);
        }
    }
}
