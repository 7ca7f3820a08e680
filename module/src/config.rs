//! One filter configuration: the parsed JSON, its engine, its timer thread, its metrics.
//!
//! # Why one engine behind a mutex
//!
//! Envoy creates a filter configuration on the main thread and shares it with every worker, in
//! one address space. Two designs give workers common state:
//!
//! - **One [`Engine`](breakwater_core::Engine) per configuration behind a `Mutex`** (this one).
//!   Every decision and every outcome is applied to the one state machine, in the order the
//!   lock serialises them, so the breaker opens after exactly `failure_threshold` failures
//!   whichever workers saw them, and the retry budget, the bulkhead and `injection.max_active`
//!   are shared by construction. A hook holds the lock for one engine call (~0.1–0.3 µs) and
//!   an uncontended lock costs ~20 ns; with N workers the lock is busy for a few hundred ns per
//!   request, so it serialises nothing until millions of requests per second, far beyond what
//!   Envoy's workers push through one filter chain. The engine's `sync_interval` has nothing to
//!   synchronise: its periodic sync just re-reads the engine's own [`LocalStore`].
//! - **One engine per worker over a `SharedStore` on atomics or a mutex.** That is core's CAS
//!   design, made for proxy-wasm VMs that share nothing but a byte store: each engine caches the
//!   breaker snapshot and re-reads it every `sync_interval`, so a breaker opened on one worker is
//!   seen by another up to one interval later. Exact only with a zero interval, where every
//!   request reads, decodes and CAS-writes a snapshot: more work, under a lock all the same, for
//!   state that one engine already keeps exactly. Nothing to gain in one address space.
//!
//! So the seam here is the mutex, not the store; core is used as it is.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Engine, RequestNeeds};

use crate::abi::{ConfigHandle, ConfigScheduler, LogLevel, log};
use crate::clock;
use crate::held::Core;
use crate::metrics::{Metrics, PolicySample, Report};
use crate::store::LocalStore;
use crate::timer;

/// The `filter_name` breakwater answers to.
pub(crate) const FILTER_NAME: &str = "breakwater";

/// What every stream of a configuration shares, across workers.
#[derive(Debug)]
pub(crate) struct Shared {
    core: Mutex<Core>,
    /// Wakes the timer thread early (a deadline earlier than its own) or for shutdown.
    pub(crate) wake: Condvar,
    /// Wakes [`FilterConfig::report`] on the main thread.
    pub(crate) reporter: Option<ConfigScheduler>,
    metrics: Mutex<Metrics>,
    /// Request headers the configuration can look at (lowercase; `:method`/`:path` included).
    pub(crate) lookups: Vec<String>,
    /// What of a request the engine can look at.
    pub(crate) needs: RequestNeeds,
    /// The status endpoint's path, if configured.
    pub(crate) status_path: Option<String>,
}

impl Shared {
    /// The engine and the held table. A poisoned lock (a hook panicked while holding it; the
    /// panic was caught and counted) is taken over: core's state machines keep their invariants
    /// per call, and failing open on every later request would be worse.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The module's side of one Envoy filter configuration.
#[derive(Debug)]
pub(crate) struct FilterConfig {
    shared: Arc<Shared>,
    timer: Option<JoinHandle<()>>,
}

/// 64 bits of entropy for the engine's generator (the clock if the OS refuses).
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => clock::now().as_nanos() ^ 0x9E37_79B9_7F4A_7C15,
    }
}

fn refuse(problem: &str) -> Option<FilterConfig> {
    for line in problem.lines() {
        log(
            LogLevel::Error,
            &format!("breakwater: invalid configuration: {line}"),
        );
    }
    None
}

impl FilterConfig {
    /// Parses `config` (the `filter_config` bytes: breakwater's JSON) for filter `name`. `None`
    /// refuses the configuration, after logging every problem with its JSON path.
    pub(crate) fn new(handle: ConfigHandle, name: &[u8], config: &[u8]) -> Option<FilterConfig> {
        if name != FILTER_NAME.as_bytes() {
            return refuse(&format!(
                "filter_name is {:?}; this module serves filter_name {FILTER_NAME:?}",
                String::from_utf8_lossy(name)
            ));
        }
        if config.is_empty() {
            return refuse("no filter_config: expected breakwater's JSON with `policies`");
        }
        let text = match std::str::from_utf8(config) {
            Ok(t) => t,
            Err(e) => return refuse(&format!("filter_config is not UTF-8: {e}")),
        };
        let config = match Config::from_json(text) {
            Ok(c) => c,
            Err(e) => return refuse(&e.to_string()),
        };
        for w in &config.envoy_warnings {
            log(LogLevel::Warn, &format!("breakwater: configuration: {w}"));
        }
        let now = clock::now();
        let engine = Engine::new(&config, LocalStore::default(), SplitMix64::new(seed()), now);
        let names: Vec<String> = engine.policy_names().map(str::to_owned).collect();
        let (metrics, refused) = Metrics::define(handle, names);
        if refused > 0 {
            log(
                LogLevel::Warn,
                &format!("breakwater: Envoy refused {refused} metric definitions"),
            );
        }
        let needs = config.request_needs();
        let mut lookups = Vec::new();
        if needs.method {
            lookups.push(":method".to_owned());
        }
        if needs.path || config.status_path.is_some() {
            lookups.push(":path".to_owned());
        }
        lookups.extend(needs.headers.iter().cloned());
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(engine)),
            wake: Condvar::new(),
            reporter: handle.scheduler(),
            metrics: Mutex::new(metrics),
            lookups,
            needs,
            status_path: config.status_path.clone(),
        });
        let timer = match timer::spawn(Arc::clone(&shared)) {
            Ok(t) => Some(t),
            Err(e) => return refuse(&format!("cannot start the timer thread: {e}")),
        };
        log(
            LogLevel::Info,
            &format!(
                "breakwater configured service={} environment={} policies={} (dynamic module, one engine for every worker)",
                config.service,
                config.environment.name(),
                config.policies.len(),
            ),
        );
        Some(FilterConfig { shared, timer })
    }

    /// The state streams share.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Writes metrics and logs breaker transitions (main thread, woken by the timer thread).
    pub(crate) fn report(&self, handle: ConfigHandle) {
        let now = clock::now();
        let mut lines = Vec::new();
        let report = {
            let mut core = self.shared.lock();
            let engine = &mut core.engine;
            while let Some(event) = engine.poll_event() {
                let policy = engine.policy_name(event.policy).unwrap_or("?");
                let t = event.transition;
                let mut line = format!(
                    "breakwater transition service={} policy={} from={} to={} reason={} at_ms={}",
                    engine.service(),
                    policy,
                    t.from.name(),
                    t.to.name(),
                    t.reason.name(),
                    t.at.as_millis(),
                );
                // A keyed breaker's key, quoted and escaped: clients choose keys.
                if let Some(key) = event.key.and_then(|k| engine.key_name(event.policy, k)) {
                    line.push_str(&format!(" key={key:?}"));
                }
                lines.push(line);
            }
            // Only the policies with something to report (traffic, a moved view, a breaker
            // not closed): a gateway's idle policies cost the report nothing, and have no
            // series until they first see traffic.
            let mut changed = Vec::new();
            engine.take_changed(now, &mut changed);
            let samples = changed
                .into_iter()
                .filter_map(|i| {
                    let sample = PolicySample {
                        stats: engine.stats(i)?,
                        gauges: engine.gauges(i, now)?,
                    };
                    Some((i, sample))
                })
                .collect();
            Report {
                samples,
                timings: std::iter::from_fn(|| engine.poll_timing()).collect(),
                sync: engine.sync_stats(),
                failures: crate::failures::count(),
            }
        };
        self.shared
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .report(handle, &report);
        // Transitions at warn, like the filter: operators run proxies at warning.
        for line in lines {
            log(LogLevel::Warn, &line);
        }
    }
}

impl Drop for FilterConfig {
    /// Stops the timer thread before the configuration goes (Envoy destroyed every stream of
    /// it already), so its scheduler is deleted after the last commit.
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.timer.take() {
            // Envoy may (rarely) destroy the configuration on the timer thread itself, when
            // its last reference was the one a commit holds (see `timer`): that thread then
            // stops by itself after the commit returns.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}
