//! What Envoy shares between its worker threads: shared data, stats, the clock.
//!
//! Each Envoy worker runs its own VM, so a filter's memory is per worker; what
//! crosses workers is the shared-data map (per `vm_id`, behind one mutex, with
//! compare-and-swap), the stats store (a metric defined under one name on every
//! worker is one stat) and wall-clock time. A [`World`] is that process-wide
//! part; every [`Worker`](super::Worker) built over it holds a handle.
//!
//! Shared data follows Envoy's `SharedData::set` exactly: every write gets a
//! fresh non-zero CAS token from one counter; a set with `cas == 0` is
//! unconditional; a set with a stale token on an existing key is refused with
//! `CasMismatch`; a set with a token on a missing key creates it. To test a
//! filter's CAS retry loop without real thread races, [`World::fail_next_cas`]
//! makes the next conditional sets fail as if another worker had won.
//!
//! The clock is scripted: it starts at [`World::START_NANOS`] and moves only
//! when a test moves it. It is a wall clock, as in Envoy, so it may be set
//! backwards ([`World::set_now_nanos`]) to test a filter against clock jumps.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The kind of a metric, as the guest defined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Set, incremented or decremented.
    Gauge,
    /// Records samples.
    Histogram,
}

#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub(crate) kind: MetricKind,
    /// Counters and gauges; signed so a gauge that goes below zero (a filter
    /// bug Envoy would hide by wrapping) is visible.
    pub(crate) value: i64,
    pub(crate) samples: Vec<u64>,
}

#[derive(Debug)]
pub(crate) struct WorldState {
    pub(crate) now_nanos: u64,
    /// Only ever moves forward (`advance`), unlike the wall clock.
    pub(crate) monotonic_nanos: u64,
    pub(crate) shared: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    fail_next_cas: u32,
    pub(crate) cas_mismatches: u64,
    pub(crate) metrics: BTreeMap<String, Metric>,
}

/// Outcome of a shared-data set, mirroring the ABI status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOutcome {
    Ok,
    CasMismatch,
}

impl WorldState {
    pub(crate) fn set_shared(&mut self, key: &str, value: Vec<u8>, cas: u32) -> SetOutcome {
        if cas != 0 && self.fail_next_cas > 0 {
            self.fail_next_cas -= 1;
            self.cas_mismatches += 1;
            return SetOutcome::CasMismatch;
        }
        if let Some((_, current)) = self.shared.get(key)
            && cas != 0
            && cas != *current
        {
            self.cas_mismatches += 1;
            return SetOutcome::CasMismatch;
        }
        let token = self.next_token();
        self.shared.insert(key.to_owned(), (value, token));
        SetOutcome::Ok
    }

    fn next_token(&mut self) -> u32 {
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.next_cas
    }
}

/// The process-wide state several workers share. Cloning gives another handle
/// to the same world.
#[derive(Debug, Clone)]
pub struct World {
    state: Arc<Mutex<WorldState>>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// Where the clock starts: 2026-01-01T00:00:00Z, a realistic wall-clock value.
    pub const START_NANOS: u64 = 1_767_225_600_000_000_000;

    /// An empty world with the clock at [`World::START_NANOS`].
    pub fn new() -> World {
        World {
            state: Arc::new(Mutex::new(WorldState {
                now_nanos: World::START_NANOS,
                monotonic_nanos: 0,
                shared: HashMap::new(),
                next_cas: 0,
                fail_next_cas: 0,
                cas_mismatches: 0,
                metrics: BTreeMap::new(),
            })),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WorldState> {
        // A panic while holding the lock cannot leave the maps half-written
        // (every update is one insert), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The scripted wall clock, in nanoseconds since the Unix epoch.
    pub fn now_nanos(&self) -> u64 {
        self.lock().now_nanos
    }

    /// Moves the clock forward. Fires no ticks: [`Envoy::advance`](super::Envoy::advance) does.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        state.now_nanos = state.now_nanos.saturating_add(by);
        state.monotonic_nanos = state.monotonic_nanos.saturating_add(by);
    }

    /// Sets the clock, backwards too (a wall clock jumps).
    pub fn set_now_nanos(&self, nanos: u64) {
        self.lock().now_nanos = nanos;
    }

    /// A shared-data value and its CAS token.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.lock().shared.get(key).cloned()
    }

    /// Every shared-data key, sorted.
    pub fn shared_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().shared.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// A shared-data value read as the 8-byte little-endian u64 counters use.
    pub fn shared_u64(&self, key: &str) -> Option<u64> {
        let (bytes, _) = self.shared_data(key)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    /// Writes shared data unconditionally, as another worker would.
    pub fn set_shared_data(&self, key: &str, value: &[u8]) {
        self.lock().set_shared(key, value.to_vec(), 0);
    }

    /// The next `n` conditional sets (`cas != 0`) fail with `CasMismatch` and
    /// write nothing, as if another worker had written first.
    pub fn fail_next_cas(&self, n: u32) {
        self.lock().fail_next_cas = n;
    }

    /// How many `CasMismatch` answers the guests got so far (injected or real).
    pub fn cas_mismatches(&self) -> u64 {
        self.lock().cas_mismatches
    }

    /// A counter's or gauge's value, summed over every worker (one stat per name).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.lock().metrics.get(name).map(|m| m.value)
    }

    /// A histogram's samples, in recording order.
    pub fn histogram(&self, name: &str) -> Option<Vec<u64>> {
        self.lock().metrics.get(name).map(|m| m.samples.clone())
    }

    /// Every metric: name, kind and value (histograms: sample count).
    pub fn metrics(&self) -> Vec<(String, MetricKind, i64)> {
        let state = self.lock();
        let value = |m: &Metric| match m.kind {
            MetricKind::Histogram => i64::try_from(m.samples.len()).unwrap_or(i64::MAX),
            _ => m.value,
        };
        state
            .metrics
            .iter()
            .map(|(name, m)| (name.clone(), m.kind, value(m)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{SetOutcome, World};

    #[test]
    fn cas_follows_envoy_shared_data_rules() {
        let world = World::new();
        let mut state = world.lock();
        // A token on a missing key creates it; tokens are fresh and non-zero.
        assert_eq!(state.set_shared("k", b"1".to_vec(), 77), SetOutcome::Ok);
        let first = state.shared["k"].1;
        assert_ne!(first, 0);
        assert_eq!(state.set_shared("k", b"2".to_vec(), first), SetOutcome::Ok);
        let second = state.shared["k"].1;
        assert_ne!(second, first);
        // A stale token is refused and writes nothing.
        assert_eq!(
            state.set_shared("k", b"3".to_vec(), first),
            SetOutcome::CasMismatch
        );
        assert_eq!(state.shared["k"], (b"2".to_vec(), second));
        // Token 0 is unconditional.
        assert_eq!(state.set_shared("k", b"4".to_vec(), 0), SetOutcome::Ok);
        assert_eq!(state.cas_mismatches, 1);
    }

    #[test]
    fn injection_fails_only_conditional_sets() {
        let world = World::new();
        world.fail_next_cas(1);
        let mut state = world.lock();
        assert_eq!(state.set_shared("k", b"1".to_vec(), 0), SetOutcome::Ok);
        let token = state.shared["k"].1;
        assert_eq!(
            state.set_shared("k", b"2".to_vec(), token),
            SetOutcome::CasMismatch
        );
        assert_eq!(state.set_shared("k", b"2".to_vec(), token), SetOutcome::Ok);
    }

    #[test]
    fn the_wall_clock_may_go_back_but_the_monotonic_clock_does_not() {
        let world = World::new();
        world.advance(std::time::Duration::from_secs(1));
        world.set_now_nanos(5);
        assert_eq!(world.now_nanos(), 5);
        assert_eq!(world.lock().monotonic_nanos, 1_000_000_000);
    }
}
