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
//! Cost: taking and returning a permit is one compare-and-swap each (a read and a write), as
//! before; an engine holding something re-stamps its row once per quarter lease when idle.

use crate::bulkhead::{BulkheadConfig, Counts, Holders};
use crate::store::{SharedStore, StoreError};
use crate::time::Nanos;

use super::shared::{MAX_CAS_ATTEMPTS, SyncStats};

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
    /// Permits this engine holds: the truth its row is set to on every write.
    held: u32,
    /// Queue places this engine holds.
    queued: u32,
    /// Every engine's totals as last read (for gauges and the status endpoint).
    pub(crate) cached: Counts,
    table: Holders,
    buf: Vec<u8>,
}

impl BulkheadCell {
    /// Reads (or creates) the table under `key`, for the engine `id`.
    pub(crate) fn new<S: SharedStore>(
        key: String,
        id: u64,
        lease: Nanos,
        store: &S,
        now: Nanos,
    ) -> Self {
        let mut cell = BulkheadCell {
            key,
            id,
            lease: lease.max(MIN_HOLDER_LEASE),
            held: 0,
            queued: 0,
            cached: Counts::default(),
            table: Holders::with_capacity(),
            buf: Vec::with_capacity(16 + 24 * crate::bulkhead::MAX_HOLDERS),
        };
        if store.get(&cell.key, &mut cell.buf).is_none() {
            cell.table.written = now;
            cell.table.encode(&mut cell.buf);
            // Every worker creates it; whoever is first wins, the others' writes are equal.
            let _ = store.set(&cell.key, &cell.buf, None);
        } else {
            cell.read_cached();
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
        stats: &mut SyncStats,
        now: Nanos,
        op: Op,
        config: &BulkheadConfig,
    ) -> Option<bool> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let cas = store.get(&self.key, &mut self.buf);
            self.read_cached();
            self.table.reclaim(now, self.lease);
            let (all_held, all_queued) = self.table.totals();
            let (row_held, row_queued) = self
                .table
                .row(self.id)
                .map_or((0, 0), |r| (r.held, r.queued));
            let others_held = all_held.saturating_sub(row_held);
            let others_queued = all_queued.saturating_sub(row_queued);
            let permit_free = others_held.saturating_add(self.held) < config.max_concurrent;
            let (held, queued) = match op {
                Op::Acquire if permit_free => (self.held + 1, self.queued),
                Op::AcquireQueued if permit_free => (self.held + 1, self.queued.saturating_sub(1)),
                Op::Enqueue if others_queued.saturating_add(self.queued) < config.queue_size => {
                    (self.held, self.queued + 1)
                }
                Op::Acquire | Op::AcquireQueued | Op::Enqueue => return Some(false),
                Op::Release => (self.held.saturating_sub(1), self.queued),
                Op::Dequeue => (self.held, self.queued.saturating_sub(1)),
                Op::Heartbeat => (self.held, self.queued),
            };
            if !self.table.set(self.id, held, queued, now) {
                // A new row in a full table: refuse what would take, but what gives back still
                // counts here (a later write, once a row is free, puts the table right).
                (self.held, self.queued) = (self.held.min(held), self.queued.min(queued));
                return Some(false);
            }
            self.table.encode(&mut self.buf);
            match store.set(&self.key, &self.buf, cas) {
                Ok(()) => {
                    (self.held, self.queued) = (held, queued);
                    let (inflight, queued) = self.table.totals();
                    self.cached = Counts { inflight, queued };
                    return Some(true);
                }
                Err(StoreError::CasMismatch) => stats.cas_retries += 1,
                Err(_) => break,
            }
        }
        stats.cas_give_ups += 1;
        match op {
            Op::Release => self.held = self.held.saturating_sub(1),
            Op::Dequeue => self.queued = self.queued.saturating_sub(1),
            _ => {}
        }
        None
    }

    /// The tick: refreshes the cached totals, and re-stamps this engine's row when it must
    /// (it disagrees with what this engine holds, it has not been stamped for a quarter lease,
    /// or a stale row waits to be reclaimed).
    pub(crate) fn sync<S: SharedStore>(
        &mut self,
        store: &S,
        stats: &mut SyncStats,
        now: Nanos,
        config: &BulkheadConfig,
    ) {
        if store.get(&self.key, &mut self.buf).is_none() {
            return;
        }
        self.read_cached();
        if self
            .table
            .needs_heartbeat(self.id, self.held, self.queued, now, self.lease)
        {
            let _ = self.write(store, stats, now, Op::Heartbeat, config);
        }
    }
}
