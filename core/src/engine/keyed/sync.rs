//! A keyed breaker's sync: the registry read again (decoded only when it changed), this
//! worker's key uses reported, busy cells synced, cells of evicted or long-unused keys dropped.

use crate::breaker::{BreakerConfig, Transition};
use crate::store::{Cas, SharedStore, StoreError};
use crate::time::Nanos;

use super::super::link::StoreLink;
use super::super::registry::Registry;
use super::super::shared::MAX_CAS_ATTEMPTS;
use super::{KeyCell, KeyRef, KeyedRt};

impl KeyedRt {
    /// Makes `reg` this worker's view: re-indexes it and drops the cells of evicted keys.
    pub(super) fn adopt(&mut self, reg: Registry, cas: Option<Cas>, now: Nanos) {
        self.index.clear();
        for (i, e) in reg.entries.iter().enumerate() {
            self.index.insert(e.key.clone(), i);
        }
        for (slot, cell) in self.cells.iter_mut().enumerate() {
            let live = cell.as_ref().is_some_and(|c| {
                !c.cell.superseded
                    && reg
                        .entries
                        .iter()
                        .any(|e| usize::from(e.slot) == slot && e.generation == c.generation)
            });
            if !live {
                *cell = None;
            }
        }
        self.view = reg;
        self.view_cas = cas;
        self.fetched_at = Some(now);
    }

    /// Reads the registry for a compare-and-swap write: what the store holds (a damaged one
    /// read as empty), or this worker's view when the store lost it (written back only if still
    /// absent); `None` when the store is unavailable.
    pub(super) fn read_for_write<S: SharedStore>(
        &mut self,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
    ) -> Option<(Registry, Option<Cas>)> {
        match link.get(store, &self.registry_key, &mut self.buf, now) {
            Ok(Some(cas)) => Some((
                Registry::decode(&self.buf, self.max_keys).unwrap_or_else(|| Registry::empty(now)),
                Some(cas),
            )),
            Ok(None) => Some((self.view.clone(), None)),
            Err(_) => None,
        }
    }

    /// Evicts every key for every worker (an operator's reset): the registry is written empty,
    /// its generation counter kept, so a key admitted again starts from a fresh breaker and no
    /// worker's late write reaches it. `false` when the store could not be written.
    pub(crate) fn forget_keys<S: SharedStore>(
        &mut self,
        store: &S,
        link: &mut StoreLink,
        now: Nanos,
    ) -> bool {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some((mut reg, cas)) = self.read_for_write(store, link, now) else {
                return false;
            };
            reg.entries.clear();
            reg.encode(&mut self.buf);
            match link.set(store, &self.registry_key, &self.buf, cas, now) {
                Ok(()) => {
                    self.no_room_until = None;
                    // The version is unknown until read: the next sync reads it.
                    self.adopt(reg, None, now);
                    return true;
                }
                Err(StoreError::CasMismatch) => link.stats.cas_retries += 1,
                Err(_) => return false,
            }
        }
        link.stats.cas_give_ups += 1;
        false
    }

    /// Reads the registry again (one read).
    pub(super) fn refresh<S: SharedStore>(&mut self, store: &S, link: &mut StoreLink, now: Nanos) {
        match link.get(store, &self.registry_key, &mut self.buf, now) {
            Ok(Some(cas)) if Some(cas) == self.view_cas => self.fetched_at = Some(now),
            Ok(Some(cas)) => {
                let reg = Registry::decode(&self.buf, self.max_keys)
                    .unwrap_or_else(|| Registry::empty(now));
                self.adopt(reg, Some(cas), now);
            }
            Ok(None) => {
                // Lost by the store: written back from this view, only if still absent.
                self.view.encode(&mut self.buf);
                let _ = link.set(store, &self.registry_key, &self.buf, None, now);
                self.fetched_at = Some(now);
            }
            Err(_) => self.fetched_at = Some(now),
        }
    }

    /// The sync: the registry read again with this worker's key uses reported, busy cells
    /// synced (their transitions to `out`), cells of evicted or long-unused keys dropped.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sync<S: SharedStore>(
        &mut self,
        config: &BreakerConfig,
        (store, link): (&S, &mut StoreLink),
        now: Nanos,
        unit: f64,
        all: bool,
        out: &mut impl FnMut(KeyRef, Transition),
    ) {
        self.report_uses(store, link, now);
        self.no_room_until = None;
        for (slot, entry) in self.cells.iter_mut().enumerate() {
            let Some(c) = entry else { continue };
            let unused = now.saturating_since(c.used) >= self.idle;
            if unused && !c.cell.has_pending() && !all {
                *entry = None;
                continue;
            }
            if all || std::mem::take(&mut c.touched) || c.cell.has_pending() {
                let key = KeyRef {
                    slot: slot as u16,
                    generation: c.generation,
                };
                c.cell
                    .sync(config, store, link, now, unit, &mut |t| out(key, t));
            }
        }
        if all {
            // A report: every admitted key, held here or not.
            let entries: Vec<(Box<str>, u16, u64)> = self
                .view
                .entries
                .iter()
                .map(|e| (e.key.clone(), e.slot, e.generation))
                .collect();
            for (key, slot, generation) in entries {
                if self.cells[usize::from(slot)].is_none() {
                    let idle = self.idle;
                    let c = self.ensure_cell(&key, slot, generation, config, (store, link), now);
                    c.used = now.saturating_since(idle);
                }
            }
        }
    }

    /// Reads the registry and moves forward the last use of the keys this worker used since
    /// it last reported them (only those a quarter of `key_idle_ms` behind: a write at most that
    /// often per key), by compare-and-swap.
    fn report_uses<S: SharedStore>(&mut self, store: &S, link: &mut StoreLink, now: Nanos) {
        let lag = Nanos::new(self.idle.as_nanos() / 4);
        let behind = |reg: &Registry, c: &KeyCell, slot: usize| {
            reg.entries.iter().any(|e| {
                usize::from(e.slot) == slot
                    && e.generation == c.generation
                    && c.used.saturating_since(e.used) > lag
            })
        };
        let due = self
            .cells
            .iter()
            .enumerate()
            .any(|(slot, c)| c.as_ref().is_some_and(|c| behind(&self.view, c, slot)));
        if !due {
            self.refresh(store, link, now);
            return;
        }
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some((mut reg, cas)) = self.read_for_write(store, link, now) else {
                return;
            };
            let mut changed = false;
            for (slot, c) in self.cells.iter().enumerate() {
                if let Some(c) = c {
                    changed |= reg.touch(slot as u16, c.generation, c.used);
                }
            }
            if !changed && cas.is_some() {
                self.adopt(reg, cas, now);
                return;
            }
            reg.encode(&mut self.buf);
            match link.set(store, &self.registry_key, &self.buf, cas, now) {
                Ok(()) => {
                    self.adopt(reg, None, now);
                    return;
                }
                Err(StoreError::CasMismatch) => link.stats.cas_retries += 1,
                Err(_) => return,
            }
        }
        link.stats.cas_give_ups += 1;
    }
}
