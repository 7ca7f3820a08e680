//! Compiling once, linking every ABI area.
//!
//! Cranelift in a debug build takes seconds per module, so each artifact is
//! compiled once per test binary and cached (`OnceLock`); each worker then only
//! instantiates it. This cache is the only process-wide state of the harness,
//! and it holds nothing a test can change.
//!
//! The linker has WASI preview 1 (wasmtime-wasi, with the world's clocks and a
//! seeded random source) and every `env.proxy_*` function the host models. Any
//! other `env` import the module declares (HTTP/gRPC callouts, shared queues,
//! foreign functions) is linked to a function that traps naming the call, so a
//! guest that uses one fails loudly instead of failing to instantiate.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use wasmtime::{Engine, ExternType, Linker, Module, format_err};

use super::state::HostState;
use super::{HostError, header_maps, logs, metrics, properties, shared_data, streams, timers};
use artifacts::Artifact;

/// The engine every worker shares.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

/// The compiled module of an artifact, compiled on first use. The lock is
/// held while compiling so parallel tests wait for one compile instead of
/// all compiling the same module at once.
pub(crate) fn module(artifact: &Artifact) -> Result<Module, HostError> {
    static MODULES: OnceLock<Mutex<HashMap<Artifact, Module>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(module) = modules.get(artifact) {
        return Ok(module.clone());
    }
    let bytes = artifact.read()?;
    let module = Module::new(engine(), bytes)
        .map_err(|e| HostError::Load(format!("{}: {e:?}", artifact.package())))?;
    modules.insert(*artifact, module.clone());
    Ok(module)
}

/// A linker with WASI p1, the modelled host calls, and trapping stubs for the rest.
pub(crate) fn linker(module: &Module) -> Result<Linker<HostState>, HostError> {
    let load = |e: wasmtime::Error| HostError::Load(format!("{e:?}"));
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut HostState| &mut state.wasi)
        .map_err(load)?;
    header_maps::add_to_linker(&mut linker).map_err(load)?;
    properties::add_to_linker(&mut linker).map_err(load)?;
    shared_data::add_to_linker(&mut linker).map_err(load)?;
    streams::add_to_linker(&mut linker).map_err(load)?;
    timers::add_to_linker(&mut linker).map_err(load)?;
    metrics::add_to_linker(&mut linker).map_err(load)?;
    logs::add_to_linker(&mut linker).map_err(load)?;

    for import in module.imports() {
        let (ExternType::Func(ty), "env") = (import.ty(), import.module()) else {
            continue;
        };
        let name = import.name().to_owned();
        // Shadowing is off, so this fails exactly for the calls defined above.
        let _already_modelled = linker
            .func_new("env", import.name(), ty, move |_, _, _| {
                Err(format_err!(
                    "host call env.{name} is not modelled by the host-tests harness"
                ))
            })
            .is_err();
    }
    Ok(linker)
}
