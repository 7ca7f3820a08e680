//! Properties: `proxy_get_property`, `proxy_set_property`.
//!
//! Envoy answers a property path (NUL-separated segments such as
//! `xds\0cluster_name`) from the stream's info, the route, the upstream and
//! the node. The harness keys properties by their dotted path and looks them
//! up in the effective stream first, then in the worker's defaults; tests set
//! both (`Worker::set_property`, `RequestBuilder::property`). Values are raw
//! bytes, as on the wire: `upstream.request_attempt_count` is an 8-byte LE u64.
//! A property nobody set is `NotFound`, which the SDK reads as `None`.

use wasmtime::{Linker, Result};

use super::abi::{property_key, status};
use super::memory::{Ctx, read_bytes, return_buffer};
use super::state::HostState;

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut caller: Ctx<'_>,
         path_ptr: i32,
         path_size: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> Result<i32> {
            let key = property_key(&read_bytes(&mut caller, path_ptr, path_size)?);
            let state = caller.data_mut();
            let from_stream = state
                .effective_stream()
                .and_then(|s| s.properties.get(&key).cloned());
            let Some(value) = from_stream.or_else(|| state.properties.get(&key).cloned()) else {
                return Ok(status::NOT_FOUND);
            };
            return_buffer(&mut caller, &value, ptr_ptr, size_ptr)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut caller: Ctx<'_>,
         path_ptr: i32,
         path_size: i32,
         value_ptr: i32,
         value_size: i32|
         -> Result<i32> {
            let key = property_key(&read_bytes(&mut caller, path_ptr, path_size)?);
            let value = read_bytes(&mut caller, value_ptr, value_size)?;
            let state = caller.data_mut();
            match state.effective_stream() {
                Some(stream) => stream.properties.insert(key, value),
                None => state.properties.insert(key, value),
            };
            Ok(status::OK)
        },
    )?;
    Ok(())
}
