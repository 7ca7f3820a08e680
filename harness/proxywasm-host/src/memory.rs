//! Guest memory: reading what the guest passes, returning what it asked for.
//!
//! Arguments are (pointer, length) pairs into the guest's exported `memory`.
//! A returned buffer must live in guest memory the guest owns: the host asks
//! the guest to allocate it through its `proxy_on_memory_allocate` export,
//! copies the bytes there and writes the pointer and size into the two
//! out-parameters. The SDK then takes ownership (`Vec::from_raw_parts`). An
//! empty buffer is returned as a null pointer, as Envoy does; the SDK reads
//! that as "no value".

use wasmtime::{Caller, Extern, Memory, Result, bail, format_err};

use super::state::HostState;

/// The caller every host function receives.
pub(crate) type Ctx<'a> = Caller<'a, HostState>;

fn memory(caller: &mut Ctx<'_>) -> Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => bail!("the guest exports no `memory`"),
    }
}

fn span(ptr: i32, len: i32) -> Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or_else(|| format_err!("buffer overflows"))?;
    Ok(start..end)
}

/// Copies `len` bytes at `ptr` out of guest memory.
pub(crate) fn read_bytes(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let memory = memory(caller)?;
    let range = span(ptr, len)?;
    memory
        .data(&caller)
        .get(range.clone())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("guest buffer {range:?} is out of bounds"))
}

/// Reads a string argument (lossy: the host never traps on a bad byte in a name).
pub(crate) fn read_string(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<String> {
    Ok(String::from_utf8_lossy(&read_bytes(caller, ptr, len)?).into_owned())
}

/// Writes `bytes` at `ptr` in guest memory.
pub(crate) fn write_bytes(caller: &mut Ctx<'_>, ptr: i32, bytes: &[u8]) -> Result<()> {
    let memory = memory(caller)?;
    let range = span(ptr, i32::try_from(bytes.len())?)?;
    let target = memory
        .data_mut(&mut *caller)
        .get_mut(range.clone())
        .ok_or_else(|| format_err!("guest out-parameter {range:?} is out of bounds"))?;
    target.copy_from_slice(bytes);
    Ok(())
}

/// Writes a u32 out-parameter (also pointers and `usize` sizes on wasm32).
pub(crate) fn write_u32(caller: &mut Ctx<'_>, ptr: i32, value: u32) -> Result<()> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}

/// Writes a u64 out-parameter.
pub(crate) fn write_u64(caller: &mut Ctx<'_>, ptr: i32, value: u64) -> Result<()> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}

/// Returns a buffer to the guest through `proxy_on_memory_allocate`.
pub(crate) fn return_buffer(
    caller: &mut Ctx<'_>,
    data: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> Result<()> {
    let mut address = 0u32;
    if !data.is_empty() {
        let allocate = caller
            .get_export("proxy_on_memory_allocate")
            .and_then(Extern::into_func)
            .ok_or_else(|| format_err!("the guest exports no `proxy_on_memory_allocate`"))?
            .typed::<i32, i32>(&caller)?;
        let ptr = allocate.call(&mut *caller, i32::try_from(data.len())?)?;
        if ptr == 0 {
            bail!("proxy_on_memory_allocate({}) returned null", data.len());
        }
        write_bytes(caller, ptr, data)?;
        address = ptr as u32;
    }
    write_u32(caller, ptr_ptr, address)?;
    write_u32(caller, size_ptr, u32::try_from(data.len())?)
}
