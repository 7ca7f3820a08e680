//! Randomness as an argument.
//!
//! Core never seeds or reads a random source itself: callers pass `&mut impl RngCore` (the filter
//! seeds one from WASI `random_get`, tests from a fixed seed), so jitter and injection rates are
//! reproducible in tests.

use rand_core::RngCore;

/// A uniform `f64` in `[0, 1)` from 53 random bits.
pub fn unit_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p` (`p <= 0` never, `p >= 1` always, without consuming randomness).
pub fn chance<R: RngCore + ?Sized>(rng: &mut R, p: f64) -> bool {
    if p <= 0.0 || p.is_nan() {
        false
    } else if p >= 1.0 {
        true
    } else {
        unit_f64(rng) < p
    }
}

/// A small, fast, seedable generator (SplitMix64) for tests, benchmarks and adapters that want a
/// deterministic stream from one seed. Not cryptographic; breakwater needs none.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
}

impl RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_in_range_and_chance_is_calibrated() {
        let mut rng = SplitMix64::new(7);
        let mut hits = 0;
        for _ in 0..10_000 {
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
            if chance(&mut rng, 0.25) {
                hits += 1;
            }
        }
        // 10k Bernoulli(0.25): sd ~ 43, so +-250 is ~6 sd.
        assert!((2250..=2750).contains(&hits), "hits = {hits}");
        assert!(!chance(&mut rng, 0.0));
        assert!(chance(&mut rng, 1.0));
    }
}
