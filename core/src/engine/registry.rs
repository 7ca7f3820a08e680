//! The key registry of a keyed breaker: which keys hold which of the policy's `max_keys` slots,
//! shared by every worker as one store value changed by compare-and-swap.
//!
//! Why slots: the store has no delete, so a breaker per key under a key named after it would
//! leave one store entry behind for every key a client ever sent. Instead a policy owns
//! `max_keys` store entries (`…/breaker/0` … `…/breaker/<max_keys - 1>`), created when the
//! engine starts, and this registry says which key each slot serves. Evicting a key hands its
//! slot to a new key; the number of store entries is bounded by construction.
//!
//! Why generations: each admission takes a fresh generation number, written before the slot's
//! snapshot (`BreakerCell`'s tag). A worker that still maps the evicted key to the slot reads a
//! newer tag and stops writing there; the new key's first read finds an older tag and starts
//! from a fresh, closed breaker. Nothing of one key's state leaks into another's.
//!
//! The registry is the only thing a new key costs; an admitted key's breaker is as exact across
//! workers as an unkeyed one, through the same cell machinery.

use crate::breaker::codec::{Reader, Writer};
use crate::breaker::keys::MAX_KEY_LEN;
use crate::time::Nanos;

/// The version byte of the registry's binary form.
const REGISTRY_VERSION: u8 = 1;

/// One admitted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key (at most [`MAX_KEY_LEN`] bytes).
    pub(crate) key: Box<str>,
    /// The slot it holds.
    pub(crate) slot: u16,
    /// Its generation (the tag of its slot's snapshot).
    pub(crate) generation: u64,
    /// When some worker last reported using it.
    pub(crate) used: Nanos,
}

/// The shared registry of one keyed policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Registry {
    /// The generation the next admission takes.
    pub(crate) next_generation: u64,
    /// The admitted keys, in no particular order.
    pub(crate) entries: Vec<Entry>,
}

impl Registry {
    /// An empty registry whose generations start at `now` (never 0, which marks a slot nobody
    /// was admitted to): a registry the store lost and that is started again cannot hand out a
    /// generation a slot already carries.
    pub(crate) fn empty(now: Nanos) -> Self {
        Registry {
            next_generation: now.as_nanos().max(1),
            entries: Vec::new(),
        }
    }

    /// The binary form, into `buf` (cleared first).
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        let mut w = Writer(buf);
        w.u8(REGISTRY_VERSION);
        w.u64(self.next_generation);
        w.u32(self.entries.len() as u32);
        for e in &self.entries {
            w.u32(u32::from(e.slot));
            w.u64(e.generation);
            w.u64(e.used.as_nanos());
            w.u8(e.key.len() as u8);
            w.0.extend_from_slice(e.key.as_bytes());
        }
    }

    /// Reads [`Registry::encode`]'s form for a policy of `max_keys` slots; `None` for damaged
    /// bytes, another version, a key too long, or a slot out of range or taken twice (a
    /// registry written under another `max_keys` is therefore started again).
    pub(crate) fn decode(bytes: &[u8], max_keys: u16) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.u8()? != REGISTRY_VERSION {
            return None;
        }
        let next_generation = r.u64()?;
        let n = r.u32()?;
        if n > u32::from(max_keys) {
            return None;
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let slot = u16::try_from(r.u32()?).ok().filter(|s| *s < max_keys)?;
            let generation = r.u64()?;
            let used = Nanos::new(r.u64()?);
            let len = usize::from(r.u8()?);
            if len > MAX_KEY_LEN || len > r.0.len() {
                return None;
            }
            let (text, rest) = r.0.split_at(len);
            r.0 = rest;
            let key = std::str::from_utf8(text).ok()?.into();
            if entries.iter().any(|e| e.slot == slot) {
                return None;
            }
            entries.push(Entry {
                key,
                slot,
                generation,
                used,
            });
        }
        r.is_empty().then_some(Registry {
            next_generation,
            entries,
        })
    }

    /// The entry of `key`.
    pub(crate) fn find(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| &*e.key == key)
    }

    /// The lowest slot below `max_keys` no key holds.
    pub(crate) fn free_slot(&self, max_keys: u16) -> Option<u16> {
        (0..max_keys).find(|s| self.entries.iter().all(|e| e.slot != *s))
    }

    /// Indices of the entries unused for at least `idle` at `now`, idle-longest first.
    pub(crate) fn idle(&self, now: Nanos, idle: Nanos) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let used = self.entries[i].used;
                used <= now && now.saturating_since(used) >= idle
            })
            .collect();
        out.sort_by_key(|&i| self.entries[i].used);
        out
    }

    /// Admits `key` into `slot` at `now` (replacing whatever held the slot); its generation.
    pub(crate) fn admit(&mut self, key: &str, slot: u16, now: Nanos) -> u64 {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.saturating_add(1);
        self.entries.retain(|e| e.slot != slot);
        self.entries.push(Entry {
            key: key.into(),
            slot,
            generation,
            used: now,
        });
        generation
    }

    /// Moves the last use of `slot` at `generation` forward to `used`; whether it changed.
    pub(crate) fn touch(&mut self, slot: u16, generation: u64, used: Nanos) -> bool {
        match self
            .entries
            .iter_mut()
            .find(|e| e.slot == slot && e.generation == generation)
        {
            Some(e) if used > e.used => {
                e.used = used;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let mut r = Registry::empty(ms(5));
        let g = r.admit("/a.S/M", 0, ms(1));
        r.admit("/b", 2, ms(3));
        assert_eq!(g, ms(5).as_nanos());
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert_eq!(Registry::decode(&buf, 4), Some(r.clone()));
        // Another max_keys that no longer fits slot 2: started again.
        assert_eq!(Registry::decode(&buf, 2), None);
        for cut in 0..buf.len() {
            assert_eq!(Registry::decode(&buf[..cut], 4), None, "cut at {cut}");
        }
        buf[0] = 9;
        assert_eq!(Registry::decode(&buf, 4), None);
    }

    #[test]
    fn slots_generations_and_idleness() {
        let mut r = Registry::empty(Nanos::ZERO);
        assert_eq!(r.next_generation, 1, "generation 0 is never handed out");
        assert_eq!(r.free_slot(2), Some(0));
        let g0 = r.admit("a", 0, ms(100));
        let g1 = r.admit("b", 1, ms(50));
        assert_eq!(r.free_slot(2), None);
        assert!(g1 > g0);
        assert_eq!(r.idle(ms(120), ms(60)), vec![1]);
        assert_eq!(r.idle(ms(200), ms(60)), vec![1, 0], "idle-longest first");
        assert!(r.touch(1, g1, ms(150)));
        assert!(!r.touch(1, g1, ms(140)), "never backwards");
        assert!(
            !r.touch(1, g0, ms(300)),
            "another generation's use is not this one's"
        );
        assert_eq!(r.idle(ms(200), ms(60)), vec![0]);
        let g2 = r.admit("c", 0, ms(200));
        assert!(g2 > g1);
        assert_eq!(r.find("a"), None);
        assert_eq!(r.find("c").map(|e| e.slot), Some(0));
        assert_eq!(r.entries.len(), 2);
    }
}
