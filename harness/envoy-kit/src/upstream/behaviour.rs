//! What the test upstream answers: the switchable behaviour and its decisions.
//!
//! A behaviour is a plain value (mode, latency, gRPC reply) that a test or a
//! `/_control` request swaps at run time; the decision state (the seeded RNG,
//! the alternation counter) restarts with every swap, so a sequence of
//! answers is reproducible from the moment a test sets it.

use serde_json::{Value, json};

/// How the HTTP status of a request is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Every request gets this status.
    Status(u16),
    /// A `fraction` (0..=1) of requests get `status`, the rest 200; which ones
    /// is decided by a PRNG seeded with `seed`, in arrival order.
    FailFraction {
        /// Share of requests that fail.
        fraction: f64,
        /// The failure status.
        status: u16,
        /// The PRNG seed.
        seed: u64,
    },
    /// Requests alternate `first`, `second`, `first`, … in arrival order.
    Alternate {
        /// Status of the 1st, 3rd, … request.
        first: u16,
        /// Status of the 2nd, 4th, … request.
        second: u16,
    },
}

/// How gRPC requests (`content-type: application/grpc*`) are answered.
///
/// gRPC answers are always HTTP 200; only `grpc-status` varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcReply {
    /// `grpc-status` in trailers, derived from the HTTP decision: 2xx → 0,
    /// otherwise the gRPC spec's HTTP-to-gRPC mapping (400 → 13, 401 → 16,
    /// 403 → 7, 404 → 12, 429/502/503/504 → 14, anything else → 2).
    Auto,
    /// A data frame, then this `grpc-status` in trailers (a normal answer).
    Trailers(u32),
    /// This `grpc-status` in the headers, no body, no trailers.
    TrailersOnly(u32),
}

/// The complete switchable behaviour of the test upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// How the HTTP status is chosen.
    pub mode: Mode,
    /// Latency added before answering, in milliseconds (capped at [`MAX_DELAY_MS`]).
    pub delay_ms: u64,
    /// How gRPC requests are answered.
    pub grpc: GrpcReply,
}

/// The largest latency the upstream adds (so every request is bounded).
pub const MAX_DELAY_MS: u64 = 60_000;

impl Default for Behaviour {
    /// Always 200, no latency, gRPC status derived (so 0).
    fn default() -> Self {
        Self {
            mode: Mode::Status(200),
            delay_ms: 0,
            grpc: GrpcReply::Auto,
        }
    }
}

impl Behaviour {
    /// Checks statuses are in 100..=599, the fraction in 0..=1, the delay
    /// bounded and gRPC codes in 0..=16.
    pub fn validate(&self) -> Result<(), String> {
        let status = |s: u16| {
            if (100..=599).contains(&s) {
                Ok(())
            } else {
                Err(format!("status {s} is not in 100..=599"))
            }
        };
        match self.mode {
            Mode::Status(s) => status(s)?,
            Mode::FailFraction {
                fraction,
                status: s,
                ..
            } => {
                status(s)?;
                if !(0.0..=1.0).contains(&fraction) {
                    return Err(format!("fraction {fraction} is not in 0..=1"));
                }
            }
            Mode::Alternate { first, second } => {
                status(first)?;
                status(second)?;
            }
        }
        if self.delay_ms > MAX_DELAY_MS {
            return Err(format!(
                "delay {} ms is over {MAX_DELAY_MS} ms",
                self.delay_ms
            ));
        }
        match self.grpc {
            GrpcReply::Trailers(c) | GrpcReply::TrailersOnly(c) if c > 16 => {
                Err(format!("grpc-status {c} is not in 0..=16"))
            }
            _ => Ok(()),
        }
    }

    /// The behaviour as JSON (what the `/_control` endpoints answer).
    pub fn to_json(&self) -> Value {
        let mode = match self.mode {
            Mode::Status(s) => json!({"status": s}),
            Mode::FailFraction {
                fraction,
                status,
                seed,
            } => json!({"fail_fraction": fraction, "status": status, "seed": seed}),
            Mode::Alternate { first, second } => json!({"alternate": [first, second]}),
        };
        let grpc = match self.grpc {
            GrpcReply::Auto => json!("auto"),
            GrpcReply::Trailers(c) => json!({"grpc_status": c, "trailers_only": false}),
            GrpcReply::TrailersOnly(c) => json!({"grpc_status": c, "trailers_only": true}),
        };
        json!({"mode": mode, "delay_ms": self.delay_ms, "grpc": grpc})
    }
}

/// A behaviour plus its decision state.
#[derive(Debug)]
pub(crate) struct Decider {
    behaviour: Behaviour,
    rng: u64,
    count: u64,
}

impl Decider {
    pub(crate) fn new(behaviour: Behaviour) -> Self {
        let rng = match behaviour.mode {
            Mode::FailFraction { seed, .. } => seed,
            _ => 0,
        };
        Self {
            behaviour,
            rng,
            count: 0,
        }
    }

    pub(crate) fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// The HTTP status of the next request, in arrival order.
    pub(crate) fn next_status(&mut self) -> u16 {
        self.count += 1;
        match self.behaviour.mode {
            Mode::Status(s) => s,
            Mode::Alternate { first, second } => {
                if self.count % 2 == 1 {
                    first
                } else {
                    second
                }
            }
            Mode::FailFraction {
                fraction, status, ..
            } => {
                if unit_f64(splitmix64(&mut self.rng)) < fraction {
                    status
                } else {
                    200
                }
            }
        }
    }
}

/// SplitMix64: tiny, seedable, good enough to pick failures.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform value in [0, 1) from the top 53 bits.
fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The gRPC status for an HTTP status, as the gRPC spec maps them.
pub(crate) fn grpc_code_for_http(status: u16) -> u32 {
    match status {
        200..=299 => 0,
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_starts_with_first() {
        let mut d = Decider::new(Behaviour {
            mode: Mode::Alternate {
                first: 503,
                second: 200,
            },
            ..Behaviour::default()
        });
        let seq: Vec<u16> = (0..4).map(|_| d.next_status()).collect();
        assert_eq!(seq, [503, 200, 503, 200]);
    }

    #[test]
    fn fail_fraction_is_seeded_and_close_to_the_fraction() {
        let b = Behaviour {
            mode: Mode::FailFraction {
                fraction: 0.3,
                status: 503,
                seed: 7,
            },
            ..Behaviour::default()
        };
        let run = |b: &Behaviour| {
            let mut d = Decider::new(b.clone());
            (0..1000).map(|_| d.next_status()).collect::<Vec<_>>()
        };
        let a = run(&b);
        assert_eq!(a, run(&b));
        let failures = a.iter().filter(|&&s| s == 503).count();
        assert!(
            (250..350).contains(&failures),
            "{failures} failures of 1000"
        );
    }

    #[test]
    fn validate_rejects_out_of_range_values() {
        let bad = Behaviour {
            mode: Mode::Status(1000),
            ..Behaviour::default()
        };
        assert!(bad.validate().is_err());
        let bad = Behaviour {
            grpc: GrpcReply::TrailersOnly(17),
            ..Behaviour::default()
        };
        assert!(bad.validate().is_err());
        assert!(Behaviour::default().validate().is_ok());
    }
}
