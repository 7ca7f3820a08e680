//! Numbers and wire formats of the proxy-wasm ABI 0.2.1, as the Rust SDK
//! 0.2.5 (`src/types.rs`, `src/hostcalls.rs`) reads them.
//!
//! The SDK panics on a status it does not expect for a given call, so each
//! host function returns only the codes the SDK handles for it.

use std::convert::TryFrom;

use super::state::Headers;

/// `proxy_status_t` values the host returns.
pub(crate) mod status {
    pub(crate) const OK: i32 = 0;
    pub(crate) const NOT_FOUND: i32 = 1;
    pub(crate) const BAD_ARGUMENT: i32 = 2;
    pub(crate) const CAS_MISMATCH: i32 = 8;
}

/// `MapType`.
pub(crate) mod map_type {
    pub(crate) const REQUEST_HEADERS: i32 = 0;
    pub(crate) const REQUEST_TRAILERS: i32 = 1;
    pub(crate) const RESPONSE_HEADERS: i32 = 2;
    pub(crate) const RESPONSE_TRAILERS: i32 = 3;
}

/// `BufferType`.
pub(crate) mod buffer_type {
    pub(crate) const REQUEST_BODY: i32 = 0;
    pub(crate) const RESPONSE_BODY: i32 = 1;
    pub(crate) const VM_CONFIGURATION: i32 = 6;
    pub(crate) const PLUGIN_CONFIGURATION: i32 = 7;
}

/// `StreamType`.
pub(crate) mod stream_type {
    pub(crate) const REQUEST: i32 = 0;
    pub(crate) const RESPONSE: i32 = 1;
}

/// `MetricType`.
pub(crate) mod metric_type {
    pub(crate) const COUNTER: i32 = 0;
    pub(crate) const GAUGE: i32 = 1;
    pub(crate) const HISTOGRAM: i32 = 2;
}

/// Serializes a header map: a u32 count, then (name length, value length)
/// u32 pairs, then each name and value followed by a NUL byte; all LE.
pub(crate) fn serialize_map(map: &Headers) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&len_u32(map.len()).to_le_bytes());
    for (name, value) in map {
        bytes.extend_from_slice(&len_u32(name.len()).to_le_bytes());
        bytes.extend_from_slice(&len_u32(value.len()).to_le_bytes());
    }
    for (name, value) in map {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// The inverse of [`serialize_map`]; `None` if the guest sent a malformed map.
pub(crate) fn deserialize_map(bytes: &[u8]) -> Option<Headers> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> {
        let raw = <[u8; 4]>::try_from(bytes.get(at..at + 4)?).ok()?;
        usize::try_from(u32::from_le_bytes(raw)).ok()
    };
    let count = word(0)?;
    let mut data = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut map = Vec::with_capacity(count.min(1024));
    for n in 0..count {
        let name_len = word(4 + n * 8)?;
        let value_len = word(8 + n * 8)?;
        let name = bytes.get(data..data + name_len)?;
        data += name_len + 1;
        let value = bytes.get(data..data + value_len)?;
        data += value_len + 1;
        map.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    Some(map)
}

/// A property path arrives as NUL-separated segments; the harness keys
/// properties by their dotted form (`xds.cluster_name`).
pub(crate) fn property_key(path: &[u8]) -> String {
    String::from_utf8_lossy(path).replace('\0', ".")
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a header map larger than 4 GiB")
}
