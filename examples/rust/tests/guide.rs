//! Runs the example's story against the real component and a real local upstream, and checks
//! what it saw: the breaker opened after three failures, rejected locally without calling the
//! upstream, recovered through one probe once the open time had passed; the bulkhead capped
//! the upstream at two concurrent calls, queued one and refused one; the injected delay held a
//! call until the driver's timer resumed it.

use std::time::Duration;

use embed_example::component::{BreakerState, OutcomeKind, RejectReason, Runtime};
use embed_example::guard::{Answer, Source};
use embed_example::scenario::{self, OPEN_TIME};
use embed_example::{component_path, guard::Guard};

fn from_upstream(status: u16) -> Answer {
    Answer {
        status,
        from: Source::Upstream,
        retry_after: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_happens_as_narrated() {
    let runtime = Runtime::load(&component_path()).expect("the component loads");
    // Bounded: a lost wake-up fails the test instead of hanging it.
    let report = tokio::time::timeout(Duration::from_secs(60), scenario::run(&runtime, false))
        .await
        .expect("the story ends within a minute")
        .expect("the story runs");

    assert_eq!(report.healthy, vec![from_upstream(200); 2]);
    assert_eq!(report.failing, vec![from_upstream(503); 3]);
    assert_eq!(
        report.while_open,
        Answer {
            status: 503,
            from: Source::Breakwater(RejectReason::CircuitOpen),
            retry_after: Some(1),
        }
    );
    assert_eq!(report.upstream_calls_while_open, 0);
    assert_eq!(report.probe, from_upstream(200));
    assert!(report.probe_after >= OPEN_TIME, "{:?}", report.probe_after);

    // Called in order: two proceed, the third waits for a permit, the fourth finds the queue full.
    assert_eq!(
        report.burst[..3],
        vec![from_upstream(200); 3][..],
        "{report:?}"
    );
    assert_eq!(
        (report.burst[3].status, report.burst[3].from),
        (429, Source::Breakwater(RejectReason::BulkheadFull))
    );
    assert_eq!(report.upstream_max_inflight, 2);

    assert_eq!(report.delayed.0, from_upstream(200));
    // Held by the injected 50 ms delay, resumed by the driver's timer (not by the 2 s timeout).
    let waited = report.delayed.1;
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_secs(1),
        "{waited:?}"
    );

    assert_eq!(
        report.transitions,
        vec![
            (
                BreakerState::Closed,
                BreakerState::Open,
                "consecutive_failures".to_owned()
            ),
            (
                BreakerState::Open,
                BreakerState::HalfOpen,
                "recovery_elapsed".to_owned()
            ),
            (
                BreakerState::HalfOpen,
                BreakerState::Closed,
                "probes_succeeded".to_owned()
            ),
        ]
    );
    assert!(
        report.status_json.contains(r#""healthy":true"#),
        "{}",
        report.status_json
    );
}

#[tokio::test]
async fn a_refused_connection_is_reported_as_a_connect_failure() {
    let runtime = Runtime::load(&component_path()).expect("the component loads");
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let guard = Guard::new(
        &runtime,
        scenario::CONFIG,
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(2),
    )
    .expect("valid configuration");
    for _ in 0..3 {
        let answer = guard.get("/inventory/1").await.expect("no trap");
        assert_eq!(answer.from, Source::Failed(OutcomeKind::ConnectFailure));
        assert_eq!(answer.status, 502);
    }
    // Connect failures count against the breaker like any failure.
    let answer = guard.get("/inventory/1").await.expect("no trap");
    assert_eq!(answer.from, Source::Breakwater(RejectReason::CircuitOpen));
}

#[tokio::test]
async fn a_bad_configuration_names_its_paths() {
    let runtime = Runtime::load(&component_path()).expect("the component loads");
    let bad = r#"{"policies": [{"name": "p", "breaker": {"failure_treshold": 3}}]}"#;
    let error = Guard::new(&runtime, bad, "http://127.0.0.1:1", Duration::from_secs(1))
        .expect_err("refused");
    let text = format!("{error}");
    assert!(
        text.contains("policies[0].breaker.failure_treshold"),
        "{text}"
    );
}

#[tokio::test]
async fn a_caller_that_gives_up_returns_its_permit() {
    let runtime = Runtime::load(&component_path()).expect("the component loads");
    let upstream = embed_example::upstream::Upstream::start()
        .await
        .expect("upstream");
    upstream.slow_down(Duration::from_secs(5));
    let guard = Guard::new(
        &runtime,
        scenario::CONFIG,
        &upstream.url(),
        Duration::from_secs(10),
    )
    .expect("valid configuration");
    // Two callers take both permits and give up after 100 ms (their futures are dropped).
    for _ in 0..2 {
        let gave_up =
            tokio::time::timeout(Duration::from_millis(100), guard.get("/inventory/1")).await;
        assert!(
            gave_up.is_err(),
            "the slow upstream cannot answer in 100 ms"
        );
    }
    // Their tickets were cancelled: the permits are back, so a new call is not refused.
    upstream.slow_down(Duration::ZERO);
    let answer = guard.get("/inventory/1").await.expect("no trap");
    assert_eq!(answer, from_upstream(200));
}
