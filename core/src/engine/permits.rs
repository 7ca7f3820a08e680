//! One bulkhead's permits in a [`SharedStore`], kept per engine so none outlives its holder.
//!
//! The shared value is a [`Holders`] table: one row per engine (Envoy worker VM) with the
//! permits and queue places it holds, stamped with the time of its last write. The cap applies
//! to the sum of the rows. Every write sets the writer's own row to what the engine *knows* it
//! holds (its `held`/`queued` here), so a write that was lost when a CAS loop gave up is
//! repaired by the next write or heartbeat instead of being kept as a pending correction. A VM
//! that dies stops stamping its row; a lease later the next writer removes the row and its
//! permits return (see [`crate::bulkhead`] for the rules and the clock-jump guard).
//!
//! **Spare permits.** A compare-and-swap is a read and a write of shared data, Envoy's costliest
//! host call, so a permit per request would cost four calls. A bulkhead of at least
//! [`SPARE_DIVISOR`] permits therefore lets each engine keep up to `max_concurrent /
//! SPARE_DIVISOR` (at most [`MAX_SPARES`]) permits it took but does not use: taking one takes a
//! batch, returning one keeps it as a spare, and the tick of every sync interval gives every
//! spare back. In steady state a request then costs no shared-data call. The cap stays exact
//! (spares are counted in the engine's row), and spares are only taken or kept while the
//! bulkhead is at most three quarters full, so near the cap permits go one by one as without
//! spares. The price: after a burst from idle to the cap within one sync interval, a request may
//! be refused on one worker while another still holds spares taken on the way up, at most
//! `workers × max_concurrent / 32` permits until that worker's next sync. Smaller bulkheads keep
//! no spares: one compare-and-swap to take a permit, one to return it.
//!
//! An engine holding something re-stamps its row once per quarter lease when idle.
//!
//! **When the store is unavailable** (a Redis outage), a permit is granted only from the spares
//! this engine already holds (they are counted in its row, so the cap holds); anything else that
//! would take (a permit, a queue place) is refused: the bulkhead fails closed. Whatever is given
//! back counts locally at once, so this engine's own view never leaks, and its row is marked
//! out of date: the next sync that reaches the store writes the row to what the engine holds.
//!
//! **When the store lost the table** (restarted empty, or the key expired) while engines hold
//! permits, an engine that has seen the table before and finds it missing writes it again with
//! its own row and a restore marker ([`crate::bulkhead::RESTORED`]). The same happens to a
//! table with holders that nobody wrote for a whole lease (the store was unreachable that long,
//! or the clock jumped): its rows are all stale, though their engines may be alive. For the
//! `grace` that follows (two sync intervals) nobody takes from the table or reclaims a row,
//! while the sync of every live engine that holds something writes its row back; then the cap
//! is exact again and silent rows are reclaimed as usual. An engine whose host does not tick
//! within that grace can leave its permits out of the table for as long as its requests run. The spares go back locally on every sync, as always,
//! so a row that over-counts while the store is down only errs on the safe side. A row that
//! cannot be re-stamped for a whole lease looks like a dead engine's to the others, which then
//! reclaim its permits; requests that were already running here keep going (as they would on
//! a VM that was thought dead), and the row is written again once the store answers.

use crate::bulkhead::{BulkheadConfig, Counts, Holders};
use crate::store::{SharedStore, StoreError};
use crate::time::Nanos;

use super::link::StoreLink;
use super::shared::MAX_CAS_ATTEMPTS;

/// A bulkhead keeps spare permits per engine only from this many permits up, and at most
/// `max_concurrent / SPARE_DIVISOR` of them.
pub const SPARE_DIVISOR: u32 = 32;

/// The most spare permits an engine keeps.
pub const MAX_SPARES: u32 = 16;

/// Spare permits an engine may keep for a bulkhead of `config`.
pub(crate) fn spares_for(config: &BulkheadConfig) -> u32 {
    (config.max_concurrent / SPARE_DIVISOR).min(MAX_SPARES)
}

/// Whether `held + taking` permits leave the bulkhead at most three quarters full: spares are
/// taken and kept only then, so near the cap every permit is taken and returned one by one.
fn below_spare_limit(held: u32, taking: u32, config: &BulkheadConfig) -> bool {
    let limit = config.max_concurrent - config.max_concurrent / 4;
    held.saturating_add(taking) <= limit
}

/// The shortest lease of a holder's row: a VM silent this long is gone.
pub const MIN_HOLDER_LEASE: Nanos = Nanos::from_secs(10);

/// What a write asks of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Take a permit if one is free.
    Acquire,
    /// Take a permit for a waiter, leaving the queue in the same write.
    AcquireQueued,
    /// Take a queue place if one is free.
    Enqueue,
    /// Return a permit.
    Release,
    /// Leave the queue without a permit.
    Dequeue,
    /// Re-stamp the row (and reclaim stale rows), changing nothing held.
    Heartbeat,
}

/// One bulkhead's view of its shared table.
#[derive(Debug)]
pub(crate) struct BulkheadCell {
    key: String,
    id: u64,
    lease: Nanos,
    /// How long a table written again after a loss is not taken from.
    grace: Nanos,
    /// This engine has read or created the table: from then on a missing table was lost.
    known: bool,
    /// Permits this engine holds, spares included: the truth its row is set to on every write.
    held: u32,
    /// Of them, permits its requests use (the rest are spares).
    in_use: u32,
    /// Queue places this engine holds.
    queued: u32,
    /// A write gave up, so the row in the store may disagree with `held` and `queued`: the
    /// next sync must put it right, even if this engine holds nothing by then.
    row_stale: bool,
    /// Every engine's totals as last read (for gauges and the status endpoint).
    pub(crate) cached: Counts,
    table: Holders,
    buf: Vec<u8>,
}

impl BulkheadCell {
    /// Reads (or creates) the table under `key`, for the engine `id` (see [`BulkheadCell`]'s
    /// fields for `lease` and `grace`).
    pub(crate) fn new<S: SharedStore>(
        key: String,
        (id, lease, grace): (u64, Nanos, Nanos),
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
    ) -> Self {
        let mut cell = BulkheadCell {
            key,
            id,
            lease: lease.max(MIN_HOLDER_LEASE),
            grace,
            known: false,
            held: 0,
            in_use: 0,
            queued: 0,
            row_stale: false,
            cached: Counts::default(),
            // Both grow to the table's size on first use and keep it: nothing allocates in the
            // steady state, and a policy that never sees traffic holds no room for 128 rows.
            table: Holders::default(),
            buf: Vec::new(),
        };
        match link.get(store, &cell.key, &mut cell.buf, now) {
            Ok(None) => {
                cell.table.written = now;
                cell.table.encode(&mut cell.buf);
                // Every worker creates it; whoever is first wins, the others' writes are equal.
                let created = link.set(store, &cell.key, &cell.buf, None, now);
                cell.known = !matches!(created, Err(StoreError::Unavailable));
            }
            Ok(Some(_)) => {
                cell.known = true;
                cell.read_cached();
            }
            // Unknown for now: the first write creates or reads it.
            Err(_) => {}
        }
        cell
    }

    /// Decodes `buf` into the table (an unreadable value counts as empty) and caches totals.
    fn read_cached(&mut self) {
        if !self.table.decode_into(&self.buf) {
            self.table.written = Nanos::ZERO;
        }
        let (inflight, queued) = self.table.totals();
        self.cached = Counts { inflight, queued };
    }

    /// Applies `op` with compare-and-swap. `Some(true)` when applied, `Some(false)` when
    /// refused (no permit or place free, or the table is full of other holders), `None` when
    /// the loop gave up: then a release or a departure still counts locally, and the next
    /// write or heartbeat puts the row right; an acquire or enqueue is refused (the safe side).
    pub(crate) fn write<S: SharedStore>(
        &mut self,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
        op: Op,
        config: &BulkheadConfig,
    ) -> Option<bool> {
        let spares = spares_for(config);
        match op {
            // A spare permit: no shared-data call.
            Op::Acquire if self.held > self.in_use => {
                self.in_use += 1;
                return Some(true);
            }
            // Keep the permit as a spare while there is room for one and the bulkhead is far
            // from its cap; else write below.
            Op::Release => {
                self.in_use = self.in_use.saturating_sub(1);
                let far = below_spare_limit(self.cached.inflight, 0, config);
                if far && self.held.saturating_sub(self.in_use) <= spares {
                    return Some(true);
                }
            }
            _ => {}
        }
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Ok(cas) = link.get(store, &self.key, &mut self.buf, now) else {
                break;
            };
            if cas.is_none() {
                // Missing (never written, or lost by the store): written again from this
                // engine's row, created only if still absent.
                self.buf.clear();
            }
            self.read_cached();
            let marked = self.mark_restored(cas.is_none(), now);
            let restoring = self
                .table
                .restored_at()
                .is_some_and(|t| now >= t && now.saturating_since(t) < self.grace);
            if !restoring {
                self.table.reclaim(now, self.lease);
            }
            let (held, queued, granted) = match self.next_row(op, config, restoring) {
                Some((held, queued)) => (held, queued, true),
                // A refusal that marked the table still writes it, so the grace starts now
                // for every engine.
                None if marked => (self.held, self.queued, false),
                None => return Some(false),
            };
            if !self.table.set(self.id, held, queued, now) {
                // A new row in a full table: refuse what would take, but what gives back still
                // counts here (a later write, once a row is free, puts the table right).
                (self.held, self.queued) = (self.held.min(held), self.queued.min(queued));
                return Some(false);
            }
            self.table.encode(&mut self.buf);
            match link.set(store, &self.key, &self.buf, cas, now) {
                Ok(()) => {
                    if granted && matches!(op, Op::Acquire | Op::AcquireQueued) {
                        self.in_use += 1;
                    }
                    (self.held, self.queued) = (held, queued);
                    self.row_stale = false;
                    self.known = true;
                    let (inflight, queued) = self.table.totals();
                    self.cached = Counts { inflight, queued };
                    return Some(granted);
                }
                Err(StoreError::CasMismatch) => link.stats.cas_retries += 1,
                Err(_) => break,
            }
        }
        link.stats.cas_give_ups += 1;
        self.row_stale = true;
        match op {
            Op::Release => self.held = self.held.min(self.in_use + spares),
            Op::Dequeue => self.queued = self.queued.saturating_sub(1),
            _ => {}
        }
        None
    }

    /// Marks the table just read as restored when the store lost it (`missing`, and this engine
    /// has seen it before) or nobody wrote it for a whole lease while it had holders (the store
    /// was unreachable that long, or the clock jumped): in both cases live engines must write
    /// their rows back before anyone takes from it or reclaims a row. Whether it marked.
    fn mark_restored(&mut self, missing: bool, now: Nanos) -> bool {
        let lost = missing && self.known;
        let silent = !missing
            && self.table.totals() != (0, 0)
            && now.saturating_since(self.table.written) > self.lease;
        (lost || silent) && self.table.mark_restored(now)
    }

    /// This engine's row after `op` on the table just read, or `None` when `op` is refused
    /// (no permit or place free, or the table is `restoring`).
    fn next_row(&self, op: Op, config: &BulkheadConfig, restoring: bool) -> Option<(u32, u32)> {
        let spares = spares_for(config);
        let (all_held, all_queued) = self.table.totals();
        let (row_held, row_queued) = self
            .table
            .row(self.id)
            .map_or((0, 0), |r| (r.held, r.queued));
        let others_held = all_held.saturating_sub(row_held);
        let others_queued = all_queued.saturating_sub(row_queued);
        let free = config
            .max_concurrent
            .saturating_sub(others_held.saturating_add(self.held));
        let spare = self.held > self.in_use;
        Some(match op {
            // A permit this engine holds as a spare is its own to use.
            Op::AcquireQueued if spare => (self.held, self.queued.saturating_sub(1)),
            Op::Acquire | Op::AcquireQueued | Op::Enqueue if restoring => return None,
            // Take one for this request and, far from the cap, a batch of spares.
            Op::Acquire if free > 0 => {
                let total = others_held.saturating_add(self.held);
                let batch = if below_spare_limit(total, 1 + spares, config) {
                    spares.min(free - 1)
                } else {
                    0
                };
                (self.held + 1 + batch, self.queued)
            }
            Op::AcquireQueued if free > 0 => (self.held + 1, self.queued.saturating_sub(1)),
            Op::Enqueue if others_queued.saturating_add(self.queued) < config.queue_size => {
                (self.held, self.queued + 1)
            }
            Op::Acquire | Op::AcquireQueued | Op::Enqueue => return None,
            // `in_use` already went down: give back what exceeds the spares allowed (all of
            // them near the cap).
            Op::Release => {
                let keep = if below_spare_limit(all_held, 0, config) {
                    spares
                } else {
                    0
                };
                (self.held.min(self.in_use + keep), self.queued)
            }
            Op::Dequeue => (self.held, self.queued.saturating_sub(1)),
            Op::Heartbeat => (self.held, self.queued),
        })
    }

    /// Whether this worker holds permits (in use or spare) or queue places, or its row may be
    /// out of date: its row must be kept alive (or put right) and its spares given back, so a
    /// sync has work to do.
    pub(crate) fn holds_any(&self) -> bool {
        self.held > 0 || self.in_use > 0 || self.queued > 0 || self.row_stale
    }

    /// The tick: refreshes the cached totals, gives every spare back, and re-stamps this
    /// engine's row when it must (it disagrees with what this engine holds, it has not been
    /// stamped for a quarter lease, a stale row waits to be reclaimed, or the store lost the
    /// table while this engine holds something).
    pub(crate) fn sync<S: SharedStore>(
        &mut self,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
        config: &BulkheadConfig,
    ) {
        // Every spare goes back each sync interval, so none idles longer than that while other
        // workers may need it (the write below happens because the row now disagrees). While
        // the store is unavailable they go back locally: the row over-counts until the store
        // answers, the safe side.
        self.held = self.in_use;
        match link.get(store, &self.key, &mut self.buf, now) {
            Ok(Some(_)) => {
                self.known = true;
                self.read_cached();
            }
            Ok(None) => {
                self.table.decode_into(&[]);
                self.cached = Counts::default();
            }
            Err(_) => {
                self.row_stale = true;
                return;
            }
        }
        if self
            .table
            .needs_heartbeat(self.id, self.held, self.queued, now, self.lease)
        {
            let _ = self.write(store, link, now, Op::Heartbeat, config);
        } else {
            self.row_stale = false;
        }
    }
}
