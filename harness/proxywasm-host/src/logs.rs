//! Logs: `proxy_log`, `proxy_get_log_level`.
//!
//! Every log line is kept on the worker (read them with
//! [`Worker::logs`](super::Worker::logs)) and echoed to stderr through the
//! test's captured output, so a failing test shows what the filter said. The
//! SDK's panic hook logs the panic message at `Critical` before the trap;
//! [`HostError::Trap`](super::HostError::Trap) quotes it.

use wasmtime::{Linker, Result, format_err};

use super::abi::status;
use super::memory::{Ctx, read_string, write_u32};
use super::state::{HostState, LogLevel, LogRecord};

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut caller: Ctx<'_>, level: i32, ptr: i32, size: i32| -> Result<i32> {
            let level = LogLevel::from_abi(level)
                .ok_or_else(|| format_err!("proxy_log: bad level {level}"))?;
            let message = read_string(&mut caller, ptr, size)?;
            let state = caller.data_mut();
            if level >= state.log_level {
                eprintln!("[wasm {level:?} ctx={}] {message}", state.effective);
                state.logs.push(LogRecord {
                    level,
                    context_id: state.effective,
                    message,
                });
            }
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut caller: Ctx<'_>, ptr: i32| -> Result<i32> {
            let level = caller.data().log_level as u32;
            write_u32(&mut caller, ptr, level)?;
            Ok(status::OK)
        },
    )?;
    Ok(())
}
