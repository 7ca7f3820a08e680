//! The injector's draws, caps and header trigger, and the `injection` section's checks.

use super::*;
use crate::random::{SplitMix64, unit_f64};

#[test]
fn only_an_enabled_delay_with_a_rate_can_delay() {
    let on = InjectionConfig {
        enabled: true,
        delay_ms: 100,
        delay_rate: 0.1,
        ..InjectionConfig::default()
    };
    assert!(on.can_delay());
    for off in [
        InjectionConfig {
            enabled: false,
            ..on.clone()
        },
        InjectionConfig {
            delay_ms: 0,
            ..on.clone()
        },
        InjectionConfig {
            delay_rate: 0.0,
            ..on.clone()
        },
    ] {
        assert!(!off.can_delay(), "{off:?}");
    }
}

fn enabled(json: &str) -> InjectionConfig {
    let mut c: InjectionConfig = crate::config::read::from_str(json).unwrap();
    c.enabled = true;
    c
}

fn problems(c: &InjectionConfig) -> Vec<String> {
    let mut p = Problems::new();
    c.validate("policies[0].injection", &mut p);
    p.finish()
        .err()
        .map(|e| e.problems.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

const ABORT: Fault = Fault::Abort {
    http_status: 503,
    grpc_status: 14,
};

#[test]
fn defaults_are_documented_values() {
    let c: InjectionConfig = crate::config::read::from_str("{}").unwrap();
    assert_eq!(c, InjectionConfig::default());
    assert!(!c.enabled && c.header_trigger && !c.count_injected);
    assert_eq!((c.abort_rate, c.delay_rate, c.delay_ms), (0.0, 0.0, 0));
    assert_eq!(
        (c.abort_http_status, c.abort_grpc_status, c.max_active),
        (503, 14, 0)
    );
    assert!(problems(&c).is_empty());
    assert!(crate::config::read::from_str::<InjectionConfig>(r#"{"abort_percent": 5}"#).is_err());
}

#[test]
fn validation_names_every_problem() {
    let c: InjectionConfig = crate::config::read::from_str(
        r#"{"abort_rate": 1.5, "delay_rate": -0.1, "abort_http_status": 600,
            "abort_grpc_status": 17, "delay_ms": 3600001}"#,
    )
    .unwrap();
    assert_eq!(
        problems(&c),
        [
            "policies[0].injection.abort_rate: must be in [0, 1], got 1.5",
            "policies[0].injection.delay_rate: must be in [0, 1], got -0.1",
            "policies[0].injection.abort_http_status: must be in [200, 599], got 600",
            "policies[0].injection.abort_grpc_status: must be at most 16, got 17",
            "policies[0].injection.delay_ms: must be at most 3600000, got 3600001",
        ]
    );
    let c = enabled(r#"{"delay_rate": 0.5}"#);
    assert_eq!(
        problems(&c),
        ["policies[0].injection.delay_ms: must be at least 1 when delay_rate is above 0"]
    );
    let c = enabled(r#"{"abort_http_status": 199, "abort_rate": 1, "delay_ms": 3600000}"#);
    assert_eq!(
        problems(&c),
        ["policies[0].injection.abort_http_status: must be in [200, 599], got 199"]
    );
}

#[test]
fn disabled_never_faults_ignores_the_header_and_draws_nothing() {
    let mut c = enabled(r#"{"abort_rate": 0.5, "delay_rate": 0.5, "delay_ms": 10}"#);
    c.enabled = false;
    let mut inj = Injector::new(&c);
    let mut rng = SplitMix64::new(1);
    for forced in [false, true, false, true] {
        assert_eq!(inj.decide(forced, &mut rng), None);
    }
    assert_eq!(rng.next_u64(), SplitMix64::new(1).next_u64());
    assert_eq!(inj.active(), 0);
}

#[test]
fn exact_sequence_for_a_seed() {
    let c = enabled(r#"{"abort_rate": 0.3, "delay_rate": 0.5, "delay_ms": 250}"#);
    let mut inj = Injector::new(&c);
    let mut rng = SplitMix64::new(42);
    // The same rule, spelled out over a twin stream: abort if u < 0.3, else a second draw
    // delays if v < 0.5.
    let mut twin = SplitMix64::new(42);
    let mut expected = Vec::new();
    for _ in 0..12 {
        expected.push(if unit_f64(&mut twin) < 0.3 {
            'A'
        } else if unit_f64(&mut twin) < 0.5 {
            'D'
        } else {
            '-'
        });
    }
    let got: Vec<char> = (0..12)
        .map(|_| match inj.decide(false, &mut rng) {
            Some(f @ Fault::Abort { .. }) => {
                assert_eq!(f, ABORT);
                'A'
            }
            Some(f @ Fault::Delay(_)) => {
                assert_eq!(f, Fault::Delay(Nanos::from_millis(250)));
                'D'
            }
            None => '-',
        })
        .collect();
    assert_eq!(got, expected);
    // A regression pin of the same sequence.
    assert_eq!(got.iter().collect::<String>(), "DADDDD--AAD-");
}

#[test]
fn half_rate_is_calibrated() {
    let mut inj = Injector::new(&enabled(r#"{"abort_rate": 0.5}"#));
    let mut rng = SplitMix64::new(7);
    let mut aborts = 0;
    for _ in 0..10_000 {
        if inj.decide(false, &mut rng).is_some() {
            aborts += 1;
            inj.finish();
        }
    }
    // 10k Bernoulli(0.5): sd = 50, so +-300 is 6 sd.
    assert!((4_700..=5_300).contains(&aborts), "aborts = {aborts}");
}

#[test]
fn forced_header_gives_an_abort_or_the_only_delay() {
    let mut rng = SplitMix64::new(3);
    let mut inj = Injector::new(&enabled("{}"));
    assert_eq!(inj.decide(true, &mut rng), Some(ABORT));
    assert_eq!(inj.decide(false, &mut rng), None);
    let c = enabled(r#"{"delay_rate": 0.1, "delay_ms": 40}"#);
    let mut inj = Injector::new(&c);
    assert_eq!(
        inj.decide(true, &mut rng),
        Some(Fault::Delay(Nanos::from_millis(40)))
    );
    let c = enabled(
        r#"{"abort_rate": 0.1, "abort_http_status": 500, "delay_rate": 0.1, "delay_ms": 40}"#,
    );
    let mut inj = Injector::new(&c);
    let abort = Fault::Abort {
        http_status: 500,
        grpc_status: 14,
    };
    // Forcing draws nothing.
    let mut twin = rng.clone();
    assert_eq!(inj.decide(true, &mut rng), Some(abort));
    assert_eq!(rng.next_u64(), twin.next_u64());
    // header_trigger: false ignores the header.
    let mut inj = Injector::new(&enabled(r#"{"header_trigger": false}"#));
    assert_eq!(inj.decide(true, &mut rng), None);
}

#[test]
fn max_active_is_respected_and_finish_never_underflows() {
    let mut inj = Injector::new(&enabled(r#"{"abort_rate": 1.0, "max_active": 2}"#));
    let mut rng = SplitMix64::new(9);
    assert_eq!(inj.decide(false, &mut rng), Some(ABORT));
    assert_eq!(inj.decide(true, &mut rng), Some(ABORT));
    assert_eq!(inj.active(), 2);
    assert_eq!(inj.decide(true, &mut rng), None);
    assert_eq!(inj.decide(false, &mut rng), None);
    inj.finish();
    assert_eq!(inj.decide(false, &mut rng), Some(ABORT));
    for _ in 0..5 {
        inj.finish();
    }
    assert_eq!(inj.active(), 0);
    // Unlimited by default.
    let mut inj = Injector::new(&enabled(r#"{"abort_rate": 1.0}"#));
    for _ in 0..1_000 {
        assert!(inj.decide(false, &mut rng).is_some());
    }
    assert_eq!(inj.active(), 1_000);
}

#[test]
fn out_of_range_rates_never_panic() {
    let mut rng = SplitMix64::new(5);
    let c = enabled(r#"{"abort_rate": -3, "delay_rate": 7, "delay_ms": 1}"#);
    let mut inj = Injector::new(&c);
    assert_eq!(
        inj.decide(false, &mut rng),
        Some(Fault::Delay(Nanos::from_millis(1)))
    );
    let mut c = enabled(r#"{"delay_rate": 1, "delay_ms": 0}"#);
    c.abort_rate = f64::NAN;
    let mut inj = Injector::new(&c);
    assert_eq!(inj.decide(false, &mut rng), None);
    assert!(!inj.counts_injected());
    assert_eq!(inj.config().delay_rate, 1.0);
}
