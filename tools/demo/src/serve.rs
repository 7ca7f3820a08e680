//! `make envoy`: the demo's stack left running in the foreground for manual `curl`.
//!
//! Reading about a circuit breaker is not the same as tripping one. This mode starts exactly
//! the stack of the demo (same Envoy template, same plugin configuration), prints where
//! everything listens and a handful of commands to try, and then waits until Ctrl-C (or until
//! `--for SECS` passed, for scripts), when the Drop guards stop Envoy and the upstream.

use std::time::{Duration, Instant};

use super::narrate::{Narrator, Style};
use super::{DemoError, Stack, interrupt};

/// The longest `--serve` runs without `--for`: a day (every loop of the demo is bounded).
pub const MAX_SERVE: Duration = Duration::from_secs(24 * 3600);

/// The commands to try, for a stack whose listener, admin and upstream are given.
pub fn commands(listener: &str, admin: &str, upstream: &str) -> Vec<(String, String)> {
    vec![
        (
            "a normal request (policy checkout)".into(),
            format!("curl -i http://{listener}/checkout/pay"),
        ),
        (
            "make the upstream fail (every request 503)".into(),
            format!("curl http://{upstream}/_control/status/503"),
        ),
        (
            "trip the breaker: 5 failures, then fast 503 circuit_open".into(),
            format!(
                "for i in $(seq 8); do curl -s -o /dev/null -w '%{{http_code}} ' http://{listener}/checkout/pay; done; echo"
            ),
        ),
        (
            "watch the breakers (200 when all closed, 503 otherwise)".into(),
            format!("curl -s http://{listener}/breakwater/status"),
        ),
        (
            "heal the upstream (the breaker closes 3 s later, after 2 probes)".into(),
            format!("curl http://{upstream}/_control/reset"),
        ),
        (
            "inject a fault on demand".into(),
            format!("curl -i -H 'x-failure-inject: true' http://{listener}/recommendations/top"),
        ),
        (
            "breakwater's metrics".into(),
            format!("curl -s http://{admin}/stats/prometheus | grep ^envoy_breakwater_"),
        ),
    ]
}

/// Starts the stack, prints the addresses and commands, serves until Ctrl-C or `limit`.
pub fn serve(
    say: &Narrator,
    limit: Option<Duration>,
    adapter: crate::Adapter,
) -> Result<(), DemoError> {
    say.line(&say.paint(Style::Dim, "starting the upstream and Envoy …"));
    let mut stack = Stack::start(adapter)?;
    let listener = stack.addr.to_string();
    let admin = stack.envoy.admin_addr().to_string();
    let upstream = stack.upstream.addr().to_string();
    say.banner(
        "breakwater in Envoy 1.40 (2 workers), envoy/demo.yaml + envoy/demo.json",
        "policies: checkout (breaker, retries) /checkout · inventory (bulkhead 4 + queue 4) \
         /inventory · recommendations (injection) /recommendations · payments (gRPC breaker) \
         /payments.Payments/ · flaky (retries) /flaky",
    );
    say.line(&format!("  listener  http://{listener}"));
    say.line(&format!("  admin     http://{admin}"));
    say.line(&format!(
        "  upstream  http://{upstream}  (switch it: /_control/...)"
    ));
    say.line(&format!("  envoy log {}", stack.envoy.log_path().display()));
    say.line("");
    for (what, command) in commands(&listener, &admin, &upstream) {
        say.line(&say.paint(Style::Dim, &format!("  # {what}")));
        say.line(&format!("  {}", say.paint(Style::Cyan, &command)));
    }
    say.line("");
    say.line(&say.paint(Style::Bold, "Ctrl-C stops Envoy and the upstream."));
    let limit = limit.unwrap_or(MAX_SERVE).min(MAX_SERVE);
    let start = Instant::now();
    while start.elapsed() < limit {
        if !interrupt::sleep(Duration::from_millis(200)) {
            say.line("stopping Envoy and the upstream …");
            return Ok(());
        }
        if !stack.envoy.is_running() {
            return Err(DemoError::Setup(format!(
                "Envoy exited on its own; log tail:\n{}",
                stack.envoy.log_tail()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_targets_loopback_addresses_given() {
        for (_, c) in commands("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3") {
            assert!(c.contains("http://127.0.0.1:"), "{c}");
        }
    }
}
