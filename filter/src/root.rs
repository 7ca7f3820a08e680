//! The root context: configuration, the clock, and everything that happens off a request.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use breakwater_core::{Config, Nanos};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use crate::clock::{now, tick_period};
use crate::stream::Stream;
use crate::worker::{self, Shared, Worker};

/// The root context of one worker VM.
#[derive(Debug, Default)]
pub struct Root {
    worker: Option<Shared>,
    /// Workers of earlier configurations that still track requests (a configuration pushed
    /// to a live root): they keep ticking until their last request ends, so a request held
    /// under the old configuration is still resumed or answered, never stranded.
    draining: Vec<Shared>,
}

fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// 64 bits of entropy for the engine's generator, from WASI `random_get`; the clock if the host
/// refuses (jitter and injection rates then still vary per VM).
fn seed(now: Nanos) -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => now.as_nanos() ^ 0x9E37_79B9_7F4A_7C15,
    }
}

impl Root {
    fn configure(&mut self) -> Result<(), String> {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        if bytes.is_empty() {
            return Err("no plugin configuration: expected JSON with `policies`".into());
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| format!("plugin configuration is not UTF-8: {e}"))?;
        let config = Config::from_json(text).map_err(|e| e.to_string())?;
        let now = now();
        let (worker, refused) = Worker::new(&config, seed(now), now);
        if refused > 0 {
            log(
                LogLevel::Warn,
                &format!("breakwater: the host refused {refused} metric definitions"),
            );
        }
        // Valid, but not what Envoy's router can do as written: said once, never silently.
        for w in &config.envoy_warnings {
            log(LogLevel::Warn, &format!("breakwater: configuration: {w}"));
        }
        let tick = tick_period(&config);
        let _ = hostcalls::set_tick_period(Duration::from_nanos(tick.as_nanos()));
        log(
            LogLevel::Info,
            &format!(
                "breakwater configured service={} environment={} policies={} sync_interval_ms={} tick_ms={}",
                config.service,
                config.environment.name(),
                config.policies.len(),
                config.sync_interval.as_millis(),
                tick.as_millis(),
            ),
        );
        if let Some(old) = self.worker.replace(Rc::new(RefCell::new(worker)))
            && old.borrow().engine.tracked() > 0
        {
            self.draining.push(old);
        }
        Ok(())
    }
}

impl Context for Root {
    /// Envoy is done with this root context: its configuration was replaced (an ECDS or LDS
    /// update configures a new root context) or Envoy is stopping. A last sync, as a tick would
    /// do it: outcomes not yet written and spare bulkhead permits go to shared data (the next
    /// configuration reads them there), and counters, gauges and transition events since the
    /// last tick are exported (they went with the context before: a breaker opened just before
    /// an update was never counted). Views are refreshed first: a root that serves no requests
    /// (the VM on Envoy's main thread) would otherwise export a stale breaker state into the
    /// process-wide gauges.
    fn on_done(&mut self) -> bool {
        let now = now();
        for shared in self.worker.iter().chain(&self.draining) {
            let mut w = shared.borrow_mut();
            w.engine.refresh_views(now);
            w.log_events();
            w.flush_metrics(now);
        }
        true
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        match self.configure() {
            Ok(()) => true,
            Err(message) => {
                for line in message.lines() {
                    log(
                        LogLevel::Error,
                        &format!("breakwater: invalid configuration: {line}"),
                    );
                }
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let now = now();
        for shared in self.worker.iter().chain(&self.draining) {
            shared.borrow_mut().engine.handle_timeout(now);
            worker::run_actions(shared, now);
            let mut w = shared.borrow_mut();
            w.log_events();
            w.flush_metrics(now);
        }
        self.draining
            .retain(|old| old.borrow().engine.tracked() > 0);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream::new(context_id, self.worker.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
