//! Everything one worker's VM can see and change: the `Store` data.
//!
//! Host functions only read and write this state; they never call back into
//! the guest except to allocate memory. Whatever Envoy does *after* a
//! callback (deliver a local reply through the filter's response path, finish
//! the stream) is left here as a flag and done by the [`Worker`](super::Worker)
//! once the callback returned, as Envoy defers it too. That keeps every guest
//! call non-reentrant, the way the proxy-wasm SDK expects.

use std::collections::{BTreeMap, HashMap};

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::world::World;

/// A header map: lowercase names, in insertion order, duplicates allowed.
pub type Headers = Vec<(String, String)>;

/// Log levels of the proxy-wasm ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
    /// 5
    Critical,
}

impl LogLevel {
    pub(crate) fn from_abi(level: i32) -> Option<LogLevel> {
        Some(match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

/// One `proxy_log` call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// The effective context when it was logged (the root context or a stream).
    pub context_id: u32,
    /// The text.
    pub message: String,
}

/// What a callback returned.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Iteration continues (0).
    Continue,
    /// Iteration stops until the filter resumes the stream (1).
    Pause,
    /// Any other value (a newer ABI's stop-all variants).
    Other(i32),
}

impl Action {
    pub(crate) fn from_abi(value: i32) -> Action {
        match value {
            0 => Action::Continue,
            1 => Action::Pause,
            other => Action::Other(other),
        }
    }
}

/// A local reply exactly as the filter sent it with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalReply {
    /// The HTTP status argument.
    pub status: u32,
    /// The response code details argument (Envoy's `%RESPONSE_CODE_DETAILS%`).
    pub details: String,
    /// The additional headers argument.
    pub headers: Headers,
    /// The body argument.
    pub body: Vec<u8>,
    /// The gRPC status argument; `None` for -1.
    pub grpc_status: Option<u32>,
}

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Between context creation and `proxy_on_delete`.
    Live,
    /// The filter sent a local reply not yet delivered through its response path.
    ReplyPending,
    /// `proxy_on_delete` ran (response done, or reset).
    Done,
}

/// One HTTP stream as the host saw it: what the filter forwarded, paused,
/// resumed and answered. Read it with [`Worker::stream`](super::Worker::stream).
#[derive(Debug, Clone)]
pub struct Stream {
    pub(crate) life: Life,
    pub(crate) original_request_headers: Headers,
    pub(crate) request_headers: Headers,
    pub(crate) request_trailers: Headers,
    pub(crate) response_headers: Headers,
    pub(crate) response_trailers: Headers,
    pub(crate) request_body: Vec<u8>,
    pub(crate) response_body: Vec<u8>,
    pub(crate) properties: BTreeMap<String, Vec<u8>>,
    pub(crate) request_paused: bool,
    pub(crate) response_paused: bool,
    pub(crate) resumed: u32,
    pub(crate) local_reply: Option<LocalReply>,
    /// The test delivered the response's end of stream.
    pub(crate) response_ended: bool,
    /// The filter asked to close the stream (`proxy_close_stream`).
    pub(crate) close_requested: bool,
    pub(crate) reset: bool,
}

fn find<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

impl Stream {
    /// The request headers as forwarded upstream (after the filter's edits).
    pub fn request_headers(&self) -> &Headers {
        &self.request_headers
    }

    /// One forwarded request header (the first value).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        find(&self.request_headers, name)
    }

    /// Forwarded request headers the client did not send (added or changed by the filter).
    pub fn added_request_headers(&self) -> Headers {
        let sent = &self.original_request_headers;
        self.request_headers
            .iter()
            .filter(|h| !sent.contains(h))
            .cloned()
            .collect()
    }

    /// The response headers as the client got them (after the filter's edits);
    /// for a local reply, the reply's.
    pub fn response_headers(&self) -> &Headers {
        &self.response_headers
    }

    /// One response header (the first value).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }

    /// The response's `:status`, once there is a response.
    pub fn response_status(&self) -> Option<u32> {
        self.response_header(":status")?.parse().ok()
    }

    /// The response body the client got so far.
    pub fn response_body(&self) -> &[u8] {
        &self.response_body
    }

    /// The response trailers.
    pub fn response_trailers(&self) -> &Headers {
        &self.response_trailers
    }

    /// The request is paused: a request callback returned `Pause` and the
    /// filter has not resumed it.
    pub fn is_request_paused(&self) -> bool {
        self.request_paused
    }

    /// The response is paused.
    pub fn is_response_paused(&self) -> bool {
        self.response_paused
    }

    /// How many times the filter resumed this stream (`proxy_continue_stream`).
    pub fn times_resumed(&self) -> u32 {
        self.resumed
    }

    /// The local reply the filter sent, if any.
    pub fn local_reply(&self) -> Option<&LocalReply> {
        self.local_reply.as_ref()
    }

    /// The stream is over: `on_log`, `on_done` and `on_delete` ran.
    pub fn is_finished(&self) -> bool {
        self.life == Life::Done
    }

    /// The stream ended by a reset (client went away).
    pub fn was_reset(&self) -> bool {
        self.reset
    }

    /// A stream property (what the test set or the filter wrote with `set_property`).
    pub fn property(&self, path: &str) -> Option<&[u8]> {
        self.properties.get(path).map(Vec::as_slice)
    }

    pub(crate) fn new() -> Stream {
        Stream {
            life: Life::Live,
            original_request_headers: Vec::new(),
            request_headers: Vec::new(),
            request_trailers: Vec::new(),
            response_headers: Vec::new(),
            response_trailers: Vec::new(),
            request_body: Vec::new(),
            response_body: Vec::new(),
            properties: BTreeMap::new(),
            request_paused: false,
            response_paused: false,
            resumed: 0,
            local_reply: None,
            response_ended: false,
            close_requested: false,
            reset: false,
        }
    }
}

/// The `Store` data of one worker VM.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) world: World,
    pub(crate) root_id: u32,
    /// The context host calls act on: the callback's, or the one the guest
    /// chose with `proxy_set_effective_context`.
    pub(crate) effective: u32,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) plugin_config: Vec<u8>,
    /// Properties every stream of this worker sees (listener, node, plugin).
    pub(crate) properties: BTreeMap<String, Vec<u8>>,
    pub(crate) streams: BTreeMap<u32, Stream>,
    /// When the next `proxy_on_tick` is due (world clock), if a period is set.
    pub(crate) next_tick_nanos: Option<u64>,
    pub(crate) tick_period_ms: u32,
    /// Metric ids of this VM, each naming a stat in the world.
    pub(crate) metric_ids: HashMap<u32, String>,
    pub(crate) log_level: LogLevel,
    pub(crate) logs: Vec<LogRecord>,
    /// Calls the guest made into the host (imports), counted by a store call hook.
    pub(crate) host_calls: u64,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("root_id", &self.root_id)
            .field("effective", &self.effective)
            .field("streams", &self.streams.len())
            .field("logs", &self.logs.len())
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// The effective context's stream, if it is a live stream.
    pub(crate) fn effective_stream(&mut self) -> Option<&mut Stream> {
        self.streams
            .get_mut(&self.effective)
            .filter(|s| s.life != Life::Done)
    }

    pub(crate) fn guest_stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}
