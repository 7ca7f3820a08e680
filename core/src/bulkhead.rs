//! Bulkhead: a cap on concurrent calls, with a bounded FIFO queue whose waits have deadlines.
//!
//! A bulkhead keeps one slow dependency from soaking up every connection and worker of the
//! caller (resilience4j's `SemaphoreBulkhead`, Polly's bulkhead). Beyond `max_concurrent` calls,
//! up to `queue_size` wait in arrival order for at most `queue_timeout_ms`; the rest are refused
//! at once, and a waiter whose deadline passes is refused then — nothing waits forever.
//!
//! The counts that must be exact across workers are a tiny snapshot advanced by pure functions,
//! so the engine can keep them in shared data and update them with compare-and-swap: for one
//! process [`Counts`] (in flight, queued); across Envoy's worker VMs [`Holders`], the same
//! counts kept per engine, so that what a VM that died was holding can be reclaimed after a
//! lease instead of shrinking the bulkhead for good. The waiters themselves ([`WaitQueue`]) stay with the worker that
//! holds the paused request, since only that worker can resume it. Release is idempotent at the
//! count level (it saturates at zero), and the engine holds each permit as a flag it clears
//! exactly once, so a permit can never be returned twice.

mod holders;

pub use holders::{Holder, Holders, MAX_HOLDERS, RESTORED};

use std::collections::VecDeque;

use crate::time::Nanos;
use crate::validate::Problems;

/// The `bulkhead` section of a policy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct BulkheadConfig {
    /// Calls allowed in flight at once, across every worker.
    pub max_concurrent: u32,
    /// Calls allowed to wait for a slot; 0 refuses at once when full.
    pub queue_size: u32,
    /// Longest wait in the queue before a 429.
    pub queue_timeout_ms: u64,
}

impl Default for BulkheadConfig {
    /// # Default
    /// 100 concurrent calls, no queue, 1 s queue timeout (used once a queue is configured).
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: 100,
            queue_size: 0,
            queue_timeout_ms: 1_000,
        }
    }
}

/// Most waiters a queue may hold (the queue is preallocated).
pub const MAX_QUEUE: u32 = 10_000;

impl BulkheadConfig {
    /// Records every invalid value under the JSON path `at`.
    pub fn validate(&self, at: &str, p: &mut Problems) {
        p.positive(at, "max_concurrent", self.max_concurrent.into());
        p.at_most(at, "queue_size", self.queue_size.into(), MAX_QUEUE.into());
        if self.queue_size > 0 {
            p.positive(at, "queue_timeout_ms", self.queue_timeout_ms);
        }
        p.at_most(at, "queue_timeout_ms", self.queue_timeout_ms, 3_600_000);
    }
}

/// The shared counts of one bulkhead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Permits held.
    pub inflight: u32,
    /// Calls waiting in some worker's queue.
    pub queued: u32,
}

const COUNTS_VERSION: u8 = 1;

impl Counts {
    /// Takes a permit if one is free.
    pub fn acquire(self, config: &BulkheadConfig) -> Option<Counts> {
        (self.inflight < config.max_concurrent).then_some(Counts {
            inflight: self.inflight + 1,
            ..self
        })
    }

    /// Takes a permit for a queued waiter, leaving the queue in the same step.
    pub fn acquire_queued(self, config: &BulkheadConfig) -> Option<Counts> {
        (self.inflight < config.max_concurrent).then_some(Counts {
            inflight: self.inflight + 1,
            queued: self.queued.saturating_sub(1),
        })
    }

    /// Gives a permit back (saturating: a count never goes below zero).
    pub fn release(self) -> Counts {
        Counts {
            inflight: self.inflight.saturating_sub(1),
            ..self
        }
    }

    /// Joins the queue if it has room.
    pub fn enqueue(self, config: &BulkheadConfig) -> Option<Counts> {
        (self.queued < config.queue_size).then_some(Counts {
            queued: self.queued + 1,
            ..self
        })
    }

    /// Leaves the queue without a permit (timed out, or the client went away).
    pub fn dequeue(self) -> Counts {
        Counts {
            queued: self.queued.saturating_sub(1),
            ..self
        }
    }

    /// Versioned binary form, written into a reusable buffer.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.push(COUNTS_VERSION);
        buf.extend_from_slice(&self.inflight.to_le_bytes());
        buf.extend_from_slice(&self.queued.to_le_bytes());
    }

    /// Reads [`Counts::encode`]'s form; `None` for another version or damaged bytes.
    pub fn decode(bytes: &[u8]) -> Option<Counts> {
        let [COUNTS_VERSION, rest @ ..] = bytes else {
            return None;
        };
        let (a, b) = rest.split_first_chunk::<4>()?;
        let b: &[u8; 4] = b.try_into().ok()?;
        Some(Counts {
            inflight: u32::from_le_bytes(*a),
            queued: u32::from_le_bytes(*b),
        })
    }
}

/// One worker's waiters, oldest first, each with its deadline.
#[derive(Debug, Default)]
pub struct WaitQueue {
    waiters: VecDeque<(u64, Nanos)>,
}

impl WaitQueue {
    /// An empty queue with room for `capacity` waiters, allocated once.
    pub fn with_capacity(capacity: u32) -> Self {
        WaitQueue {
            waiters: VecDeque::with_capacity(capacity.min(MAX_QUEUE) as usize),
        }
    }

    /// Appends waiter `id` with `deadline`.
    pub fn push(&mut self, id: u64, deadline: Nanos) {
        self.waiters.push_back((id, deadline));
    }

    /// The oldest waiter.
    pub fn front(&self) -> Option<(u64, Nanos)> {
        self.waiters.front().copied()
    }

    /// Removes and returns the oldest waiter.
    pub fn pop_front(&mut self) -> Option<(u64, Nanos)> {
        self.waiters.pop_front()
    }

    /// Removes waiter `id` wherever it is; true if it was there.
    pub fn remove(&mut self, id: u64) -> bool {
        match self.waiters.iter().position(|(w, _)| *w == id) {
            Some(i) => {
                self.waiters.remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes and returns one waiter whose deadline is at or before `now`, oldest first.
    pub fn pop_expired(&mut self, now: Nanos) -> Option<u64> {
        let i = self.waiters.iter().position(|(_, d)| *d <= now)?;
        self.waiters.remove(i).map(|(id, _)| id)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.waiters.iter().map(|(_, d)| *d).min()
    }

    /// Waiters held.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(max: u32, queue: u32) -> BulkheadConfig {
        BulkheadConfig {
            max_concurrent: max,
            queue_size: queue,
            queue_timeout_ms: 100,
        }
    }

    #[test]
    fn cap_then_queue_then_refuse() {
        let c = cfg(2, 1);
        let mut n = Counts::default();
        n = n.acquire(&c).unwrap();
        n = n.acquire(&c).unwrap();
        assert_eq!(n.acquire(&c), None);
        n = n.enqueue(&c).unwrap();
        assert_eq!(n.enqueue(&c), None);
        n = n.release();
        n = n.acquire_queued(&c).unwrap();
        assert_eq!(
            n,
            Counts {
                inflight: 2,
                queued: 0
            }
        );
    }

    #[test]
    fn release_never_goes_negative() {
        assert_eq!(Counts::default().release().dequeue(), Counts::default());
    }

    #[test]
    fn counts_round_trip_and_reject_damage() {
        let n = Counts {
            inflight: 7,
            queued: 3,
        };
        let mut buf = Vec::new();
        n.encode(&mut buf);
        assert_eq!(Counts::decode(&buf), Some(n));
        assert_eq!(Counts::decode(&buf[..8]), None);
        assert_eq!(Counts::decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn queue_is_fifo_and_expires_by_deadline() {
        let mut q = WaitQueue::with_capacity(4);
        q.push(1, Nanos::from_millis(30));
        q.push(2, Nanos::from_millis(10));
        q.push(3, Nanos::from_millis(20));
        assert_eq!(q.next_deadline(), Some(Nanos::from_millis(10)));
        assert_eq!(q.pop_expired(Nanos::from_millis(5)), None);
        assert_eq!(q.pop_expired(Nanos::from_millis(25)), Some(2));
        assert_eq!(q.pop_expired(Nanos::from_millis(25)), Some(3));
        assert!(q.remove(1));
        assert!(!q.remove(1));
        assert!(q.is_empty());
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut p = Problems::new();
        BulkheadConfig {
            max_concurrent: 0,
            queue_size: 20_000,
            queue_timeout_ms: 0,
        }
        .validate("policies[0].bulkhead", &mut p);
        let e = p.finish().unwrap_err().to_string();
        assert_eq!(
            e,
            "policies[0].bulkhead.max_concurrent: must be at least 1, got 0\n\
             policies[0].bulkhead.queue_size: must be at most 10000, got 20000\n\
             policies[0].bulkhead.queue_timeout_ms: must be at least 1, got 0"
        );
    }

    proptest! {
        /// Whatever the order of acquires and releases, the cap holds and counts never wrap.
        #[test]
        fn cap_holds(max in 1u32..8, ops in prop::collection::vec(0u8..3, 0..200)) {
            let c = cfg(max, 4);
            let mut n = Counts::default();
            let mut held = 0u32;
            for o in ops {
                match o {
                    0 => if let Some(m) = n.acquire(&c) { n = m; held += 1; },
                    1 => if held > 0 { n = n.release(); held -= 1; },
                    _ => { n = n.release(); held = held.saturating_sub(1); }
                }
                prop_assert!(n.inflight <= max);
                prop_assert_eq!(n.inflight, held);
            }
        }
    }
}
