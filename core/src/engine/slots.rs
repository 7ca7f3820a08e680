//! The requests an engine is tracking, in a slab that reuses its slots (no allocation per request
//! once warmed up), addressed by generation-checked tickets so a stale or forged ticket is
//! recognised and ignored instead of touching another request.
//!
//! The slab also keeps its injected delays in deadline order, so the timer calls
//! ([`Slots::next_delay`], [`Slots::due_delays`]) look only at the delays due, never at every slot
//! the slab ever allocated: a slab that once held 100 000 requests in flight made each timer call
//! cost ~150 µs while it scanned them (the `engine/timeout_after_100k` bench). Each delay enters
//! the heap once and leaves it once, so the work is O(log d) per delay (d: delays pending) and
//! O(1) per call that finds nothing due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::keyed::KeyRef;
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
    /// When the current phase began: the arrival while delayed, the start of the wait while
    /// queued, the admission once running (slow calls and the duration histogram count from
    /// there).
    pub(crate) started: Nanos,
    pub(crate) phase: Phase,
    pub(crate) probe: Option<ProbePermit>,
    /// The key whose breaker it asked (`None`: the policy's own breaker).
    pub(crate) key: Option<KeyRef>,
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
    /// Rerouted by a fallback: holds nothing, and its outcome is not the policy's (see
    /// `engine::fallback`).
    pub(crate) rerouted: bool,
}

impl Slot {
    /// A new request of policy `policy` at `now`, running and holding nothing yet: the stages
    /// of admission fill in what it takes.
    pub(crate) fn new(policy: usize, now: Nanos, grpc: bool) -> Slot {
        Slot {
            policy,
            started: now,
            phase: Phase::Running,
            probe: None,
            key: None,
            permit: false,
            injected: false,
            retries: 0,
            scope: Scope::Full,
            retry_ok: false,
            grpc,
            rerouted: false,
        }
    }
}

#[derive(Debug)]
struct Entry {
    generation: u32,
    slot: Option<Slot>,
}

/// One pending injected delay: its deadline and its slot (`index`, `generation`).
type DelayKey = Reverse<(Nanos, u32, u32)>;

/// The slab.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
    /// The delays, earliest first. An entry whose slot has since ended is stale; stale entries
    /// are dropped whenever they reach the top, so the top is always a pending delay.
    delays: BinaryHeap<DelayKey>,
    /// The delays due in one call, keyed by slot alone (deadline zeroed), to hand them out in
    /// slot order; kept to reuse its memory.
    due: BinaryHeap<DelayKey>,
    /// Heap entries looked at by the timer calls (tests hold it flat as past traffic grows).
    #[cfg(test)]
    pub(crate) visits: std::cell::Cell<usize>,
}

impl Slots {
    /// Tracks `slot`; a slot inserted [`Phase::Delayed`] joins the delays.
    pub(crate) fn insert(&mut self, slot: Slot) -> Ticket {
        self.live += 1;
        let ticket = if let Some(index) = self.free.pop() {
            let e = &mut self.entries[index as usize];
            e.slot = Some(slot);
            Ticket {
                index,
                generation: e.generation,
            }
        } else {
            let index = self.entries.len() as u32;
            self.entries.push(Entry {
                generation: 0,
                slot: Some(slot),
            });
            Ticket {
                index,
                generation: 0,
            }
        };
        if let Phase::Delayed(d) = slot.phase {
            self.delays
                .push(Reverse((d, ticket.index, ticket.generation)));
        }
        ticket
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
        self.drop_stale_delays();
        Some(slot)
    }

    /// Whether a delay entry still names a slot delayed until `deadline`.
    fn pending(&self, &Reverse((deadline, index, generation)): &DelayKey) -> bool {
        #[cfg(test)]
        self.visits.set(self.visits.get() + 1);
        self.entries.get(index as usize).is_some_and(|e| {
            e.generation == generation
                && matches!(e.slot, Some(Slot { phase: Phase::Delayed(d), .. }) if d == deadline)
        })
    }

    /// Pops stale entries off the top, so the top is a pending delay (or the heap is empty).
    fn drop_stale_delays(&mut self) {
        while let Some(top) = self.delays.peek() {
            if self.pending(top) {
                return;
            }
            self.delays.pop();
        }
    }

    /// Takes the injected delays that end at or before `now` out of the delays and appends
    /// their tickets in slot order (the order in which a scan of the slab found them, kept so
    /// that hosts see the same order of resumes). The caller moves each one out of
    /// [`Phase::Delayed`].
    ///
    /// The order comes from a second heap of the same type rather than from a sort: a sort
    /// links ~7 KB into the Envoy filter, the heap's code is there already.
    pub(crate) fn due_delays(&mut self, now: Nanos, out: &mut Vec<Ticket>) {
        while let Some(top) = self.delays.peek() {
            let Reverse((deadline, index, generation)) = *top;
            if deadline > now {
                break;
            }
            if self.pending(top) {
                self.due.push(Reverse((Nanos::ZERO, index, generation)));
            }
            self.delays.pop();
        }
        self.drop_stale_delays();
        while let Some(Reverse((_, index, generation))) = self.due.pop() {
            out.push(Ticket { index, generation });
        }
    }

    /// The earliest injected-delay deadline.
    pub(crate) fn next_delay(&self) -> Option<Nanos> {
        let top = self.delays.peek()?;
        debug_assert!(self.pending(top), "the top of the delays is pending");
        Some(top.0.0)
    }

    /// Requests tracked.
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}
