//! The `bulkhead` resource: core's bulkhead counts ([`Counts`]) and wait queue
//! ([`WaitQueue`]) on one worker, sequenced as the engine sequences them: waiters already
//! queued go first, a released permit goes to the oldest waiter, a waiter past its deadline
//! leaves the queue.

use std::cell::RefCell;

use crate::bulkhead::{BulkheadConfig, Counts, WaitQueue};
use crate::time::Nanos;

use super::bindings::exports::breakwater::resilience::bulkhead as wit;
use super::bindings::exports::breakwater::resilience::types::ConfigError;
use super::{Component, convert};

impl wit::Guest for Component {
    type Bulkhead = BulkheadResource;
}

/// One bulkhead.
#[derive(Debug)]
pub(super) struct BulkheadResource {
    config: BulkheadConfig,
    inner: RefCell<Inner>,
}

#[derive(Debug)]
struct Inner {
    counts: Counts,
    waiters: WaitQueue,
    next_waiter: u64,
}

impl wit::GuestBulkhead for BulkheadResource {
    fn new(config: String) -> Result<Self, ConfigError> {
        let config = BulkheadConfig::from_json(&config).map_err(convert::config_error)?;
        Ok(BulkheadResource {
            inner: RefCell::new(Inner {
                counts: Counts::default(),
                waiters: WaitQueue::with_capacity(config.queue_size),
                next_waiter: 1,
            }),
            config,
        })
    }

    fn acquire(&self, now: u64) -> wit::BulkheadAdmission {
        let mut inner = self.inner.borrow_mut();
        let config = &self.config;
        if inner.waiters.is_empty()
            && let Some(next) = inner.counts.acquire(config)
        {
            inner.counts = next;
            return wit::BulkheadAdmission::Granted;
        }
        match inner.counts.enqueue(config) {
            Some(next) => {
                inner.counts = next;
                let id = inner.next_waiter;
                inner.next_waiter += 1;
                let deadline = Nanos::new(now) + Nanos::from_millis(config.queue_timeout_ms);
                inner.waiters.push(id, deadline);
                wit::BulkheadAdmission::Queued((id, deadline.as_nanos()))
            }
            None => wit::BulkheadAdmission::Full,
        }
    }

    fn release(&self) -> Vec<u64> {
        let mut inner = self.inner.borrow_mut();
        inner.counts = inner.counts.release();
        let mut woken = Vec::new();
        while let Some((id, _)) = inner.waiters.front() {
            let Some(next) = inner.counts.acquire_queued(&self.config) else {
                break;
            };
            inner.counts = next;
            inner.waiters.pop_front();
            woken.push(id);
        }
        woken
    }

    fn cancel(&self, waiter: u64) -> bool {
        let mut inner = self.inner.borrow_mut();
        let removed = inner.waiters.remove(waiter);
        if removed {
            inner.counts = inner.counts.dequeue();
        }
        removed
    }

    fn expire(&self, now: u64) -> Vec<u64> {
        let mut inner = self.inner.borrow_mut();
        let mut expired = Vec::new();
        while let Some(id) = inner.waiters.pop_expired(Nanos::new(now)) {
            inner.counts = inner.counts.dequeue();
            expired.push(id);
        }
        expired
    }

    fn next_deadline(&self) -> Option<u64> {
        self.inner
            .borrow()
            .waiters
            .next_deadline()
            .map(Nanos::as_nanos)
    }

    fn counts(&self) -> wit::BulkheadCounts {
        let c = self.inner.borrow().counts;
        wit::BulkheadCounts {
            inflight: c.inflight,
            queued: c.queued,
        }
    }
}
