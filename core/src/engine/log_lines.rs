//! The log lines of events and notices, written once for every adapter: Envoy's filter and
//! module log the same text (`key=value` after a word saying what happened, so a log query can
//! match either), and a component host may use it too.

use std::fmt::Write as _;

use rand_core::RngCore;

use crate::store::SharedStore;

use super::notices::Notice;
use super::{Engine, EngineEvent};

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
                let _ = write!(line, " score={score:.2}");
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
                let _ = write!(line, " requests={requests} score={score:.2}");
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
