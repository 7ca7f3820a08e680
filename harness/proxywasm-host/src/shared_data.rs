//! Shared data: `proxy_get_shared_data`, `proxy_set_shared_data`.
//!
//! Both go straight to the [`World`](super::World), so every worker over one
//! world sees the same map with the same CAS tokens; the CAS rules and the
//! mismatch injection live there. A missing key is `NotFound` (the SDK returns
//! `(None, None)`); a refused conditional set is `CasMismatch`.

use wasmtime::{Linker, Result};

use super::abi::status;
use super::memory::{Ctx, read_bytes, read_string, return_buffer, write_u32};
use super::state::HostState;
use super::world::SetOutcome;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut caller: Ctx<'_>,
         key_ptr: i32,
         key_size: i32,
         ptr_ptr: i32,
         size_ptr: i32,
         cas_ptr: i32|
         -> Result<i32> {
            let key = read_string(&mut caller, key_ptr, key_size)?;
            // Copy out and release the world before calling into the guest.
            let entry = caller.data().world.lock().shared.get(&key).cloned();
            let Some((value, cas)) = entry else {
                return Ok(status::NOT_FOUND);
            };
            return_buffer(&mut caller, &value, ptr_ptr, size_ptr)?;
            write_u32(&mut caller, cas_ptr, cas)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut caller: Ctx<'_>,
         key_ptr: i32,
         key_size: i32,
         value_ptr: i32,
         value_size: i32,
         cas: i32|
         -> Result<i32> {
            let key = read_string(&mut caller, key_ptr, key_size)?;
            let value = read_bytes(&mut caller, value_ptr, value_size)?;
            let outcome = caller
                .data()
                .world
                .lock()
                .set_shared(&key, value, cas as u32);
            Ok(match outcome {
                SetOutcome::Ok => status::OK,
                SetOutcome::CasMismatch => status::CAS_MISMATCH,
            })
        },
    )?;
    Ok(())
}
