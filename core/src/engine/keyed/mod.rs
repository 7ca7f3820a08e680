//! A keyed breaker's run-time side: one breaker per key, bounded across all workers.
//!
//! The policy's `max_keys` slots and the shared [`Registry`] that assigns them are explained in
//! `engine::registry`; here is what one worker does with them:
//!
//! - **Per request**: the key is looked up in this worker's copy of the registry (a hash map,
//!   no store call, no allocation). A known key uses its slot's breaker cell, created on this
//!   worker at its first use (one read) and then exactly as exact and as cheap as an unkeyed
//!   breaker's (`engine::shared`). An unknown key is admitted through the registry (one read and
//!   one compare-and-swap write, once per new key): into a free slot, or into the slot of the
//!   idle-longest key unused for `key_idle_ms` whose breaker is closed (an open or half-open
//!   key, or one with probes out, is never evicted). When none qualifies, the request uses the
//!   catch-all breaker (the policy's own, reported as `~other`) and counts as an overflow;
//!   further unknown keys then go straight to the catch-all, without a store call, until the
//!   next sync: a client sending random keys costs nothing more than one that does not.
//! - **Per sync** (busy policies only, as for every breaker): the registry is read again, the
//!   keys used here since they were last reported get their last-use moved forward (one write,
//!   at most once per quarter of `key_idle_ms` per key), the cells with traffic or pending
//!   outcomes are synced, and cells whose key was evicted (or that this worker has not used for
//!   `key_idle_ms`) are dropped. A worker thus holds at most `max_keys` cells.
//!
//! A key whose last use was reported at most a quarter of `key_idle_ms` late, and a sync
//! interval on top, is never evicted while it is in use. If it were anyway (a key idle for ten
//! minutes that gets a request exactly when another worker evicts it), the generation tag keeps
//! the states apart: this worker's writes to the slot stop, its cell is dropped on the next sync,
//! and the key is admitted again.

use std::collections::HashMap;

use rand_core::RngCore;

use crate::breaker::keys::{KeyBy, bounded_key};
use crate::breaker::{BreakerConfig, Mode, Snapshot};
use crate::request::RequestInfo;
use crate::store::{Cas, SharedStore};
use crate::time::Nanos;

use super::Engine;
use super::link::StoreLink;
use super::policy::PolicyRt;
use super::registry::Registry;
use super::shared::BreakerCell;

mod admit;
mod sync;

/// Which key's breaker of its policy a request, a transition or a status line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyRef {
    pub(crate) slot: u16,
    pub(crate) generation: u64,
}

/// Idle keys whose breaker one admission reads to find one closed (bounds its cost).
const EVICTION_CHECKS: usize = 4;

/// One key's breaker on this worker.
#[derive(Debug)]
pub(crate) struct KeyCell {
    pub(crate) cell: BreakerCell,
    pub(crate) name: Box<str>,
    generation: u64,
    /// This worker's last request on the key.
    used: Nanos,
    /// A request started or ended on the key since the last sync.
    touched: bool,
}

/// A key found no room: every slot is taken by a key that may not be evicted (or the store
/// could not be asked). The request uses the catch-all breaker, and is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

/// The keyed side of one policy's breaker on this worker.
#[derive(Debug)]
pub(crate) struct KeyedRt {
    pub(crate) by: KeyBy,
    max_keys: u16,
    idle: Nanos,
    /// Store keys of the slots start with this (`breakwater/<svc>/<policy>/breaker/`).
    prefix: String,
    registry_key: String,
    view: Registry,
    /// The version `view` was read at: a sync that reads the same version decodes nothing.
    view_cas: Option<Cas>,
    fetched_at: Option<Nanos>,
    /// Key → index in `view.entries`.
    index: HashMap<Box<str>, usize>,
    /// By slot.
    pub(crate) cells: Vec<Option<KeyCell>>,
    /// Until then unknown keys go to the catch-all without trying the registry.
    no_room_until: Option<Nanos>,
    buf: Vec<u8>,
}

impl KeyedRt {
    /// The keyed side of a breaker whose own store key is `base`; creates the registry and every
    /// slot in the store when missing (keys may only be created before traffic: Envoy's shared
    /// data has no create-if-absent).
    pub(crate) fn new<S: SharedStore>(
        by: KeyBy,
        base: &str,
        config: &BreakerConfig,
        (store, link): (&S, &mut StoreLink),
        now: Nanos,
    ) -> Self {
        let max_keys = u16::try_from(config.max_keys).unwrap_or(u16::MAX - 1);
        let mut k = KeyedRt {
            by,
            max_keys,
            idle: Nanos::from_millis(config.key_idle_ms),
            prefix: format!("{base}/"),
            registry_key: format!("{base}/keys"),
            view: Registry::empty(now),
            view_cas: None,
            fetched_at: None,
            index: HashMap::new(),
            cells: (0..max_keys).map(|_| None).collect(),
            no_room_until: None,
            buf: Vec::new(),
        };
        let mut fresh = Vec::new();
        Snapshot::new(config).encode(config, &mut fresh);
        fresh.splice(0..0, 0u64.to_le_bytes());
        for slot in 0..max_keys {
            let key = k.slot_key(slot);
            if let Ok(None) = link.get(store, &key, &mut k.buf, now) {
                let _ = link.set(store, &key, &fresh, None, now);
            }
        }
        k.refresh(store, link, now);
        k
    }

    fn slot_key(&self, slot: u16) -> String {
        format!("{}{slot}", self.prefix)
    }

    /// The cell of `key`, if this worker holds it.
    pub(crate) fn cell(&self, key: KeyRef) -> Option<&KeyCell> {
        self.cells
            .get(usize::from(key.slot))?
            .as_ref()
            .filter(|c| c.generation == key.generation)
    }

    /// The cell of `key`, mutably.
    pub(crate) fn cell_mut(&mut self, key: KeyRef) -> Option<&mut KeyCell> {
        self.cells
            .get_mut(usize::from(key.slot))?
            .as_mut()
            .filter(|c| c.generation == key.generation)
    }

    /// The cells this worker holds, with their keys.
    pub(crate) fn held(&self) -> impl Iterator<Item = (KeyRef, &KeyCell)> {
        self.cells.iter().enumerate().filter_map(|(slot, c)| {
            let c = c.as_ref()?;
            Some((
                KeyRef {
                    slot: slot as u16,
                    generation: c.generation,
                },
                c,
            ))
        })
    }

    /// The key a request's breaker is under: its own (its cell created here if needed), or why
    /// not. `interval` is the sync interval (how long a full registry keeps unknown keys out).
    pub(crate) fn key_for<S: SharedStore>(
        &mut self,
        text: &str,
        config: &BreakerConfig,
        (store, link): (&S, &mut StoreLink),
        now: Nanos,
        interval: Nanos,
        evictions: &mut u64,
    ) -> Result<KeyRef, Overflow> {
        let mut hashed = [0; 17];
        let key = bounded_key(text, &mut hashed);
        for _ in 0..2 {
            let found = self.index.get(key).map(|&i| &self.view.entries[i]);
            let r = match found {
                Some(e) => Ok((e.slot, e.generation)),
                None if self
                    .no_room_until
                    .is_some_and(|t| now < t && t <= now + interval) =>
                {
                    Err(Overflow)
                }
                None => self.admit(key, config, store, link, now, evictions),
            };
            let (slot, generation) = match r {
                Ok(sg) => sg,
                Err(e) => {
                    self.no_room_until = Some(now + interval);
                    return Err(e);
                }
            };
            let cell = self.ensure_cell(key, slot, generation, config, (store, link), now);
            if !cell.cell.superseded {
                cell.used = now;
                cell.touched = true;
                return Ok(KeyRef { slot, generation });
            }
            // Our copy of the registry is behind: read it again and look once more.
            self.refresh(store, link, now);
        }
        Err(Overflow)
    }

    /// The cell for `slot` at `generation`, created (one read) when this worker has none.
    fn ensure_cell<S: SharedStore>(
        &mut self,
        key: &str,
        slot: u16,
        generation: u64,
        config: &BreakerConfig,
        (store, link): (&S, &mut StoreLink),
        now: Nanos,
    ) -> &mut KeyCell {
        let stale = self.cells[usize::from(slot)]
            .as_ref()
            .is_none_or(|c| c.generation != generation || c.cell.superseded);
        // Steady state: the cell is there, and nothing is allocated.
        let store_key = stale.then(|| self.slot_key(slot));
        let entry = &mut self.cells[usize::from(slot)];
        if let Some(store_key) = store_key {
            *entry = Some(KeyCell {
                cell: BreakerCell::tagged(store_key, Some(generation), config, store, link, now),
                name: key.into(),
                generation,
                used: now,
                touched: false,
            });
        }
        entry.as_mut().expect("just filled")
    }

    /// Whether some cell has outcomes or probe results to write.
    pub(crate) fn has_pending(&self) -> bool {
        self.cells
            .iter()
            .flatten()
            .any(|c| c.touched || c.cell.has_pending())
    }

    /// The name of `key` (`None` when this worker no longer holds it: evicted meanwhile).
    pub(crate) fn name(&self, key: KeyRef) -> Option<&str> {
        self.cell(key).map(|c| &*c.name)
    }
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// The key whose breaker of policy `pi` decides `req` (`None`: the policy's own breaker,
    /// for an unkeyed policy, a request without a key, or a key without room, counted).
    pub(super) fn breaker_key(
        &mut self,
        pi: usize,
        now: Nanos,
        req: &RequestInfo<'_>,
        grpc: bool,
    ) -> Option<KeyRef> {
        let PolicyRt { breaker, stats, .. } = &mut self.policies[pi];
        let b = breaker.as_mut()?;
        let keyed = b.keyed.as_mut()?;
        if b.config.mode == Mode::ForcedOpen {
            return None; // every key refuses: no registry traffic for it
        }
        // Without a key: the catch-all, not counted (it is not a key beyond the bound).
        let text = keyed.by.key_of(req, grpc)?;
        let found = keyed.key_for(
            text,
            &b.config,
            (&self.store, &mut self.link),
            now,
            self.sync_interval,
            &mut stats.breaker_key_evictions,
        );
        match found {
            Ok(key) => Some(key),
            Err(Overflow) => {
                stats.breaker_key_overflows += 1;
                None
            }
        }
    }
}
