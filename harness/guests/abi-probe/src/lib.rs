//! abi-probe: a proxy-wasm guest that exists only to test the host-tests harness.
//!
//! The real filter is too rich to pin down the host: when a filter test fails
//! we must already know the host is right. This guest touches every ABI area
//! the host implements, one visible effect per area, driven by request headers:
//!
//! - plugin configuration (JSON, unknown keys rejected) and `on_configure`'s
//!   `false` on a bad one;
//! - request headers, properties (`xds.cluster_name`,
//!   `upstream.request_attempt_count` as 8-byte LE u64) and both clocks, echoed
//!   back as `x-probe-*` request headers;
//! - a bounded shared-data CAS increment loop (`x-probe-count`);
//! - metrics (`<prefix>.requests`, `<prefix>.paused`, `<prefix>.cas_give_ups`,
//!   `<prefix>.grpc_trailers`);
//! - `x-probe-reply: <status>` and `x-probe-grpc: <code>` send local replies;
//! - `x-probe-pause: resume|reply` pauses the request; the next tick resumes it
//!   or answers 504 through `set_effective_context`;
//! - `x-probe-trap: true` panics (a trap for the host to report);
//!   `x-probe-callout: true` makes an HTTP callout, which the host does not model;
//! - response headers get `x-probe-seen: <status>`, response trailers are read,
//!   `on_log` logs a summary line.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, GrpcStatusCode, LogLevel, MetricType, Status};

/// The `_initialize` export lives in a private module: the SDK macro cannot
/// carry a doc comment.
mod entry {
    use super::{LogLevel, ProbeRoot};

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Trace);
        proxy_wasm::set_root_context(|_| Box::new(ProbeRoot::default()));
    }}
}

/// What the next tick does with a paused request.
#[derive(Clone, Copy, Debug)]
enum OnTick {
    Resume,
    Reply,
}

/// State the root shares with its HTTP contexts (one VM, one thread).
#[derive(Debug, Default)]
struct Shared {
    config: Config,
    metrics: Metrics,
    parked: RefCell<Vec<(u32, OnTick)>>,
}

#[derive(Debug)]
struct Config {
    prefix: String,
    shared_key: String,
    tick_ms: u64,
    cas_retries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: "probe".into(),
            shared_key: "probe.count".into(),
            tick_ms: 1000,
            cas_retries: 4,
        }
    }
}

#[derive(Debug, Default)]
struct Metrics {
    requests: u32,
    paused: u32,
    cas_give_ups: u32,
    grpc_trailers: u32,
}

fn parse_config(bytes: &[u8]) -> Result<Config, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let object = value
        .as_object()
        .ok_or("configuration must be a JSON object")?;
    let mut config = Config::default();
    for (key, value) in object {
        let bad = || format!("`{key}` has the wrong type");
        match key.as_str() {
            "prefix" => config.prefix = value.as_str().ok_or_else(bad)?.into(),
            "shared_key" => config.shared_key = value.as_str().ok_or_else(bad)?.into(),
            "tick_ms" => config.tick_ms = value.as_u64().ok_or_else(bad)?,
            "cas_retries" => {
                config.cas_retries = value
                    .as_u64()
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?
            }
            other => return Err(format!("unknown key `{other}`")),
        }
    }
    Ok(config)
}

fn log(level: LogLevel, message: &str) {
    // The host always accepts a log; nothing to do if it did not.
    let _ = hostcalls::log(level, message);
}

#[derive(Debug, Default)]
struct ProbeRoot {
    shared: Rc<Shared>,
}

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let config = match parse_config(&bytes) {
            Ok(config) => config,
            Err(error) => {
                log(
                    LogLevel::Error,
                    &format!("abi-probe: bad configuration: {error}"),
                );
                return false;
            }
        };
        let define =
            |kind, name: &str| hostcalls::define_metric(kind, &format!("{}.{name}", config.prefix));
        let metrics = match (
            define(MetricType::Counter, "requests"),
            define(MetricType::Gauge, "paused"),
            define(MetricType::Counter, "cas_give_ups"),
            define(MetricType::Counter, "grpc_trailers"),
        ) {
            (Ok(requests), Ok(paused), Ok(cas_give_ups), Ok(grpc_trailers)) => Metrics {
                requests,
                paused,
                cas_give_ups,
                grpc_trailers,
            },
            _ => {
                log(LogLevel::Error, "abi-probe: define_metric failed");
                return false;
            }
        };
        // Create the counter key here, once: a set without CAS is unconditional.
        if let (None, _) = self.get_shared_data(&config.shared_key) {
            let _ = self.set_shared_data(&config.shared_key, Some(&0u64.to_le_bytes()), None);
        }
        self.set_tick_period(Duration::from_millis(config.tick_ms));
        log(
            LogLevel::Info,
            &format!("abi-probe: configured prefix={}", config.prefix),
        );
        self.shared = Rc::new(Shared {
            config,
            metrics,
            parked: RefCell::default(),
        });
        true
    }

    fn on_tick(&mut self) {
        let parked = std::mem::take(&mut *self.shared.parked.borrow_mut());
        for (context_id, on_tick) in parked {
            let _ = hostcalls::increment_metric(self.shared.metrics.paused, -1);
            match hostcalls::set_effective_context(context_id) {
                Err(Status::BadArgument) => {
                    log(
                        LogLevel::Info,
                        &format!("abi-probe: stream {context_id} went away"),
                    );
                    continue;
                }
                Err(status) => panic!("set_effective_context: {status:?}"),
                Ok(()) => {}
            }
            let result = match on_tick {
                OnTick::Resume => hostcalls::resume_http_request(),
                OnTick::Reply => hostcalls::send_http_response(
                    504,
                    vec![("x-probe", "tick")],
                    Some(b"parked too long"),
                ),
            };
            log(
                LogLevel::Debug,
                &format!("abi-probe: tick {on_tick:?} {context_id}: {result:?}"),
            );
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ProbeHttp {
            context_id,
            shared: Rc::clone(&self.shared),
            path: String::new(),
            status: String::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Debug)]
struct ProbeHttp {
    context_id: u32,
    shared: Rc<Shared>,
    path: String,
    status: String,
}

impl ProbeHttp {
    /// Adds one to the shared counter with a bounded CAS loop; `None` = gave up.
    fn increment_shared(&self) -> Option<u64> {
        let key = &self.shared.config.shared_key;
        for _ in 0..=self.shared.config.cas_retries {
            let (bytes, cas) = self.get_shared_data(key);
            let current = bytes
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map_or(0, u64::from_le_bytes);
            let next = current + 1;
            match self.set_shared_data(key, Some(&next.to_le_bytes()), cas) {
                Ok(()) => return Some(next),
                Err(Status::CasMismatch) => continue,
                Err(status) => panic!("set_shared_data: {status:?}"),
            }
        }
        None
    }
}

impl Context for ProbeHttp {}

impl HttpContext for ProbeHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.get_http_request_header("x-probe-trap").is_some() {
            panic!("abi-probe: trap requested");
        }
        if self.get_http_request_header("x-probe-callout").is_some() {
            // The harness does not model callouts: this must trap by name.
            let headers = vec![(":method", "GET"), (":path", "/"), (":authority", "side")];
            let _ = self.dispatch_http_call("side", headers, None, vec![], Duration::from_secs(1));
        }
        let metrics = &self.shared.metrics;
        let _ = hostcalls::increment_metric(metrics.requests, 1);
        self.path = self.get_http_request_header(":path").unwrap_or_default();
        let cluster = self
            .get_property(vec!["xds", "cluster_name"])
            .map_or("none".into(), |b| String::from_utf8_lossy(&b).into_owned());
        let attempts = self
            .get_property(vec!["upstream", "request_attempt_count"])
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or("none".into(), |b| u64::from_le_bytes(b).to_string());
        let millis = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                .to_string()
        };
        self.add_http_request_header("x-probe-cluster", &cluster);
        self.add_http_request_header("x-probe-attempts", &attempts);
        self.add_http_request_header("x-probe-now-ms", &millis(self.get_current_time()));
        self.add_http_request_header("x-probe-wasi-ms", &millis(SystemTime::now()));
        match self.increment_shared() {
            Some(count) => self.add_http_request_header("x-probe-count", &count.to_string()),
            None => {
                let _ = hostcalls::increment_metric(metrics.cas_give_ups, 1);
                self.add_http_request_header("x-probe-count", "gave-up");
            }
        }
        log(
            LogLevel::Info,
            &format!(
                "abi-probe: request {} cluster={cluster} attempts={attempts}",
                self.path
            ),
        );

        if let Some(status) = self.get_http_request_header("x-probe-reply") {
            let status = status.parse().unwrap_or(500);
            self.send_http_response(
                status,
                vec![("x-probe", "local"), ("retry-after", "30")],
                Some(b"probe reply"),
            );
            return Action::Pause;
        }
        if let Some(code) = self.get_http_request_header("x-probe-grpc") {
            let code = match code.as_str() {
                "14" => GrpcStatusCode::Unavailable,
                "8" => GrpcStatusCode::ResourceExhausted,
                _ => GrpcStatusCode::Unknown,
            };
            self.send_grpc_response(
                code,
                Some("probe says no"),
                vec![("x-probe", b"grpc".as_slice())],
            );
            return Action::Pause;
        }
        let on_tick = match self.get_http_request_header("x-probe-pause").as_deref() {
            Some("resume") => OnTick::Resume,
            Some("reply") => OnTick::Reply,
            _ => return Action::Continue,
        };
        self.shared
            .parked
            .borrow_mut()
            .push((self.context_id, on_tick));
        let _ = hostcalls::increment_metric(metrics.paused, 1);
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if end_of_stream {
            let len = self
                .get_http_request_body(0, body_size)
                .map_or(0, |b| b.len());
            log(
                LogLevel::Info,
                &format!("abi-probe: request body {len} bytes"),
            );
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.status = self.get_http_response_header(":status").unwrap_or_default();
        self.add_http_response_header("x-probe-seen", &self.status.clone());
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if let Some(grpc_status) = self.get_http_response_trailer("grpc-status") {
            let _ = hostcalls::increment_metric(self.shared.metrics.grpc_trailers, 1);
            log(
                LogLevel::Info,
                &format!("abi-probe: grpc-status={grpc_status}"),
            );
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        log(
            LogLevel::Info,
            &format!(
                "abi-probe: on_log path={} status={}",
                self.path, self.status
            ),
        );
    }
}
