//! Stream control and bodies: `proxy_continue_stream`, `proxy_close_stream`,
//! `proxy_send_local_response`, `proxy_set_effective_context`,
//! `proxy_{get,set}_buffer_bytes`, `proxy_done`.
//!
//! These calls only record what the filter decided; the
//! [`Worker`](super::Worker) acts on it after the callback returns, as Envoy
//! does: a local reply is then sent through the filter's own
//! `on_http_response_headers`/`_body` (Envoy's local replies pass through the
//! encoder filters) and the stream finishes (`on_log`, `on_done`,
//! `on_delete`).
//!
//! `proxy_set_effective_context` accepts the root context and live streams of
//! this worker only; a finished (or reset) stream is `BadArgument`, which is
//! how Envoy reports a client that went away. Context ids repeat across
//! workers, as in Envoy: each worker numbers its own.
//!
//! Buffers: the request and response bodies of the effective stream (what the
//! test sent so far), the VM and plugin configuration; others are `NotFound`.

use wasmtime::{Linker, Result};

use super::abi::{buffer_type, deserialize_map, status, stream_type};
use super::memory::{Ctx, read_bytes, read_string, return_buffer};
use super::state::{HostState, Life, LocalReply};

fn buffer(state: &mut HostState, kind: i32) -> Option<&mut Vec<u8>> {
    match kind {
        buffer_type::REQUEST_BODY => state.effective_stream().map(|s| &mut s.request_body),
        buffer_type::RESPONSE_BODY => state.effective_stream().map(|s| &mut s.response_body),
        buffer_type::VM_CONFIGURATION => Some(&mut state.vm_config),
        buffer_type::PLUGIN_CONFIGURATION => Some(&mut state.plugin_config),
        _ => None,
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut caller: Ctx<'_>, kind: i32| -> Result<i32> {
            let Some(stream) = caller.data_mut().effective_stream() else {
                return Ok(status::BAD_ARGUMENT);
            };
            match kind {
                stream_type::REQUEST if stream.request_paused => {
                    stream.request_paused = false;
                    stream.resumed += 1;
                }
                stream_type::RESPONSE if stream.response_paused => {
                    stream.response_paused = false;
                    stream.resumed += 1;
                }
                stream_type::REQUEST | stream_type::RESPONSE => {}
                _ => return Ok(status::BAD_ARGUMENT),
            }
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |mut caller: Ctx<'_>, _kind: i32| -> Result<i32> {
            let Some(stream) = caller.data_mut().effective_stream() else {
                return Ok(status::BAD_ARGUMENT);
            };
            stream.close_requested = true;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut caller: Ctx<'_>,
         code: i32,
         details_ptr: i32,
         details_size: i32,
         body_ptr: i32,
         body_size: i32,
         headers_ptr: i32,
         headers_size: i32,
         grpc_status: i32|
         -> Result<i32> {
            let details = read_string(&mut caller, details_ptr, details_size)?;
            let body = read_bytes(&mut caller, body_ptr, body_size)?;
            let headers = read_bytes(&mut caller, headers_ptr, headers_size)?;
            let Some(headers) = deserialize_map(&headers) else {
                return Ok(status::BAD_ARGUMENT);
            };
            let Some(stream) = caller.data_mut().effective_stream() else {
                return Ok(status::BAD_ARGUMENT);
            };
            if stream.local_reply.is_some() {
                return Ok(status::BAD_ARGUMENT);
            }
            stream.local_reply = Some(LocalReply {
                status: code as u32,
                details,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
                body,
                grpc_status: u32::try_from(grpc_status).ok(),
            });
            stream.life = Life::ReplyPending;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut caller: Ctx<'_>, id: i32| -> Result<i32> {
            let id = id as u32;
            let state = caller.data_mut();
            let live = state.streams.get(&id).is_some_and(|s| s.life != Life::Done);
            if id != state.root_id && !live {
                return Ok(status::BAD_ARGUMENT);
            }
            state.effective = id;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Ctx<'_>,
         kind: i32,
         start: i32,
         max: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> Result<i32> {
            let Some(bytes) = buffer(caller.data_mut(), kind) else {
                return Ok(status::NOT_FOUND);
            };
            let start = (start as u32 as usize).min(bytes.len());
            let end = start.saturating_add(max as u32 as usize).min(bytes.len());
            let slice = bytes[start..end].to_vec();
            return_buffer(&mut caller, &slice, ptr_ptr, size_ptr)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut caller: Ctx<'_>,
         kind: i32,
         start: i32,
         size: i32,
         data_ptr: i32,
         data_size: i32|
         -> Result<i32> {
            let data = read_bytes(&mut caller, data_ptr, data_size)?;
            let Some(bytes) = buffer(caller.data_mut(), kind) else {
                return Ok(status::NOT_FOUND);
            };
            let start = (start as u32 as usize).min(bytes.len());
            let end = start.saturating_add(size as u32 as usize).min(bytes.len());
            bytes.splice(start..end, data);
            Ok(status::OK)
        },
    )?;
    linker.func_wrap("env", "proxy_done", |_caller: Ctx<'_>| -> Result<i32> {
        Ok(status::OK)
    })?;
    Ok(())
}
