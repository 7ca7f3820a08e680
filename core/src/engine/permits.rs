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

use crate::bulkhead::{BulkheadConfig, Counts, Holders};
use crate::store::{SharedStore, StoreError};
use crate::time::Nanos;

use super::shared::{MAX_CAS_ATTEMPTS, SyncStats};

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
    /// Permits this engine holds, spares included: the truth its row is set to on every write.
    held: u32,
    /// Of them, permits its requests use (the rest are spares).
    in_use: u32,
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
            in_use: 0,
            queued: 0,
            cached: Counts::default(),
            // Both grow to the table's size on first use and keep it: nothing allocates in the
            // steady state, and a policy that never sees traffic holds no room for 128 rows.
            table: Holders::default(),
            buf: Vec::new(),
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
            let free = config
                .max_concurrent
                .saturating_sub(others_held.saturating_add(self.held));
            let spare = self.held > self.in_use;
            let (held, queued) = match op {
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
                Op::AcquireQueued if spare => (self.held, self.queued.saturating_sub(1)),
                Op::AcquireQueued if free > 0 => (self.held + 1, self.queued.saturating_sub(1)),
                Op::Enqueue if others_queued.saturating_add(self.queued) < config.queue_size => {
                    (self.held, self.queued + 1)
                }
                Op::Acquire | Op::AcquireQueued | Op::Enqueue => return Some(false),
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
                    if matches!(op, Op::Acquire | Op::AcquireQueued) {
                        self.in_use += 1;
                    }
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
            Op::Release => self.held = self.held.min(self.in_use + spares),
            Op::Dequeue => self.queued = self.queued.saturating_sub(1),
            _ => {}
        }
        None
    }

    /// The tick: refreshes the cached totals, and re-stamps this engine's row when it must
    /// (it disagrees with what this engine holds, it has not been stamped for a quarter lease,
    /// or a stale row waits to be reclaimed).
    /// Whether this worker holds permits (in use or spare) or queue places: its row must be
    /// kept alive and its spares given back, so a sync has work to do.
    pub(crate) fn holds_any(&self) -> bool {
        self.held > 0 || self.in_use > 0 || self.queued > 0
    }

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
        // Every spare goes back each sync interval, so none idles longer than that while other
        // workers may need it (the write below happens because the row now disagrees).
        self.held = self.in_use;
        if self
            .table
            .needs_heartbeat(self.id, self.held, self.queued, now, self.lease)
        {
            let _ = self.write(store, stats, now, Op::Heartbeat, config);
        }
    }
}
