//! The byte form of a [`Snapshot`], and the little-endian writer and reader it is built with.
//!
//! Snapshots are written into a caller's reusable buffer and read without allocating; a reader
//! returns `None` on truncated input instead of panicking, because bytes in shared data may come
//! from an older or newer breakwater version, or from a bug.

use super::config::{BreakerConfig, MAX_PROBES};
use super::health::Health;
use super::state::Snapshot;
use super::types::{State, Stats};
use super::window::Window;
use crate::time::Nanos;

/// Snapshot format version; bump when the layout changes.
///
/// Version 2 added the rejected count and the health view. Version 1 is still read (those read
/// as zero and healthy), so while a new filter and an old one share data during a rollout the
/// new one keeps the old one's state; the old one cannot read version 2 and writes a fresh
/// version-1 snapshot over it, which the new one then reads: an open breaker may close once
/// during the overlap, but the two never undo each other's writes for good. Any other version
/// reads as unreadable and is replaced by a fresh snapshot.
pub const SNAPSHOT_VERSION: u8 = 2;

/// The version before [`SNAPSHOT_VERSION`], still read.
const SNAPSHOT_VERSION_1: u8 = 1;

/// Appends little-endian values to a buffer.
#[derive(Debug)]
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// Reads little-endian values; `None` once the input runs out.
#[derive(Debug)]
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Snapshot {
    /// Writes the versioned binary form into `buf` (cleared first; no allocation once `buf` has
    /// grown to a snapshot's size).
    pub fn encode(&self, config: &BreakerConfig, buf: &mut Vec<u8>) {
        buf.clear();
        let mut w = Writer(buf);
        w.u8(SNAPSHOT_VERSION);
        w.u8(match self.state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        });
        w.u64(self.since.as_nanos());
        w.u64(self.open_until.as_nanos());
        w.u32(self.reopens);
        w.u32(self.consecutive_failures);
        w.u64(self.last_failure.as_nanos());
        w.u32(self.episode);
        w.u32(self.probe_successes);
        let max = (config.half_open_max_calls as usize).min(MAX_PROBES);
        w.u8(max as u8);
        for l in &self.leases[..max] {
            w.u64(l.as_nanos());
        }
        for v in [
            self.stats.calls,
            self.stats.successes,
            self.stats.failures,
            self.stats.slow,
            self.stats.transitions,
            self.stats.rejected,
        ] {
            w.u64(v);
        }
        w.u8(u8::from(self.health.unhealthy));
        w.u32(self.health.consecutive_failures);
        w.u32(self.health.consecutive_successes);
        w.u32(self.health.score);
        self.window.encode(&mut w);
    }

    /// Reads a snapshot written by [`Snapshot::encode`] under the same configuration shape;
    /// `None` for another version, another shape, or damaged bytes (never a panic).
    pub fn decode(config: &BreakerConfig, bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != SNAPSHOT_VERSION && version != SNAPSHOT_VERSION_1 {
            return None;
        }
        let mut s = Snapshot::new(config);
        s.state = match r.u8()? {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            _ => return None,
        };
        s.since = Nanos::new(r.u64()?);
        s.open_until = Nanos::new(r.u64()?);
        s.reopens = r.u32()?;
        s.consecutive_failures = r.u32()?;
        s.last_failure = Nanos::new(r.u64()?);
        s.episode = r.u32()?;
        s.probe_successes = r.u32()?;
        let max = usize::from(r.u8()?);
        if max != (config.half_open_max_calls as usize).min(MAX_PROBES) {
            return None;
        }
        for l in &mut s.leases[..max] {
            *l = Nanos::new(r.u64()?);
        }
        s.stats = Stats {
            calls: r.u64()?,
            successes: r.u64()?,
            failures: r.u64()?,
            slow: r.u64()?,
            transitions: r.u64()?,
            rejected: 0,
        };
        if version == SNAPSHOT_VERSION_1 {
            s.window = Window::decode(&mut r, config)?;
            return r.is_empty().then_some(s);
        }
        s.stats.rejected = r.u64()?;
        s.health = Health {
            unhealthy: match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            },
            consecutive_failures: r.u32()?,
            consecutive_successes: r.u32()?,
            score: r.u32()?.min(super::health::SCORE_SCALE),
        };
        s.window = Window::decode(&mut r, config)?;
        r.is_empty().then_some(s)
    }
}
