//! Exact sequences and properties of the backoff kinds.

use super::*;
use crate::random::SplitMix64;
use proptest::prelude::*;

fn ms(b: Backoff, seed: u64) -> Vec<u64> {
    b.schedule(SplitMix64::new(seed))
        .map(|d| d.as_millis())
        .collect()
}

fn policy(kind: BackoffKind) -> Backoff {
    Backoff::new(kind)
        .with_base(Nanos::from_millis(10))
        .with_max(Nanos::from_millis(1_000))
        .with_max_retries(8)
}

#[test]
fn deterministic_kinds_give_exact_sequences() {
    use BackoffKind::*;
    assert_eq!(ms(policy(Fixed), 0), [10; 8]);
    assert_eq!(ms(policy(Linear), 0), [10, 20, 30, 40, 50, 60, 70, 80]);
    assert_eq!(
        ms(policy(Exponential), 0),
        [10, 20, 40, 80, 160, 320, 640, 1000]
    );
    assert_eq!(
        ms(policy(Exponential).with_multiplier(3.0), 0),
        [10, 30, 90, 270, 810, 1000, 1000, 1000]
    );
    assert_eq!(ms(policy(Fibonacci), 0), [10, 10, 20, 30, 50, 80, 130, 210]);
    assert_eq!(
        ms(policy(Polynomial), 0),
        [10, 40, 90, 160, 250, 360, 490, 640]
    );
    assert_eq!(
        ms(policy(Polynomial).with_exponent(3.0), 0),
        [10, 80, 270, 640, 1000, 1000, 1000, 1000]
    );
}

#[test]
fn seeded_jitter_gives_exact_sequences() {
    use BackoffKind::ExponentialJitter as J;
    assert_eq!(
        ms(policy(J(Jitter::Full)), 42),
        [7, 3, 11, 27, 6, 277, 139, 800]
    );
    assert_eq!(
        ms(policy(J(Jitter::Equal)), 42),
        [8, 11, 25, 53, 83, 298, 389, 900]
    );
    assert_eq!(
        ms(policy(J(Jitter::Decorrelated)), 42),
        [24, 20, 24, 31, 13, 35, 31, 77]
    );
    assert_eq!(
        ms(policy(BackoffKind::Linear).with_jitter(0.5), 42),
        [12, 13, 23, 33, 26, 82, 50, 104]
    );
    // The same seed replays the same delays.
    assert_eq!(
        ms(policy(J(Jitter::Full)), 42),
        ms(policy(J(Jitter::Full)), 42)
    );
}

#[test]
fn stops_after_max_retries_and_stays_stopped() {
    let mut s = policy(BackoffKind::Fixed)
        .with_max_retries(2)
        .schedule(SplitMix64::new(0));
    assert_eq!(s.len(), 2);
    assert_eq!(s.next(), Some(Nanos::from_millis(10)));
    assert_eq!(s.next(), Some(Nanos::from_millis(10)));
    assert_eq!(s.attempt(), 2);
    assert_eq!(s.next(), None);
    assert_eq!(s.next(), None);
    assert_eq!(
        policy(BackoffKind::Fixed)
            .with_max_retries(0)
            .schedule(SplitMix64::new(0))
            .next(),
        None
    );
}

#[test]
fn huge_attempts_and_values_saturate_at_the_cap() {
    for kind in all_kinds() {
        let b = Backoff::new(kind)
            .with_base(Nanos::MAX)
            .with_max(Nanos::from_secs(5))
            .with_multiplier(f64::INFINITY)
            .with_exponent(1e300)
            .with_jitter(1.0)
            .with_max_retries(u32::MAX);
        let mut rng = SplitMix64::new(9);
        let mut s = b.schedule(&mut rng);
        for _ in 0..200 {
            assert!(s.next().unwrap() <= Nanos::from_secs(5));
        }
    }
    // The attempt number itself going huge.
    let b = policy(BackoffKind::Exponential).with_max_retries(u32::MAX);
    assert_eq!(b.raw(u32::MAX - 1).min(b.max()), b.max());
    assert_eq!(
        policy(BackoffKind::Linear).raw(u32::MAX),
        Nanos::from_millis(10).saturating_mul(1 << 32)
    );
}

#[test]
fn takes_a_borrowed_or_dynamic_generator() {
    let mut owned = SplitMix64::new(3);
    let dynamic: &mut dyn rand_core::RngCore = &mut owned;
    let b = policy(BackoffKind::ExponentialJitter(Jitter::Full));
    let from_dyn: Vec<Nanos> = b.schedule(dynamic).collect();
    let from_seed: Vec<Nanos> = b.schedule(SplitMix64::new(3)).collect();
    assert_eq!(from_dyn, from_seed);
}

#[test]
fn builder_sanitises_nonsense() {
    let b = Backoff::default()
        .with_jitter(f64::NAN)
        .with_multiplier(0.5)
        .with_exponent(f64::NAN);
    assert_eq!(b.jitter(), 0.0);
    assert_eq!(b.multiplier(), 1.0);
    assert_eq!(b.exponent(), 1.0);
    assert_eq!(Backoff::default().with_jitter(7.0).jitter(), 1.0);
    assert_eq!(
        Backoff::default().kind(),
        BackoffKind::ExponentialJitter(Jitter::Full)
    );
}

fn all_kinds() -> [BackoffKind; 8] {
    use BackoffKind::*;
    [
        Fixed,
        Linear,
        Exponential,
        ExponentialJitter(Jitter::Full),
        ExponentialJitter(Jitter::Equal),
        ExponentialJitter(Jitter::Decorrelated),
        Fibonacci,
        Polynomial,
    ]
}

proptest! {
    #[test]
    fn every_delay_is_capped_and_count_is_exact(
        kind in 0usize..8,
        base in any::<u64>(),
        max in any::<u64>(),
        jitter in any::<f64>(),
        multiplier in any::<f64>(),
        exponent in any::<f64>(),
        retries in 0u32..64,
        seed in any::<u64>(),
    ) {
        let b = Backoff::new(all_kinds()[kind])
            .with_base(Nanos::new(base))
            .with_max(Nanos::new(max))
            .with_jitter(jitter)
            .with_multiplier(multiplier)
            .with_exponent(exponent)
            .with_max_retries(retries);
        let delays: Vec<Nanos> = b.schedule(SplitMix64::new(seed)).collect();
        prop_assert_eq!(delays.len(), retries as usize);
        for d in delays {
            prop_assert!(d <= Nanos::new(max));
        }
    }
}

#[test]
fn adaptive_stretches_with_a_falling_success_rate() {
    let b = Backoff::new(BackoffKind::Adaptive)
        .with_base(Nanos::from_millis(100))
        .with_max(Nanos::from_secs(10))
        .with_multiplier(2.0)
        .with_max_retries(3);
    let at = |rate: f64| -> Vec<u64> {
        let mut s = b.schedule(SplitMix64::new(1));
        s.set_success_rate(rate);
        s.map(|d| d.as_millis()).collect()
    };
    assert_eq!(
        at(1.0),
        [100, 200, 400],
        "healthy: the plain exponential curve"
    );
    assert_eq!(at(0.5), [200, 400, 800]);
    assert_eq!(
        at(0.0),
        [1_000, 2_000, 4_000],
        "stretched at most 1/ADAPTIVE_FLOOR"
    );
    assert_eq!(at(f64::NAN), at(1.0));
    // The rate measured over recent outcomes drives it.
    let mut rate = crate::retry::SuccessRate::new();
    for i in 0..8 {
        rate.record(i % 4 == 0);
    }
    assert_eq!(at(rate.rate()), [400, 800, 1_600]);
    // Capped like every kind.
    let capped = b.with_max(Nanos::from_millis(500));
    let mut s = capped.schedule(SplitMix64::new(1));
    s.set_success_rate(0.0);
    assert_eq!(
        s.map(|d| d.as_millis()).collect::<Vec<_>>(),
        [500, 500, 500]
    );
}
