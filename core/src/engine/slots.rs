//! The requests an engine is tracking, in a slab that reuses its slots (no allocation per request
//! once warmed up), addressed by generation-checked tickets so a stale or forged ticket is
//! recognised and ignored instead of touching another request.

use crate::breaker::ProbePermit;
use crate::retry::headers::Scope;
use crate::time::Nanos;

/// Identifies one request inside one engine. Copy it, hand it back; a ticket whose request has
/// finished is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    index: u32,
    generation: u32,
}

impl Ticket {
    /// The ticket as one integer (for hosts that pass handles as numbers).
    pub fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// A ticket from [`Ticket::to_u64`]'s form.
    pub fn from_u64(v: u64) -> Ticket {
        Ticket {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

/// Where a tracked request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Held by an injected delay until the deadline.
    Delayed(Nanos),
    /// Waiting for a bulkhead permit until the deadline.
    Queued(Nanos),
    /// Sent upstream.
    Running,
}

/// One tracked request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) policy: usize,
    pub(crate) started: Nanos,
    pub(crate) phase: Phase,
    pub(crate) probe: Option<ProbePermit>,
    /// Holds a bulkhead permit (cleared exactly once when returned).
    pub(crate) permit: bool,
    /// Holds an injector's active slot (an injected delay in progress).
    pub(crate) injected: bool,
    /// Retries granted to the router for this request (reserved in the retry budget until the
    /// request ends).
    pub(crate) retries: u32,
    /// Which conditions those retries are on.
    pub(crate) scope: Scope,
    /// Whether retries may be granted when it is forwarded (not a probe, and the policy has a
    /// condition for its kind); they are reserved then, not while it waits.
    pub(crate) retry_ok: bool,
    pub(crate) grpc: bool,
}

#[derive(Debug)]
struct Entry {
    generation: u32,
    slot: Option<Slot>,
}

/// The slab.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
}

impl Slots {
    pub(crate) fn insert(&mut self, slot: Slot) -> Ticket {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let e = &mut self.entries[index as usize];
            e.slot = Some(slot);
            return Ticket {
                index,
                generation: e.generation,
            };
        }
        let index = self.entries.len() as u32;
        self.entries.push(Entry {
            generation: 0,
            slot: Some(slot),
        });
        Ticket {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get_mut(&mut self, t: Ticket) -> Option<&mut Slot> {
        let e = self.entries.get_mut(t.index as usize)?;
        if e.generation != t.generation {
            return None;
        }
        e.slot.as_mut()
    }

    pub(crate) fn get(&self, t: Ticket) -> Option<&Slot> {
        let e = self.entries.get(t.index as usize)?;
        if e.generation != t.generation {
            return None;
        }
        e.slot.as_ref()
    }

    pub(crate) fn remove(&mut self, t: Ticket) -> Option<Slot> {
        let e = self.entries.get_mut(t.index as usize)?;
        if e.generation != t.generation {
            return None;
        }
        let slot = e.slot.take()?;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(t.index);
        self.live -= 1;
        Some(slot)
    }

    /// Appends the tickets of injected delays that end at or before `now`.
    pub(crate) fn due_delays(&self, now: Nanos, out: &mut Vec<Ticket>) {
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(s) = &e.slot
                && matches!(s.phase, Phase::Delayed(d) if d <= now)
            {
                out.push(Ticket {
                    index: i as u32,
                    generation: e.generation,
                });
            }
        }
    }

    /// The earliest injected-delay deadline.
    pub(crate) fn next_delay(&self) -> Option<Nanos> {
        self.entries
            .iter()
            .filter_map(|e| match e.slot {
                Some(Slot {
                    phase: Phase::Delayed(d),
                    ..
                }) => Some(d),
                _ => None,
            })
            .min()
    }

    /// Requests tracked.
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}
