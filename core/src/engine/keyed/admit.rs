//! Admitting a new key through the shared registry: a free slot, or the slot of an idle key
//! whose breaker is closed; otherwise the key overflows to the catch-all.

use crate::breaker::{BreakerConfig, State};
use crate::store::{SharedStore, StoreError};
use crate::time::Nanos;

use super::super::link::StoreLink;
use super::super::registry::Registry;
use super::super::shared::{BreakerCell, MAX_CAS_ATTEMPTS};
use super::{EVICTION_CHECKS, KeyedRt, Overflow};

impl KeyedRt {
    /// Admits `key` through the shared registry: a free slot, or an idle closed key's.
    pub(super) fn admit<S: SharedStore>(
        &mut self,
        key: &str,
        config: &BreakerConfig,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
        evictions: &mut u64,
    ) -> Result<(u16, u64), Overflow> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some((mut reg, cas)) = self.read_for_write(store, link, now) else {
                return Err(Overflow);
            };
            if let Some(e) = reg.find(key) {
                let found = (e.slot, e.generation);
                self.adopt(reg, cas, now);
                return Ok(found);
            }
            let (slot, evicted) = match reg.free_slot(self.max_keys) {
                Some(slot) => (slot, false),
                None => match self.evictable(&reg, config, store, link, now) {
                    Some(slot) => (slot, true),
                    None => {
                        self.adopt(reg, cas, now);
                        return Err(Overflow);
                    }
                },
            };
            let generation = reg.admit(key, slot, now);
            reg.encode(&mut self.buf);
            match link.set(store, &self.registry_key, &self.buf, cas, now) {
                Ok(()) => {
                    *evictions += u64::from(evicted);
                    // Our write's version is unknown: the next sync decodes it once.
                    self.adopt(reg, None, now);
                    return Ok((slot, generation));
                }
                Err(StoreError::CasMismatch) => link.stats.cas_retries += 1,
                Err(_) => return Err(Overflow),
            }
        }
        link.stats.cas_give_ups += 1;
        Err(Overflow)
    }

    /// The slot of the idle-longest key of `reg` that may be evicted: unused for `key_idle_ms`
    /// and closed with no probe out (read from the store; at most [`EVICTION_CHECKS`] reads).
    fn evictable<S: SharedStore>(
        &self,
        reg: &Registry,
        config: &BreakerConfig,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
    ) -> Option<u16> {
        reg.idle(now, self.idle)
            .into_iter()
            .take(EVICTION_CHECKS)
            .map(|i| &reg.entries[i])
            .find(|e| {
                let cell = BreakerCell::tagged(
                    self.slot_key(e.slot),
                    Some(e.generation),
                    config,
                    store,
                    link,
                    now,
                );
                !cell.superseded
                    && cell.cached.state == State::Closed
                    && cell.cached.probes_in_flight() == 0
            })
            .map(|e| e.slot)
    }
}
