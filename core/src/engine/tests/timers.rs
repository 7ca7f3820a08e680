//! The timer calls ([`Engine::poll_timeout`], [`Engine::handle_timeout`]) do work in proportion
//! to the delays pending, not to the requests the engine has ever tracked; and they stay exact
//! when a delayed request ends early.

use super::*;
use crate::engine::Action;

/// Injected delays on `/slow` (`delay_ms`), nothing on the rest; a long sync interval so the
/// next deadline is a delay's.
fn delays(delay_ms: u64) -> TestEngine {
    one(&format!(
        r#"{{"sync_interval_ms":10000,"policies":[
            {{"name":"slow","match":{{"path_prefix":"/slow"}},
              "injection":{{"enabled":true,"delay_rate":1.0,"delay_ms":{delay_ms}}}}},
            {{"name":"api"}}]}}"#
    ))
}

fn delayed(e: &mut TestEngine, now: Nanos) -> (Ticket, Nanos) {
    match e.on_request(now, &RequestInfo::new("GET", "/slow")) {
        Decision::Delay { ticket, until } => (ticket, until),
        other => panic!("expected a delay at {now}, got {other:?}"),
    }
}

/// Slots visited by one `poll_timeout` + `handle_timeout` pair with one delay pending, after
/// `past` requests were in flight at once and answered.
fn visits_after(past: usize) -> usize {
    let mut e = delays(1_000);
    let tickets: Vec<Ticket> = (0..past)
        .map(
            |_| match e.on_request(ms(1), &RequestInfo::new("GET", "/api")) {
                Decision::Proceed { ticket } => ticket,
                other => panic!("expected proceed, got {other:?}"),
            },
        )
        .collect();
    for t in tickets {
        e.on_response(ms(1), t, &Outcome::http(200), 1);
    }
    let (_, until) = delayed(&mut e, ms(2));
    e.slots.visits.set(0);
    assert_eq!(e.poll_timeout(), until);
    e.handle_timeout(ms(3));
    assert_eq!(e.poll_timeout(), until);
    e.slots.visits.get()
}

#[test]
fn timer_work_does_not_grow_with_past_traffic() {
    let quiet = visits_after(1);
    let busy = visits_after(20_000);
    assert_eq!(quiet, busy, "slots visited after 1 vs 20 000 past requests");
    assert!(busy <= 4, "{busy} slots visited for one pending delay");
}

#[test]
fn a_cancelled_delay_no_longer_sets_the_deadline() {
    let mut e = delays(50);
    let (first, first_until) = delayed(&mut e, ms(0));
    let (second, second_until) = delayed(&mut e, ms(10));
    assert_eq!(e.poll_timeout(), first_until);
    e.cancel(ms(20), first);
    assert_eq!(
        e.poll_timeout(),
        second_until,
        "the cancelled delay is forgotten"
    );
    e.handle_timeout(first_until);
    assert!(
        actions(&mut e).is_empty(),
        "nothing resumes at the cancelled deadline"
    );
    e.handle_timeout(second_until);
    assert!(matches!(
        actions(&mut e).as_slice(),
        [Action::Resume { ticket }] if *ticket == second
    ));
    e.cancel(second_until, second);
    assert_eq!(e.poll_timeout(), ms(10_000), "only the sync is left");
}

#[test]
fn delays_due_together_resume_in_slot_order() {
    let mut e = delays(50);
    // Slots 0..3 delayed at decreasing deadlines: the later slot ends first.
    let tickets: Vec<Ticket> = (0..3).map(|i| delayed(&mut e, ms(20 - 10 * i)).0).collect();
    e.handle_timeout(ms(100));
    let resumed: Vec<Ticket> = actions(&mut e)
        .into_iter()
        .map(|a| match a {
            Action::Resume { ticket } => ticket,
            other => panic!("expected a resume, got {other:?}"),
        })
        .collect();
    assert_eq!(
        resumed, tickets,
        "one scan of the slab found them in slot order"
    );
}
