//! A worker: one VM, as one Envoy worker thread runs one.
//!
//! Lifecycle, as Envoy drives it: instantiate, `_initialize`, create the root
//! context (`proxy_on_context_create(root, 0)`), `proxy_on_vm_start`, then
//! `proxy_on_configure` with the plugin configuration. Streams and the tick
//! come after (`http.rs`). Each worker numbers its contexts from 1 (the root)
//! upward, so context ids repeat across workers exactly as in Envoy.
//!
//! Every guest call goes through [`Worker::call`]: it sets the effective
//! context, turns a trap into [`HostError::Trap`] and marks the VM dead.

use wasmtime::{CallHook, Instance, Store, WasmParams, WasmResults};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{Deterministic, WasiCtxBuilder};

use super::engine;
use super::state::{HostState, LogLevel, LogRecord, Stream};
use super::timers::{WorldMonotonicClock, WorldWallClock};
use super::{HostError, World};
use artifacts::Artifact;

/// The root context id every worker uses.
pub(crate) const ROOT_ID: u32 = 1;

/// Identifies a stream (an HTTP context) of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub(crate) u32);

impl StreamId {
    /// The context id the guest knows this stream by.
    pub fn context_id(self) -> u32 {
        self.0
    }
}

/// One VM instance over a shared [`World`].
#[derive(Debug)]
pub struct Worker {
    pub(crate) index: usize,
    pub(crate) store: Store<HostState>,
    pub(crate) instance: Instance,
    pub(crate) next_context_id: u32,
    pub(crate) dead: bool,
}

/// Deterministic "entropy" for WASI `random_get`, different per worker.
fn seeded_bytes(seed: u64) -> Vec<u8> {
    // splitmix64: good enough to look random, fully reproducible.
    let mut state = seed;
    (0..512)
        .flat_map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)).to_le_bytes()
        })
        .collect()
}

impl Worker {
    /// Instantiates `artifact` as worker `index` of `world` and starts its VM
    /// (root context, `proxy_on_vm_start`). Configure it next.
    pub fn new(world: &World, artifact: &Artifact, index: usize) -> Result<Worker, HostError> {
        Worker::with_entropy(world, artifact, index, seeded_bytes(index as u64 + 1))
    }

    /// [`Worker::new`] with WASI `random_get` answering `entropy` first (then the default
    /// stream): a guest that seeds its generator from its first 8 random bytes, as the
    /// breakwater filter does, is seeded with `u64::from_le_bytes(entropy[..8])`. The
    /// conformance runner uses it to seed the filter exactly like core's engine.
    pub fn with_entropy(
        world: &World,
        artifact: &Artifact,
        index: usize,
        mut entropy: Vec<u8>,
    ) -> Result<Worker, HostError> {
        entropy.extend(seeded_bytes(index as u64 + 1));
        let module = engine::module(artifact)?;
        let linker = engine::linker(&module)?;
        let stderr = MemoryOutputPipe::new(1 << 20);
        let wasi = WasiCtxBuilder::new()
            .stdout(stderr.clone())
            .stderr(stderr.clone())
            .wall_clock(WorldWallClock(world.clone()))
            .monotonic_clock(WorldMonotonicClock(world.clone()))
            .secure_random(Deterministic::new(entropy))
            .insecure_random(Deterministic::new(seeded_bytes(index as u64 + 101)))
            .build_p1();
        let state = HostState {
            wasi,
            stderr,
            world: world.clone(),
            root_id: ROOT_ID,
            effective: ROOT_ID,
            vm_config: Vec::new(),
            plugin_config: Vec::new(),
            properties: Default::default(),
            streams: Default::default(),
            next_tick_nanos: None,
            tick_period_ms: 0,
            metric_ids: Default::default(),
            log_level: LogLevel::Trace,
            logs: Vec::new(),
            host_calls: 0,
        };
        let mut store = Store::new(engine::engine(), state);
        store.call_hook(|mut state, hook| {
            if matches!(hook, CallHook::CallingHost) {
                state.data_mut().host_calls += 1;
            }
            Ok(())
        });
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(|e| HostError::Load(format!("{e:?}")))?;
        let mut worker = Worker {
            index,
            store,
            instance,
            next_context_id: ROOT_ID + 1,
            dead: false,
        };
        if worker
            .instance
            .get_func(&mut worker.store, "_initialize")
            .is_some()
        {
            worker.call::<(), ()>("_initialize", ROOT_ID, ())?;
        }
        worker.call::<(i32, i32), ()>("proxy_on_context_create", ROOT_ID, (ROOT_ID as i32, 0))?;
        let started =
            worker.call::<(i32, i32), i32>("proxy_on_vm_start", ROOT_ID, (ROOT_ID as i32, 0))?;
        if started == 0 {
            return Err(HostError::Load(format!(
                "proxy_on_vm_start returned false; log:\n{}",
                worker.log_text()
            )));
        }
        Ok(worker)
    }

    /// Calls `proxy_on_configure` with this plugin configuration; the guest's
    /// answer, its log lines are in [`Worker::logs`].
    pub fn configure(&mut self, plugin_config: &str) -> Result<bool, HostError> {
        self.store.data_mut().plugin_config = plugin_config.as_bytes().to_vec();
        let size = i32::try_from(plugin_config.len()).expect("configuration under 2 GiB");
        let ok =
            self.call::<(i32, i32), i32>("proxy_on_configure", ROOT_ID, (ROOT_ID as i32, size))?;
        Ok(ok != 0)
    }

    /// Calls `proxy_on_tick` now, then re-arms the tick one period later.
    pub fn tick(&mut self) -> Result<(), HostError> {
        let state = self.store.data_mut();
        let period = u64::from(state.tick_period_ms) * 1_000_000;
        state.next_tick_nanos =
            (period > 0).then(|| state.world.now_nanos().saturating_add(period));
        self.call::<i32, ()>("proxy_on_tick", ROOT_ID, ROOT_ID as i32)?;
        self.pump()
    }

    /// When the next tick is due on the world clock; `None` if no period is set, or if the VM
    /// trapped (a dead VM gets no more callbacks; Envoy would replace it, which this host does
    /// not model).
    pub fn next_tick_nanos(&self) -> Option<u64> {
        if self.dead {
            return None;
        }
        self.store.data().next_tick_nanos
    }

    /// The tick period the guest set, in milliseconds (0: none).
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }

    /// This worker's index (as given to [`Worker::new`]).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The world this worker shares.
    pub fn world(&self) -> &World {
        &self.store.data().world
    }

    /// Every line the guest logged, in order.
    pub fn logs(&self) -> &[LogRecord] {
        &self.store.data().logs
    }

    /// The log as text, one `LEVEL message` line each (for assertion messages).
    pub fn log_text(&self) -> String {
        self.logs()
            .iter()
            .map(|r| format!("{:?} {}\n", r.level, r.message))
            .collect()
    }

    /// Lowest level kept by `proxy_log` and answered by `proxy_get_log_level`.
    pub fn set_log_level(&mut self, level: LogLevel) {
        self.store.data_mut().log_level = level;
    }

    /// Sets a property every stream of this worker sees (dotted path, raw bytes).
    pub fn set_property(&mut self, path: &str, value: impl Into<Vec<u8>>) {
        self.store
            .data_mut()
            .properties
            .insert(path.to_owned(), value.into());
    }

    /// What the host saw of a stream of this worker (also after it finished).
    pub fn stream(&self, id: StreamId) -> Option<&Stream> {
        self.store.data().streams.get(&id.0)
    }

    /// Host calls (imports: proxy-wasm and WASI) this VM has made so far. Every one costs
    /// Envoy a crossing out of the VM, so the hot path's count is pinned by tests.
    pub fn host_calls(&self) -> u64 {
        self.store.data().host_calls
    }

    /// The VM trapped and is dead.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Calls a guest export with `context` as the effective context.
    pub(crate) fn call<P: WasmParams, R: WasmResults>(
        &mut self,
        export: &'static str,
        context: u32,
        params: P,
    ) -> Result<R, HostError> {
        if self.dead {
            return Err(HostError::VmFailed);
        }
        let func = self
            .instance
            .get_typed_func::<P, R>(&mut self.store, export)
            .map_err(|e| HostError::Load(format!("export {export}: {e:?}")))?;
        self.store.data_mut().effective = context;
        let result = func.call(&mut self.store, params);
        self.store.data_mut().effective = ROOT_ID;
        result.map_err(|error| {
            self.dead = true;
            let state = self.store.data();
            let critical: Vec<&str> = state
                .logs
                .iter()
                .filter(|r| r.level == LogLevel::Critical)
                .map(|r| r.message.as_str())
                .collect();
            HostError::Trap {
                callback: export,
                message: format!(
                    "{error:?}\nguest critical log: {critical:?}\nguest stderr: {}",
                    state.guest_stderr()
                ),
            }
        })
    }
}
