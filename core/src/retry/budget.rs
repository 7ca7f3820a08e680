//! A retry budget: retries as a share of recent traffic.
//!
//! A fixed retry count ("retry each request up to 3 times") is safe when failures are rare and
//! independent, and dangerous exactly when they are not. When an upstream starts failing every
//! request, each caller multiplies its load by `1 + max_retries`; with a few layers of services
//! each retrying, the amplification compounds (3 retries at each of 3 layers is 64 times the load)
//! and the retries themselves keep the upstream down. The retries that were meant to hide a blip
//! turn it into an outage.
//!
//! A budget bounds the *ratio* instead. With `budget_percent = 20`, retries may add at most 20% to
//! the traffic seen over the last `window`, however many requests fail: one failed request among
//! a hundred still gets its retry, but when everything fails the upstream sees 1.2 times its normal
//! load, not 4 times. `min_retry_concurrency` keeps a floor so that a quiet service, where 20% of
//! a handful of requests rounds to zero, can still retry at all. Envoy's cluster `retry_budget`
//! and tower's `retry::budget` make the same argument; this is the sans-IO form of it.
//!
//! For example, with the defaults (20%, floor 3, 10 s window) a service that saw 50 requests in
//! the last 10 s may spend `max(3, 50 * 20%) = 10` retries; after 10 the budget reports zero until
//! old requests leave the window or new ones arrive.
//!
//! The window slides in a fixed number of buckets ([`BUCKETS`]), held inline: after construction
//! nothing allocates, and a bucket older than the window is reset lazily when its slot comes round
//! again. Time is an argument. A clock that steps backwards is treated as standing still at the
//! latest instant seen, so nothing is lost and nothing panics.
//!
//! Grants are reserved. The engine decides a request's retries when it forwards it, but learns
//! how many the router made only when the response comes; if grants were charged only then, a
//! burst of concurrent requests would each be granted the full `max_retries` before any was
//! charged, and together they could spend the budget many times over. So a grant is taken from
//! the budget when it is made ([`RetryBudget::reserve`]) and settled when the request ends
//! ([`RetryBudget::settle`]): the reservation is returned and the retries actually made are
//! recorded in the window.
//!
//! The Envoy filter uses it as follows: before forwarding, the engine reserves
//! `min(max_retries, available)` and writes that as `x-envoy-max-retries`; when the response
//! arrives, the retries the router actually made (`upstream.request_attempt_count - 1`) settle
//! the reservation. Each Envoy worker has its own budget, so the share holds per worker and
//! therefore overall.

use crate::time::Nanos;

/// How many buckets the sliding window is divided into.
pub const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Which slot (`now / width`) the counts belong to.
    slot: u64,
    requests: u32,
    retries: u32,
}

/// Retries allowed as a percentage of the requests seen over a sliding window, with a floor.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    percent: f64,
    min_retries: u32,
    width: u64,
    /// The latest slot seen; a clock stepping backwards reuses it.
    latest: u64,
    /// Retries granted to requests still in flight, not yet settled.
    reserved: u32,
    buckets: [Bucket; BUCKETS],
}

impl RetryBudget {
    /// A budget letting retries be `budget_percent` percent of the requests over `window`, and at
    /// least `min_retry_concurrency` per window.
    ///
    /// `budget_percent` is clamped to `[0, 100]` (NaN counts as 0). The window is cut into
    /// [`BUCKETS`] buckets of `window / BUCKETS` each (at least 1 ns), so it expires in steps of
    /// one bucket.
    pub fn new(budget_percent: f64, min_retry_concurrency: u32, window: Nanos) -> Self {
        RetryBudget {
            percent: if budget_percent.is_nan() {
                0.0
            } else {
                budget_percent.clamp(0.0, 100.0)
            },
            min_retries: min_retry_concurrency,
            width: (window.as_nanos() / BUCKETS as u64).max(1),
            latest: 0,
            reserved: 0,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    /// The configured percentage, in `[0, 100]`.
    pub fn budget_percent(&self) -> f64 {
        self.percent
    }

    /// The floor of retries allowed per window.
    pub fn min_retry_concurrency(&self) -> u32 {
        self.min_retries
    }

    /// The window length actually used (a whole number of buckets).
    pub fn window(&self) -> Nanos {
        Nanos::new(self.width).saturating_mul(BUCKETS as u64)
    }

    /// Counts one original request (not a retry).
    pub fn record_request(&mut self, now: Nanos) {
        let b = self.bucket_mut(now);
        b.requests = b.requests.saturating_add(1);
    }

    /// Counts `n` retries that were made.
    pub fn record_retries(&mut self, now: Nanos, n: u32) {
        let b = self.bucket_mut(now);
        b.retries = b.retries.saturating_add(n);
    }

    /// How many more retries the budget allows right now:
    /// `max(min_retry_concurrency, floor(requests * budget_percent / 100)) - retries - reserved`,
    /// over the window ending at `now`, never below zero.
    #[must_use]
    pub fn available(&self, now: Nanos) -> u32 {
        let (requests, retries) = self.totals(now);
        let share = (requests as f64 * self.percent / 100.0) as u64;
        let allowed = share.max(u64::from(self.min_retries));
        let spent = retries.saturating_add(u64::from(self.reserved));
        u32::try_from(allowed.saturating_sub(spent)).unwrap_or(u32::MAX)
    }

    /// Reserves up to `wanted` retries for one request and returns how many were granted
    /// (`min(wanted, available)`); give them back with [`RetryBudget::settle`] when the request
    /// ends, however it ends.
    #[must_use]
    pub fn reserve(&mut self, now: Nanos, wanted: u32) -> u32 {
        let granted = wanted.min(self.available(now));
        self.reserved = self.reserved.saturating_add(granted);
        granted
    }

    /// Ends a reservation of `granted` retries, of which the request made `made` (0 when it
    /// ended without reaching the upstream): the reservation returns, the retries made count
    /// in the window.
    pub fn settle(&mut self, now: Nanos, granted: u32, made: u32) {
        self.reserved = self.reserved.saturating_sub(granted);
        if made > 0 {
            self.record_retries(now, made);
        }
    }

    /// Retries reserved by requests still in flight.
    pub fn reserved(&self) -> u32 {
        self.reserved
    }

    /// The requests counted in the window ending at `now`.
    pub fn requests(&self, now: Nanos) -> u64 {
        self.totals(now).0
    }

    /// The retries counted in the window ending at `now`.
    pub fn retries(&self, now: Nanos) -> u64 {
        self.totals(now).1
    }

    /// The slot `now` falls in, never earlier than the latest one seen.
    fn slot(&self, now: Nanos) -> u64 {
        (now.as_nanos() / self.width).max(self.latest)
    }

    fn bucket_mut(&mut self, now: Nanos) -> &mut Bucket {
        let slot = self.slot(now);
        self.latest = slot;
        let b = &mut self.buckets[(slot % BUCKETS as u64) as usize];
        if b.slot != slot {
            *b = Bucket {
                slot,
                requests: 0,
                retries: 0,
            };
        }
        b
    }

    /// `(requests, retries)` over the buckets still inside the window.
    fn totals(&self, now: Nanos) -> (u64, u64) {
        let slot = self.slot(now);
        self.buckets
            .iter()
            .filter(|b| slot.saturating_sub(b.slot) < BUCKETS as u64)
            .fold((0, 0), |(q, r), b| {
                (q + u64::from(b.requests), r + u64::from(b.retries))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Nanos {
        Nanos::from_secs(s)
    }

    fn budget() -> RetryBudget {
        RetryBudget::new(20.0, 3, secs(10))
    }

    #[test]
    fn the_floor_applies_to_a_quiet_service() {
        let mut b = budget();
        assert_eq!(b.available(secs(0)), 3);
        b.record_retries(secs(0), 1);
        assert_eq!(b.available(secs(0)), 2);
        b.record_retries(secs(1), 2);
        assert_eq!(b.available(secs(1)), 0);
        b.record_retries(secs(1), 5);
        assert_eq!(b.available(secs(1)), 0, "over-spending never goes negative");
    }

    #[test]
    fn the_share_grows_with_traffic_then_is_spent() {
        let mut b = budget();
        let mut seen = Vec::new();
        for i in 0..50 {
            b.record_request(Nanos::from_millis(100 * i));
            seen.push(b.available(Nanos::from_millis(100 * i)));
        }
        // floor 3 until 20 requests (20% of 20 = 4), then one more per 5 requests.
        assert_eq!(&seen[..4], [3, 3, 3, 3]);
        assert_eq!(seen[19], 4);
        assert_eq!(seen[24], 5);
        assert_eq!(seen[49], 10);
        let now = secs(5);
        let mut left = Vec::new();
        for _ in 0..11 {
            left.push(b.available(now));
            b.record_retries(now, 1);
        }
        assert_eq!(left, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    }

    #[test]
    fn the_window_slides_bucket_by_bucket() {
        let mut b = budget();
        // 20 requests in the first second, 20 in the second.
        for _ in 0..20 {
            b.record_request(Nanos::from_millis(500));
        }
        b.record_retries(Nanos::from_millis(500), 4);
        for _ in 0..20 {
            b.record_request(Nanos::from_millis(1_500));
        }
        assert_eq!(b.requests(secs(2)), 40);
        assert_eq!(b.available(secs(2)), 4); // 8 - 4
        assert_eq!(b.available(Nanos::from_millis(9_999)), 4);
        // At 10 s the first bucket (0-1 s) leaves: its 20 requests and 4 retries go.
        assert_eq!(b.requests(secs(10)), 20);
        assert_eq!(b.retries(secs(10)), 0);
        assert_eq!(b.available(secs(10)), 4);
        // At 11 s everything is gone; the floor remains.
        assert_eq!(b.requests(secs(11)), 0);
        assert_eq!(b.available(secs(11)), 3);
        // A bucket reused a lap later starts from zero.
        b.record_request(secs(11));
        assert_eq!(b.requests(secs(11)), 1);
        assert_eq!(b.available(secs(100)), 3);
    }

    #[test]
    fn a_clock_stepping_backwards_counts_at_the_latest_instant() {
        let mut b = budget();
        for _ in 0..30 {
            b.record_request(secs(20));
        }
        assert_eq!(b.available(secs(20)), 6);
        // The clock jumps back 15 s: still the window ending at 20 s.
        b.record_retries(secs(5), 2);
        assert_eq!(b.available(secs(5)), 4);
        assert_eq!(b.available(Nanos::ZERO), 4);
        b.record_request(Nanos::ZERO);
        assert_eq!(b.requests(Nanos::ZERO), 31);
        // Time moves on from the latest instant.
        assert_eq!(b.available(secs(31)), 3);
    }

    #[test]
    fn a_burst_cannot_spend_the_budget_twice() {
        // Floor 3, nothing seen yet: three concurrent requests asking for 2 each get 2, 1, 0,
        // not 2, 2, 2 (issue 14: grants were charged only when responses came).
        let mut b = budget();
        let now = secs(0);
        let grants: Vec<u32> = (0..3).map(|_| b.reserve(now, 2)).collect();
        assert_eq!(grants, [2, 1, 0]);
        assert_eq!((b.reserved(), b.available(now)), (3, 0));
        // The first made one retry of its two, the second none: 1 is spent, 2 come back.
        b.settle(now, 2, 1);
        b.settle(now, 1, 0);
        b.settle(now, 0, 0);
        assert_eq!((b.reserved(), b.retries(now), b.available(now)), (0, 1, 2));
        // Settling more than was reserved never underflows.
        b.settle(now, 9, 0);
        assert_eq!(b.reserved(), 0);
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        let mut b = RetryBudget::new(f64::NAN, u32::MAX, Nanos::ZERO);
        assert_eq!(b.budget_percent(), 0.0);
        assert_eq!(b.window(), Nanos::new(BUCKETS as u64));
        b.record_retries(Nanos::MAX, u32::MAX);
        b.record_retries(Nanos::MAX, u32::MAX);
        assert_eq!(b.available(Nanos::MAX), 0);
        let mut b = RetryBudget::new(1e9, 0, Nanos::MAX);
        assert_eq!(b.budget_percent(), 100.0);
        for _ in 0..5 {
            b.record_request(Nanos::MAX);
        }
        assert_eq!(b.available(Nanos::ZERO), 5);
        let b = RetryBudget::new(-3.0, 0, secs(1));
        assert_eq!(b.available(secs(1)), 0);
    }

    proptest! {
        #[test]
        fn any_clock_and_any_traffic_stay_within_the_allowance(
            percent in any::<f64>(),
            min in 0u32..100,
            window in any::<u64>(),
            ops in proptest::collection::vec((any::<u64>(), 0u32..4), 0..64),
        ) {
            let mut b = RetryBudget::new(percent, min, Nanos::new(window));
            for (t, n) in ops {
                let now = Nanos::new(t);
                match n {
                    0 => b.record_request(now),
                    n => b.record_retries(now, n - 1),
                }
                let share = (b.requests(now) as f64 * b.budget_percent() / 100.0) as u64;
                prop_assert!(u64::from(b.available(now)) <= share.max(u64::from(min)));
            }
        }
    }
}
