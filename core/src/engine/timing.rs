//! Durations the engine measures for the adapters' histograms: how long an admitted request ran
//! until its response, and how long a queued request waited for a bulkhead permit.
//!
//! Core reads no clock: both ends of each duration are `now` values the adapter already passes
//! in (the admission in `on_request` or `handle_timeout`, the response in `on_response`), so core
//! only subtracts. The samples wait in a bounded queue, like the engine's events, until the
//! adapter drains them with [`super::Engine::poll_timing`] on its tick or report: a request pays
//! for a push into a queue that grows on first use to the traffic between two drains and is
//! reused from then on (no allocation in the steady state), never for a metric call to the host.

use std::collections::VecDeque;

use crate::time::Nanos;

/// Samples kept between two drains; when full, the oldest is dropped. An adapter that drains
/// every 100 ms keeps every sample up to about 40 000 measured requests a second per engine; a
/// host that never drains (the component) costs a bounded queue and nothing more.
pub const MAX_TIMINGS: usize = 4096;

/// Which duration a [`Timing`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingKind {
    /// From the moment breakwater admitted the request (forwarded it, at once or after a
    /// delay or a queue) to its response. Requests that end without a response (the client
    /// went away) are not measured.
    Request,
    /// From the moment a request joined the bulkhead queue to the moment it got a permit or
    /// its queue deadline passed. Requests that never queued are not measured.
    QueueWait,
}

/// One measured duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Index of the policy in the configuration.
    pub policy: usize,
    /// What was measured.
    pub kind: TimingKind,
    /// How long it took.
    pub duration: Nanos,
}

/// The bounded queue of samples not yet drained (empty, and unallocated, until the first).
#[derive(Debug, Default)]
pub(crate) struct Timings {
    queue: VecDeque<Timing>,
}

impl Timings {
    /// Records a sample; the oldest goes when [`MAX_TIMINGS`] are waiting.
    pub(crate) fn record(&mut self, policy: usize, kind: TimingKind, duration: Nanos) {
        if self.queue.len() >= MAX_TIMINGS {
            self.queue.pop_front();
        }
        self.queue.push_back(Timing {
            policy,
            kind,
            duration,
        });
    }

    /// The oldest sample not yet drained.
    pub(crate) fn pop(&mut self) -> Option<Timing> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_samples_when_full() {
        let mut t = Timings::default();
        for i in 0..MAX_TIMINGS as u64 + 10 {
            t.record(0, TimingKind::Request, Nanos::from_millis(i));
        }
        let first = t.pop().expect("a sample");
        assert_eq!(first.duration, Nanos::from_millis(10));
        let mut n = 1;
        while t.pop().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_TIMINGS);
    }
}
