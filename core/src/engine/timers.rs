//! Time-driven work: the periodic sync with shared state, injected delays that end, queue
//! deadlines, and waking queued requests when permits free up (here or on another worker).

use rand_core::RngCore;

use crate::random::unit_f64;
use crate::reply::RejectReason;
use crate::store::SharedStore;
use crate::time::Nanos;

use super::keyed::KeyRef;
use super::permits::Op;
use super::slots::{Phase, Ticket};
use super::timing::TimingKind;
use super::{Action, Decision, Engine, IDLE_REFRESHES, record_transition};

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    /// When [`Engine::handle_timeout`] should next be called: the earliest of the next sync,
    /// an injected delay's end, and a queue deadline.
    pub fn poll_timeout(&self) -> Nanos {
        let mut t = self.next_sync;
        if let Some(d) = self.slots.next_delay() {
            t = t.min(d);
        }
        // Only the policies with waiters: a gateway's thousands of idle policies cost nothing.
        for &pi in &self.waiting {
            let p = &self.policies[pi];
            if let Some(d) = p.bulkhead.as_ref().and_then(|b| b.waiters.next_deadline()) {
                t = t.min(d);
            }
        }
        t
    }

    /// Does whatever is due at `now`; results come out of [`Engine::poll_action`] and
    /// [`Engine::poll_event`]. Safe to call at any time, and with a clock that stepped back.
    pub fn handle_timeout(&mut self, now: Nanos) {
        if now >= self.next_sync || now + self.sync_interval < self.next_sync {
            self.next_sync = now + self.sync_interval;
            self.sync_all(now);
        }
        // Injected delays that ended continue to the bulkhead.
        let mut due = std::mem::take(&mut self.scratch);
        due.clear();
        self.slots.due_delays(now, &mut due);
        for &ticket in &due {
            if let Some(slot) = self.slots.get_mut(ticket) {
                slot.phase = Phase::Running;
            }
            match self.bulkhead_stage(now, ticket) {
                Decision::Proceed { ticket } => self.actions.push_back(Action::Resume { ticket }),
                Decision::Reject { reply } => {
                    self.actions.push_back(Action::Reply { ticket, reply })
                }
                Decision::Queue { .. } | Decision::Delay { .. } | Decision::Pass => {}
            }
        }
        self.scratch = due;
        // Queue deadlines, and permits freed elsewhere, for the policies with waiters.
        let mut waiting = std::mem::take(&mut self.waiting);
        for &pi in &waiting {
            while let Some(id) = self.policies[pi]
                .bulkhead
                .as_mut()
                .and_then(|b| b.waiters.pop_expired(now))
            {
                let ticket = Ticket::from_u64(id);
                let (grpc, queued_at) = self
                    .slots
                    .get(ticket)
                    .map_or((false, now), |s| (s.grpc, s.started));
                self.policies[pi].stats.queue_timeouts += 1;
                self.timings
                    .record(pi, TimingKind::QueueWait, now.saturating_since(queued_at));
                // `finish` sees Phase::Queued: leaves the shared queue and returns the rest.
                self.finish(now, ticket, None);
                let retry_after = Some(Nanos::from_secs(1));
                let reply = self.reply(pi, RejectReason::QueueTimeout, grpc, retry_after);
                self.actions.push_back(Action::Reply { ticket, reply });
            }
            self.pump_queue(now, pi);
        }
        waiting.retain(|&pi| {
            self.policies[pi]
                .bulkhead
                .as_ref()
                .is_some_and(|b| !b.waiters.is_empty())
        });
        // Waiters queued meanwhile (a pump or a timeout cannot queue, so this stays empty).
        waiting.append(&mut self.waiting);
        self.waiting = waiting;
    }

    /// Writes pending outcomes and refreshes every cached snapshot.
    fn sync_all(&mut self, now: Nanos) {
        let n = self.policies.len();
        // Idle views are refreshed a few per sync, in turn: a gauge or a dead worker's
        // permits (reclaimed by the next write past their lease) cannot go unseen for ever,
        // and the cost stays [`IDLE_REFRESHES`] reads per sync however many policies exist.
        let mut idle_left = IDLE_REFRESHES;
        let start = self.idle_cursor % n.max(1);
        for step in 0..n {
            let pi = (start + step) % n;
            // An idle policy costs nothing here: no traffic since the last sync, nothing to
            // write, no permit or place to keep alive, nobody waiting. Its cached view may
            // age; the next request on it refreshes it before deciding (`breaker_gate`), and
            // a status request refreshes every view ([`Engine::refresh_views`]).
            let p = &mut self.policies[pi];
            let busy = std::mem::take(&mut p.touched)
                || p.breaker.as_ref().is_some_and(|b| b.has_pending())
                || p.bulkhead
                    .as_ref()
                    .is_some_and(|b| b.cell.holds_any() || !b.waiters.is_empty());
            if !busy {
                if idle_left == 0 {
                    continue;
                }
                idle_left -= 1;
                self.idle_cursor = pi + 1;
            }
            self.sync_breaker(pi, now, false);
            if let Some(b) = &mut self.policies[pi].bulkhead {
                b.cell.sync(&self.store, &mut self.link, now, &b.config);
            }
            // Reported: a busy policy, or an idle one whose refreshed view shows state another
            // worker made (an idle policy reading idle gets no series from a refresh).
            if busy || self.gauges(pi, now).is_some_and(|g| !g.idle()) {
                self.note_changed(pi);
            }
        }
    }

    /// Refreshes every policy's cached view of shared state, idle ones included: for a report
    /// (the status endpoint) that must not show a view older than the last request.
    pub fn refresh_views(&mut self, now: Nanos) {
        for pi in 0..self.policies.len() {
            self.sync_breaker(pi, now, true);
            if let Some(b) = &mut self.policies[pi].bulkhead {
                b.cell.sync(&self.store, &mut self.link, now, &b.config);
            }
        }
    }

    /// Writes policy `pi`'s pending breaker outcomes, or refreshes its cached snapshot; a keyed
    /// breaker's keys too (`all`: every admitted key, for a report; else the busy ones).
    pub(super) fn sync_breaker(&mut self, pi: usize, now: Nanos, all: bool) {
        self.sync_cell(pi, None, now);
        let unit = unit_f64(&mut self.rng);
        let p = &mut self.policies[pi];
        let (Some(b), stats, events) = (&mut p.breaker, &mut p.stats, &mut self.events) else {
            return;
        };
        if let Some(k) = &mut b.keyed {
            k.sync(
                &b.config,
                (&self.store, &mut self.link),
                now,
                unit,
                all,
                &mut |key, t| record_transition(events, stats, (pi, Some(key)), t),
            );
        }
    }

    /// Syncs one breaker cell of policy `pi` (`key`: `None` for the policy's own).
    pub(super) fn sync_cell(&mut self, pi: usize, key: Option<KeyRef>, now: Nanos) {
        let unit = unit_f64(&mut self.rng);
        let p = &mut self.policies[pi];
        let (Some(b), stats, events) = (&mut p.breaker, &mut p.stats, &mut self.events) else {
            return;
        };
        let (config, Some(cell)) = b.parts(key) else {
            return;
        };
        cell.sync(config, &self.store, &mut self.link, now, unit, &mut |t| {
            record_transition(events, stats, (pi, key), t)
        });
        self.note_health(pi, key);
    }

    /// Gives free permits to this worker's waiters of policy `pi`, oldest first.
    pub(super) fn pump_queue(&mut self, now: Nanos, pi: usize) {
        loop {
            let Some(b) = &mut self.policies[pi].bulkhead else {
                return;
            };
            let Some((id, _)) = b.waiters.front() else {
                return;
            };
            let config = &b.config;
            match b
                .cell
                .write(&self.store, &mut self.link, now, Op::AcquireQueued, config)
            {
                Some(true) => {
                    b.waiters.pop_front();
                    let ticket = Ticket::from_u64(id);
                    if let Some(slot) = self.slots.get_mut(ticket) {
                        let waited = now.saturating_since(slot.started);
                        self.timings.record(pi, TimingKind::QueueWait, waited);
                        slot.permit = true;
                        slot.phase = Phase::Running;
                        slot.started = now;
                        self.reserve_retries(now, ticket);
                        self.actions.push_back(Action::Resume { ticket });
                    } else {
                        // The waiter vanished without leaving the queue: give the permit back.
                        let _ =
                            b.cell
                                .write(&self.store, &mut self.link, now, Op::Release, &b.config);
                    }
                }
                _ => return,
            }
        }
    }
}
