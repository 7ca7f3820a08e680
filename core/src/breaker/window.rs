//! The sliding window of recent outcomes behind the failure-rate and slow-call-rate triggers.
//!
//! A count window remembers the last N calls as two bit rings (failed, slow): 64 bytes for the
//! largest allowed window, so it fits in a shared-data snapshot that every worker copies on each
//! write. A time window keeps per-bucket totals tagged with the bucket's epoch (`now / width`);
//! a bucket whose epoch is stale is simply reused, so no background sweep is needed and a clock
//! that steps backwards only makes old buckets look current for a while (never a panic).

use super::codec::{Reader, Writer};
use super::config::{BreakerConfig, MAX_BUCKETS, WindowKind};
use crate::time::Nanos;

const WORDS: usize = 4; // 256 bits

/// Totals over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls recorded.
    pub calls: u32,
    /// Of which failures.
    pub failures: u32,
    /// Of which slow.
    pub slow: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    epoch: u64,
    calls: u32,
    failures: u32,
    slow: u32,
}

/// A count- or time-based window; fixed size, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    kind: WindowKind,
    /// Count: capacity in calls. Time: number of buckets.
    size: u32,
    /// Time: bucket width in nanoseconds.
    width: u64,
    /// Count: next slot to write, and how many slots hold a call.
    next: u32,
    filled: u32,
    failed: [u64; WORDS],
    slow: [u64; WORDS],
    buckets: [Bucket; MAX_BUCKETS as usize],
}

impl Window {
    /// An empty window shaped by `config` (assumed validated).
    pub fn new(config: &BreakerConfig) -> Self {
        let (size, width) = match config.window {
            WindowKind::Count => (config.window_size.clamp(1, 256), 0),
            WindowKind::Time => {
                let buckets = config.window_buckets.clamp(1, MAX_BUCKETS);
                let total = Nanos::from_secs(u64::from(config.window_size.max(1)));
                (buckets, (total.as_nanos() / u64::from(buckets)).max(1))
            }
        };
        Window {
            kind: config.window,
            size,
            width,
            next: 0,
            filled: 0,
            failed: [0; WORDS],
            slow: [0; WORDS],
            buckets: [Bucket::default(); MAX_BUCKETS as usize],
        }
    }

    /// Forgets every call (after the breaker closes again).
    pub fn clear(&mut self) {
        *self = Window {
            kind: self.kind,
            size: self.size,
            width: self.width,
            ..Window::new(&BreakerConfig::default())
        };
    }

    /// Records `n` calls of one kind at `now`.
    pub fn record(&mut self, now: Nanos, n: u32, failed: bool, slow: bool) {
        match self.kind {
            WindowKind::Count => {
                for _ in 0..n.min(self.size) {
                    let i = self.next as usize;
                    set_bit(&mut self.failed, i, failed);
                    set_bit(&mut self.slow, i, slow);
                    self.next = (self.next + 1) % self.size;
                    self.filled = (self.filled + 1).min(self.size);
                }
            }
            WindowKind::Time => {
                let epoch = now.as_nanos() / self.width;
                let b = &mut self.buckets[(epoch % u64::from(self.size)) as usize];
                if b.epoch != epoch {
                    *b = Bucket {
                        epoch,
                        ..Bucket::default()
                    };
                }
                b.calls = b.calls.saturating_add(n);
                if failed {
                    b.failures = b.failures.saturating_add(n);
                }
                if slow {
                    b.slow = b.slow.saturating_add(n);
                }
            }
        }
    }

    /// Totals of the calls still inside the window at `now`.
    pub fn totals(&self, now: Nanos) -> Totals {
        match self.kind {
            WindowKind::Count => Totals {
                calls: self.filled,
                failures: self.failed.iter().map(|w| w.count_ones()).sum(),
                slow: self.slow.iter().map(|w| w.count_ones()).sum(),
            },
            WindowKind::Time => {
                let current = now.as_nanos() / self.width;
                let oldest = current.saturating_sub(u64::from(self.size) - 1);
                let mut t = Totals::default();
                for b in &self.buckets[..self.size as usize] {
                    if b.epoch >= oldest && b.epoch <= current && b.calls > 0 {
                        t.calls = t.calls.saturating_add(b.calls);
                        t.failures = t.failures.saturating_add(b.failures);
                        t.slow = t.slow.saturating_add(b.slow);
                    }
                }
                t
            }
        }
    }

    pub(super) fn encode(&self, w: &mut Writer<'_>) {
        match self.kind {
            WindowKind::Count => {
                w.u8(0);
                w.u32(self.size);
                w.u32(self.next);
                w.u32(self.filled);
                let words = (self.size as usize).div_ceil(64);
                for i in 0..words {
                    w.u64(self.failed[i]);
                    w.u64(self.slow[i]);
                }
            }
            WindowKind::Time => {
                w.u8(1);
                w.u32(self.size);
                w.u64(self.width);
                for b in &self.buckets[..self.size as usize] {
                    w.u64(b.epoch);
                    w.u32(b.calls);
                    w.u32(b.failures);
                    w.u32(b.slow);
                }
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>, config: &BreakerConfig) -> Option<Self> {
        let mut win = Window::new(config);
        let kind = match r.u8()? {
            0 => WindowKind::Count,
            1 => WindowKind::Time,
            _ => return None,
        };
        let size = r.u32()?;
        if kind != win.kind || size != win.size {
            // The configuration changed shape: start an empty window rather than misread.
            return None;
        }
        match kind {
            WindowKind::Count => {
                win.next = r.u32()? % size;
                win.filled = r.u32()?.min(size);
                for i in 0..(size as usize).div_ceil(64) {
                    win.failed[i] = r.u64()?;
                    win.slow[i] = r.u64()?;
                }
            }
            WindowKind::Time => {
                if r.u64()? != win.width {
                    return None;
                }
                for b in &mut win.buckets[..size as usize] {
                    b.epoch = r.u64()?;
                    b.calls = r.u32()?;
                    b.failures = r.u32()?;
                    b.slow = r.u32()?;
                }
            }
        }
        Some(win)
    }
}

fn set_bit(words: &mut [u64; WORDS], i: usize, on: bool) {
    let (w, b) = (i / 64, i % 64);
    if on {
        words[w] |= 1 << b;
    } else {
        words[w] &= !(1 << b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(size: u32) -> Window {
        Window::new(&BreakerConfig {
            window_size: size,
            ..BreakerConfig::default()
        })
    }

    #[test]
    fn count_window_forgets_the_oldest_call() {
        let mut w = count(3);
        let t = Nanos::ZERO;
        w.record(t, 1, true, false);
        w.record(t, 1, false, true);
        w.record(t, 1, false, false);
        assert_eq!(
            w.totals(t),
            Totals {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        w.record(t, 1, false, false); // evicts the failure
        assert_eq!(
            w.totals(t),
            Totals {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        w.record(t, 5, true, false); // more than the window: all slots become failures
        assert_eq!(
            w.totals(t),
            Totals {
                calls: 3,
                failures: 3,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_expires_buckets() {
        let mut w = Window::new(&BreakerConfig {
            window: WindowKind::Time,
            window_size: 10,
            window_buckets: 5,
            ..BreakerConfig::default()
        });
        w.record(Nanos::from_secs(1), 4, true, false);
        w.record(Nanos::from_secs(5), 6, false, false);
        assert_eq!(w.totals(Nanos::from_secs(9)).calls, 10);
        // At 10 s the bucket [0, 2) s has left the 10 s window.
        assert_eq!(
            w.totals(Nanos::from_secs(10)),
            Totals {
                calls: 6,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.totals(Nanos::from_secs(100)), Totals::default());
        // A clock that steps back counts only buckets not newer than itself, and does not panic.
        assert_eq!(w.totals(Nanos::ZERO).calls, 4);
    }
}
