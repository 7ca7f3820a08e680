//! The steady-state hot path allocates nothing: a counting global allocator around 10 000
//! `on_request` + `on_response` pairs (breaker closed, retries granted, bulkhead permits taken
//! and returned through the shared store, periodic syncs and the draining of measured durations
//! included, as a host does on its tick); the same for a breaker keyed by path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use breakwater_core::outcome::Outcome;
use breakwater_core::random::SplitMix64;
use breakwater_core::{Config, Decision, Engine, MemoryStore, Nanos, RequestInfo};

struct Counting;

thread_local! {
    /// Set on the thread under measurement: the test harness's own threads may allocate at
    /// any time (a busy machine makes that likelier), and those are not the engine's.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread (per thread: the tests measure in parallel).
    static COUNTED: Cell<u64> = const { Cell::new(0) };
}

/// Counts an allocation made on the measured thread.
fn count() {
    if COUNTING.with(Cell::get) {
        COUNTED.with(|c| c.set(c.get() + 1));
    }
}

/// Allocations counted so far on this thread.
fn allocations() -> u64 {
    COUNTED.with(Cell::get)
}

#[allow(unsafe_code)]
// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONFIG: &str = r#"{"service":"shop","policies":[
    {"name":"other","match":{"path_prefix":"/admin"}},
    {"name":"api","match":{"path_prefix":"/api/","methods":["GET","POST"]},"preset":"grpc",
     "bulkhead":{"max_concurrent":64,"queue_size":16},"outcomes":{"http":{"429":"retryable"}}}]}"#;

/// A breaker per path (`key_by`), over three paths.
const KEYED: &str = r#"{"service":"shop","policies":[
    {"name":"rpc","breaker":{"key_by":"path","max_keys":4}}]}"#;

fn run(engine: &mut Engine<MemoryStore, SplitMix64>, from: u64, n: u64) -> u64 {
    run_on(engine, from, n, &["/api/items"])
}

fn run_on(engine: &mut Engine<MemoryStore, SplitMix64>, from: u64, n: u64, paths: &[&str]) -> u64 {
    let headers = [
        ("content-type", "application/json"),
        ("x-request-id", "abc"),
    ];
    let mut proceeded = 0;
    for i in from..from + n {
        let req = RequestInfo {
            headers: &headers,
            ..RequestInfo::new("GET", paths[i as usize % paths.len()])
        };
        let now = Nanos::from_micros(i * 100);
        if engine.poll_timeout() <= now {
            engine.handle_timeout(now);
            // The host's tick drains the measured durations, as both Envoy adapters do: the
            // queue then holds one tick's worth and stops growing.
            while engine.poll_timing().is_some() {}
        }
        if let Decision::Proceed { ticket } = engine.on_request(now, &req) {
            proceeded += 1;
            std::hint::black_box(engine.request_headers(ticket));
            engine.on_response(
                now,
                ticket,
                &Outcome::http(if i % 50 == 0 { 404 } else { 200 }),
                1,
            );
        }
    }
    proceeded
}

#[test]
fn steady_state_requests_do_not_allocate() {
    let config = Config::from_json(CONFIG).unwrap();
    let mut engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(7), Nanos::ZERO);
    assert_eq!(run(&mut engine, 0, 2_000), 2_000, "warm-up");
    let before = allocations();
    COUNTING.with(|c| c.set(true));
    let proceeded = run(&mut engine, 2_000, 10_000);
    COUNTING.with(|c| c.set(false));
    assert_eq!(proceeded, 10_000);
    let made = allocations() - before;
    assert_eq!(made, 0, "allocations on the hot path");
    // The counter works: building an engine allocates.
    let before = allocations();
    COUNTING.with(|c| c.set(true));
    let _ = Engine::new(&config, MemoryStore::new(), SplitMix64::new(7), Nanos::ZERO);
    COUNTING.with(|c| c.set(false));
    assert!(allocations() > before);
}

#[test]
fn steady_state_keyed_requests_do_not_allocate() {
    let config = Config::from_json(KEYED).unwrap();
    let mut engine = Engine::new(&config, MemoryStore::new(), SplitMix64::new(7), Nanos::ZERO);
    let paths = ["/a", "/b?q=1", "/c"];
    assert_eq!(run_on(&mut engine, 0, 2_000, &paths), 2_000, "warm-up");
    let before = allocations();
    COUNTING.with(|c| c.set(true));
    let proceeded = run_on(&mut engine, 2_000, 10_000, &paths);
    COUNTING.with(|c| c.set(false));
    assert_eq!(proceeded, 10_000);
    let made = allocations() - before;
    assert_eq!(made, 0, "allocations on the keyed hot path and its syncs");
}
