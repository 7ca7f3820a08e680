//! The log lines of events and notices, written once for every adapter: Envoy's filter and
//! module log the same text (`key=value` after a word saying what happened, so a log query can
//! match either), and a component host may use it too.

use std::fmt::Write as _;

use rand_core::RngCore;

use crate::store::SharedStore;

use super::notices::Notice;
use super::{Engine, EngineEvent};

/// A fraction in [0, 1] written with two decimals (`0.20`) from its integer hundredths: the
/// float formatter with a precision (`{:.2}`) would add ~40 KB to the wasm filter for this alone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TwoDecimals(pub(crate) f64);

impl std::fmt::Display for TwoDecimals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hundredths = (self.0.clamp(0.0, 1.0) * 100.0).round() as u32;
        write!(f, "{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

/// How loud a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Worth knowing.
    Info,
    /// Worth acting on.
    Warn,
}

impl<S: SharedStore, R: RngCore> Engine<S, R> {
    fn line_start(&self, what: &str, policy: usize) -> String {
        format!(
            "breakwater {what} service={} policy={}",
            self.service,
            self.policy_name(policy).unwrap_or("?")
        )
    }

    /// The log line of a breaker transition (a warning).
    pub fn event_line(&self, event: &EngineEvent) -> String {
        let t = event.transition;
        let mut line = self.line_start("transition", event.policy);
        let _ = write!(
            line,
            " from={} to={} reason={} at_ms={}",
            t.from.name(),
            t.to.name(),
            t.reason.name(),
            t.at.as_millis()
        );
        // A keyed breaker's key, quoted and escaped: clients choose keys.
        if let Some(key) = event.key.and_then(|k| self.key_name(event.policy, k)) {
            let _ = write!(line, " key={key:?}");
        }
        line
    }

    /// The log line of a notice, with its level.
    pub fn notice_line(&self, notice: &Notice) -> (LogLevel, String) {
        match *notice {
            Notice::HealthChanged {
                policy,
                healthy,
                score,
            } => {
                let what = if healthy { "healthy" } else { "unhealthy" };
                let mut line = self.line_start(what, policy);
                let _ = write!(line, " score={}", TwoDecimals(score));
                let level = if healthy {
                    LogLevel::Info
                } else {
                    LogLevel::Warn
                };
                (level, line)
            }
            Notice::UnhealthyTraffic {
                policy,
                requests,
                score,
            } => {
                let mut line = self.line_start("routed_to_unhealthy", policy);
                let _ = write!(line, " requests={requests} score={}", TwoDecimals(score));
                (LogLevel::Warn, line)
            }
            Notice::Reset { policy, from } => {
                let mut line = self.line_start("reset", policy);
                let _ = write!(line, " from={} to=closed", from.name());
                (LogLevel::Warn, line)
            }
            Notice::RetriesExhausted(e) => (
                LogLevel::Warn,
                e.log_line(&self.service, self.policy_name(e.policy).unwrap_or("?")),
            ),
            Notice::Fallback {
                policy,
                reason,
                kind,
            } => {
                let mut line = self.line_start("fallback", policy);
                let _ = write!(line, " reason={} kind={}", reason.name(), kind.name());
                (LogLevel::Info, line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TwoDecimals;

    #[test]
    fn scores_are_written_with_two_decimals() {
        let cases = [
            (0.0, "0.00"),
            (0.2, "0.20"),
            (0.333, "0.33"),
            (0.999, "1.00"),
            (1.0, "1.00"),
        ];
        for (x, want) in cases {
            assert_eq!(TwoDecimals(x).to_string(), want);
        }
    }
}
