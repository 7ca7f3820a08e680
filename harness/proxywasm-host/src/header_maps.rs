//! Header maps: `proxy_{get,set}_header_map_pairs`, `proxy_get_header_map_value`,
//! `proxy_{add,replace,remove}_header_map_value`.
//!
//! Maps belong to the effective stream. Names are compared and stored in
//! lowercase, as Envoy's header maps do. `get` returns the first value; `replace`
//! drops every value of the name and appends one; `remove` drops them all.
//! Outside a stream (the root context, a finished stream) or for a map type
//! the harness does not model (gRPC and HTTP-call maps), the host answers
//! `BadArgument`; the SDK panics on that, so the misuse surfaces as a trap.

use wasmtime::{Linker, Result};

use super::abi::{deserialize_map, map_type, serialize_map, status};
use super::memory::{Ctx, read_bytes, read_string, return_buffer};
use super::state::{Headers, HostState};

fn map_mut<'a>(caller: &'a mut Ctx<'_>, kind: i32) -> Option<&'a mut Headers> {
    let stream = caller.data_mut().effective_stream()?;
    match kind {
        map_type::REQUEST_HEADERS => Some(&mut stream.request_headers),
        map_type::REQUEST_TRAILERS => Some(&mut stream.request_trailers),
        map_type::RESPONSE_HEADERS => Some(&mut stream.response_headers),
        map_type::RESPONSE_TRAILERS => Some(&mut stream.response_trailers),
        _ => None,
    }
}

/// Applies `edit` to the map, or answers `BadArgument` when there is none.
fn with_map(caller: &mut Ctx<'_>, kind: i32, edit: impl FnOnce(&mut Headers)) -> i32 {
    match map_mut(caller, kind) {
        Some(map) => {
            edit(map);
            status::OK
        }
        None => status::BAD_ARGUMENT,
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Ctx<'_>, kind: i32, ptr_ptr: i32, size_ptr: i32| -> Result<i32> {
            let Some(map) = map_mut(&mut caller, kind) else {
                return Ok(status::BAD_ARGUMENT);
            };
            let bytes = serialize_map(map);
            return_buffer(&mut caller, &bytes, ptr_ptr, size_ptr)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut caller: Ctx<'_>, kind: i32, ptr: i32, size: i32| -> Result<i32> {
            let bytes = read_bytes(&mut caller, ptr, size)?;
            let Some(pairs) = deserialize_map(&bytes) else {
                return Ok(status::BAD_ARGUMENT);
            };
            let pairs: Headers = pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            Ok(with_map(&mut caller, kind, |map| *map = pairs))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Ctx<'_>,
         kind: i32,
         key_ptr: i32,
         key_size: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> Result<i32> {
            let key = read_string(&mut caller, key_ptr, key_size)?.to_ascii_lowercase();
            let Some(map) = map_mut(&mut caller, kind) else {
                return Ok(status::BAD_ARGUMENT);
            };
            let Some(value) = map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()) else {
                return Ok(status::NOT_FOUND);
            };
            return_buffer(&mut caller, value.as_bytes(), ptr_ptr, size_ptr)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut caller: Ctx<'_>,
         kind: i32,
         key_ptr: i32,
         key_size: i32,
         value_ptr: i32,
         value_size: i32|
         -> Result<i32> {
            let key = read_string(&mut caller, key_ptr, key_size)?.to_ascii_lowercase();
            let value = read_string(&mut caller, value_ptr, value_size)?;
            Ok(with_map(&mut caller, kind, |map| map.push((key, value))))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Ctx<'_>,
         kind: i32,
         key_ptr: i32,
         key_size: i32,
         value_ptr: i32,
         value_size: i32|
         -> Result<i32> {
            let key = read_string(&mut caller, key_ptr, key_size)?.to_ascii_lowercase();
            let value = read_string(&mut caller, value_ptr, value_size)?;
            Ok(with_map(&mut caller, kind, |map| {
                map.retain(|(k, _)| *k != key);
                map.push((key, value));
            }))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Ctx<'_>, kind: i32, key_ptr: i32, key_size: i32| -> Result<i32> {
            let key = read_string(&mut caller, key_ptr, key_size)?.to_ascii_lowercase();
            Ok(with_map(&mut caller, kind, |map| {
                map.retain(|(k, _)| *k != key)
            }))
        },
    )?;
    Ok(())
}
