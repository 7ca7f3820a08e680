//! [`Holders`]: a bulkhead's shared state as *who* holds permits, not just how many.
//!
//! A plain count of permits in use cannot survive the death of a holder: an Envoy worker VM that
//! traps while holding permits never returns them, and the VM that replaces it (Envoy's
//! `FAIL_RELOAD`) reads the same count, so the bulkhead stays that much smaller until Envoy
//! restarts. So each engine (VM) keeps its own row, `(id, held, queued, seen)`, and the cap
//! applies to the sum of the rows:
//!
//! - every write by an engine sets its own row to what it *knows* it holds, and stamps it with
//!   `now`, so a write that was lost (a CAS loop that gave up) is repaired by the next one;
//! - an engine that holds anything rewrites its row at least every quarter lease, even when idle
//!   ([`Holders::needs_heartbeat`]);
//! - a row not stamped for a whole lease belongs to an engine that is gone: whoever writes next
//!   removes it, and its permits and queue places return to the pool.
//!
//! A wall clock that jumps forward by more than a lease would make every row look stale at
//! once, so rows are only reclaimed when the table itself was written within the last lease
//! (live engines keep it fresh); after such a jump the first write just re-stamps the table.
//!
//! A store can lose the table (Redis restarted without persistence, or the key expired) while
//! engines still hold permits. The first engine that writes it again adds a marker row
//! ([`RESTORED`], holding nothing, stamped with the time of the restore): until every live
//! engine has had a sync to write its own row back, nobody may take from the table (see
//! `engine::permits`). The marker is reclaimed a lease later like any silent row; the format is
//! unchanged, so older readers see a row that holds nothing.

use crate::time::Nanos;

use super::{BulkheadConfig, Counts};

/// Most rows a table holds (engines of one bulkhead: Envoy workers, plus VMs replaced by
/// reloads until their rows expire). A full table refuses new holders: the safe side.
pub const MAX_HOLDERS: usize = 128;

/// The id of the marker row of a table written again after its store lost it. Engines draw
/// their ids at random and never this one.
pub const RESTORED: u64 = 0;

const HOLDERS_VERSION: u8 = 2;
const ROW_BYTES: usize = 24;
const HEADER_BYTES: usize = 1 + 8 + 2;

/// One engine's share of a bulkhead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    /// The engine's random identity (a new one per VM).
    pub id: u64,
    /// Permits it holds.
    pub held: u32,
    /// Places it holds in the queue.
    pub queued: u32,
    /// When it last wrote its row.
    pub seen: Nanos,
}

/// The rows of one bulkhead, as stored in shared data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holders {
    /// When any engine last wrote the table.
    pub written: Nanos,
    rows: Vec<Holder>,
}

impl Holders {
    /// An empty table with room for every row, so decoding into it never allocates.
    pub fn with_capacity() -> Holders {
        Holders {
            written: Nanos::ZERO,
            rows: Vec::with_capacity(MAX_HOLDERS),
        }
    }

    /// The rows, in no particular order.
    pub fn rows(&self) -> &[Holder] {
        &self.rows
    }

    /// Permits held and queue places taken by every engine together.
    pub fn totals(&self) -> (u32, u32) {
        self.rows.iter().fold((0u32, 0u32), |(h, q), r| {
            (h.saturating_add(r.held), q.saturating_add(r.queued))
        })
    }

    /// [`Holders::totals`] as [`Counts`].
    pub fn counts(&self) -> Counts {
        let (inflight, queued) = self.totals();
        Counts { inflight, queued }
    }

    /// Reads [`Holders::encode`]'s form into a new table (for tools and tests; the engine
    /// reuses one table with [`Holders::decode_into`]).
    pub fn decode(bytes: &[u8]) -> Option<Holders> {
        let mut table = Holders::with_capacity();
        table.decode_into(bytes).then_some(table)
    }

    /// The row of engine `id`.
    pub fn row(&self, id: u64) -> Option<&Holder> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// Removes the rows not stamped for `lease`, unless the table itself is that old (a clock
    /// that jumped forward, see the module docs). Returns how many rows went.
    pub fn reclaim(&mut self, now: Nanos, lease: Nanos) -> usize {
        if now.saturating_since(self.written) > lease {
            return 0;
        }
        let before = self.rows.len();
        self.rows.retain(|r| now.saturating_since(r.seen) <= lease);
        before - self.rows.len()
    }

    /// Whether engine `id`, which holds `held` permits and `queued` places, must write its row:
    /// the row disagrees, or the table has not been stamped for a quarter lease while the row
    /// matters (live engines keep the table fresh), or a stale row waits to be reclaimed.
    pub fn needs_heartbeat(
        &self,
        id: u64,
        held: u32,
        queued: u32,
        now: Nanos,
        lease: Nanos,
    ) -> bool {
        let quarter = Nanos::new(lease.as_nanos() / 4);
        let mine = self.row(id);
        let disagrees = match mine {
            Some(r) => (r.held, r.queued) != (held, queued),
            None => held > 0 || queued > 0,
        };
        let fresh_needed = (held > 0 || queued > 0 || !self.rows.is_empty())
            && now.saturating_since(self.written) >= quarter;
        let stale_rows = self
            .rows
            .iter()
            .any(|r| now.saturating_since(r.seen) > lease);
        disagrees || fresh_needed || stale_rows
    }

    /// Sets engine `id`'s row to `held` and `queued`, stamped `now`; an engine holding nothing
    /// has no row. `false` when the row is new and the table is full.
    pub fn set(&mut self, id: u64, held: u32, queued: u32, now: Nanos) -> bool {
        self.written = self.written.max(now);
        let position = self.rows.iter().position(|r| r.id == id);
        match (position, held == 0 && queued == 0) {
            (Some(i), true) => {
                self.rows.swap_remove(i);
                true
            }
            (Some(i), false) => {
                self.rows[i] = Holder {
                    id,
                    held,
                    queued,
                    seen: now,
                };
                true
            }
            (None, true) => true,
            (None, false) if self.rows.len() < MAX_HOLDERS => {
                self.rows.push(Holder {
                    id,
                    held,
                    queued,
                    seen: now,
                });
                true
            }
            (None, false) => false,
        }
    }

    /// Marks the table as written again at `now` after its store lost it (see the module
    /// docs); `false` when the table is full and the marker does not fit.
    pub fn mark_restored(&mut self, now: Nanos) -> bool {
        self.written = self.written.max(now);
        let mark = Holder {
            id: RESTORED,
            held: 0,
            queued: 0,
            seen: now,
        };
        match self.rows.iter().position(|r| r.id == RESTORED) {
            Some(i) => self.rows[i] = mark,
            None if self.rows.len() < MAX_HOLDERS => self.rows.push(mark),
            None => return false,
        }
        true
    }

    /// When the table was last written again after its store lost it, if its marker is still
    /// there.
    pub fn restored_at(&self) -> Option<Nanos> {
        self.row(RESTORED).map(|r| r.seen)
    }

    /// Whether one more permit fits under `config`'s cap.
    pub fn permit_free(&self, config: &BulkheadConfig) -> bool {
        self.totals().0 < config.max_concurrent
    }

    /// Whether one more queue place fits under `config`'s queue size.
    pub fn place_free(&self, config: &BulkheadConfig) -> bool {
        self.totals().1 < config.queue_size
    }

    /// Versioned binary form, written into a reusable buffer.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.push(HOLDERS_VERSION);
        buf.extend_from_slice(&self.written.as_nanos().to_le_bytes());
        buf.extend_from_slice(&(self.rows.len() as u16).to_le_bytes());
        for r in &self.rows {
            buf.extend_from_slice(&r.id.to_le_bytes());
            buf.extend_from_slice(&r.held.to_le_bytes());
            buf.extend_from_slice(&r.queued.to_le_bytes());
            buf.extend_from_slice(&r.seen.as_nanos().to_le_bytes());
        }
    }

    /// Reads [`Holders::encode`]'s form into `self`, reusing its storage; `false` (and `self`
    /// emptied) for another version, damaged bytes or more than [`MAX_HOLDERS`] rows.
    pub fn decode_into(&mut self, bytes: &[u8]) -> bool {
        self.rows.clear();
        self.written = Nanos::ZERO;
        let Some((header, mut rest)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
            return false;
        };
        let [HOLDERS_VERSION, w @ .., n0, n1] = *header else {
            return false;
        };
        let n = usize::from(u16::from_le_bytes([n0, n1]));
        if n > MAX_HOLDERS || rest.len() != n * ROW_BYTES {
            return false;
        }
        for _ in 0..n {
            let Some((row, tail)) = rest.split_first_chunk::<ROW_BYTES>() else {
                return false;
            };
            rest = tail;
            let u64_at = |i: usize| u64::from_le_bytes(row[i..i + 8].try_into().unwrap_or([0; 8]));
            let u32_at = |i: usize| u32::from_le_bytes(row[i..i + 4].try_into().unwrap_or([0; 4]));
            self.rows.push(Holder {
                id: u64_at(0),
                held: u32_at(8),
                queued: u32_at(12),
                seen: Nanos::new(u64_at(16)),
            });
        }
        self.written = Nanos::new(u64::from_le_bytes(w));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(max: u32, queue: u32) -> BulkheadConfig {
        BulkheadConfig {
            max_concurrent: max,
            queue_size: queue,
            queue_timeout_ms: 100,
        }
    }

    const LEASE: Nanos = Nanos::from_secs(10);

    #[test]
    fn the_restore_marker_holds_nothing_survives_encoding_and_expires_like_a_row() {
        let mut t = Holders::with_capacity();
        assert_eq!(t.restored_at(), None);
        assert!(t.set(7, 2, 1, Nanos::from_secs(1)));
        assert!(t.mark_restored(Nanos::from_secs(2)));
        assert!(
            t.mark_restored(Nanos::from_secs(3)),
            "marked again: one row"
        );
        assert_eq!(t.rows().len(), 2);
        assert_eq!(t.totals(), (2, 1));
        let mut buf = Vec::new();
        t.encode(&mut buf);
        let back = Holders::decode(&buf).unwrap();
        assert_eq!(back.restored_at(), Some(Nanos::from_secs(3)));
        // Engine 7 keeps its row fresh; a lease after the restore the marker goes.
        let mut t = back;
        let later = Nanos::from_secs(3) + LEASE + Nanos::from_secs(1);
        assert!(t.set(7, 2, 1, later));
        assert_eq!(t.reclaim(later, LEASE), 1);
        assert_eq!(t.restored_at(), None);
        assert_eq!(t.totals(), (2, 1));
    }

    #[test]
    fn the_cap_applies_to_the_sum_of_every_row() {
        let c = cap(3, 1);
        let mut t = Holders::with_capacity();
        assert!(t.set(1, 2, 0, Nanos::from_secs(1)));
        assert!(t.permit_free(&c));
        assert!(t.set(2, 1, 1, Nanos::from_secs(1)));
        assert!(!t.permit_free(&c));
        assert!(!t.place_free(&c));
        assert_eq!(t.totals(), (3, 1));
        // Holding nothing removes the row.
        assert!(t.set(1, 0, 0, Nanos::from_secs(2)));
        assert_eq!(t.rows().len(), 1);
        assert_eq!(t.totals(), (1, 1));
    }

    #[test]
    fn rows_of_engines_that_stopped_writing_are_reclaimed_after_a_lease() {
        let mut t = Holders::with_capacity();
        t.set(1, 4, 0, Nanos::from_secs(1)); // engine 1 dies holding 4
        t.set(2, 1, 0, Nanos::from_secs(9));
        assert_eq!(
            t.reclaim(Nanos::from_secs(11), LEASE),
            0,
            "within the lease"
        );
        t.set(2, 1, 0, Nanos::from_secs(11));
        assert_eq!(t.reclaim(Nanos::from_secs(12), LEASE), 1);
        assert_eq!(t.totals(), (1, 0));
    }

    #[test]
    fn a_clock_jump_forward_does_not_reclaim_live_rows() {
        let mut t = Holders::with_capacity();
        t.set(1, 2, 0, Nanos::from_secs(100));
        t.set(2, 2, 0, Nanos::from_secs(100));
        // Everyone's clock jumps an hour: the table itself is as stale as the rows.
        assert_eq!(t.reclaim(Nanos::from_secs(3_700), LEASE), 0);
        assert_eq!(t.totals(), (4, 0));
    }

    #[test]
    fn heartbeats_are_written_only_when_needed() {
        let mut t = Holders::with_capacity();
        let now = Nanos::from_secs(1);
        assert!(
            !t.needs_heartbeat(1, 0, 0, now, LEASE),
            "nothing held, nothing stored"
        );
        assert!(
            t.needs_heartbeat(1, 1, 0, now, LEASE),
            "a held permit has no row yet"
        );
        t.set(1, 1, 0, now);
        assert!(!t.needs_heartbeat(1, 1, 0, now + Nanos::from_secs(1), LEASE));
        assert!(
            t.needs_heartbeat(1, 1, 0, now + Nanos::from_secs(3), LEASE),
            "quarter lease"
        );
        assert!(t.needs_heartbeat(1, 0, 0, now, LEASE), "a row to remove");
    }

    #[test]
    fn a_full_table_refuses_new_holders_but_not_old_ones() {
        let mut t = Holders::with_capacity();
        for id in 0..MAX_HOLDERS as u64 {
            assert!(t.set(id, 1, 0, Nanos::from_secs(1)));
        }
        assert!(!t.set(9_999, 1, 0, Nanos::from_secs(1)));
        assert!(t.set(3, 2, 0, Nanos::from_secs(1)));
        assert!(
            t.set(9_999, 0, 0, Nanos::from_secs(1)),
            "holding nothing needs no row"
        );
    }

    #[test]
    fn encode_decode_round_trip_and_refuse_damage() {
        let mut t = Holders::with_capacity();
        t.set(7, 3, 1, Nanos::from_secs(5));
        t.set(u64::MAX, 1, 0, Nanos::from_secs(6));
        let mut buf = Vec::new();
        t.encode(&mut buf);
        let mut back = Holders::with_capacity();
        assert!(back.decode_into(&buf));
        assert_eq!(back, t);
        for cut in 0..buf.len() {
            assert!(
                !back.decode_into(&buf[..cut]),
                "a truncated table decoded ({cut} bytes)"
            );
        }
        assert!(
            !back.decode_into(&[1, 0, 0, 0, 0, 0, 0, 0, 0]),
            "version 1 counts"
        );
        let mut long = buf.clone();
        long.push(0);
        assert!(!back.decode_into(&long));
    }
}
