//! Reading a request's headers from Envoy at the lowest cost.
//!
//! In Envoy every host call costs about 2–4 µs of CPU, whatever it does (BENCHMARKS.md measured
//! nine extra calls of each kind): crossing out of V8 dominates, not the work behind it. So what
//! counts is the number of calls, and the engine tells exactly what it may look at
//! ([`breakwater_core::RequestNeeds`]):
//!
//! - each header the engine asks for, one value at a time, when it asks (a plain breaker reads
//!   `content-type`; a retry policy `:method` too, and the idempotency header only for a POST);
//! - the whole map in one call only when more than [`MAP_ABOVE`] names could be asked for: it
//!   cost between one and five single values in the `loadgen ab` runs (BENCHMARKS.md).
//!
//! Values are read as bytes: Envoy passes obs-text (bytes 0x80-0xFF) through, and the SDK's
//! `String` getters would panic on it and kill the VM. A value that is not UTF-8 is invisible to
//! matching (it can equal no configured value anyway).

use std::cell::OnceCell;

use breakwater_core::{HeaderLookup, RequestNeeds};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;

/// Above this many names, the whole map is read at once rather than values one by one.
pub const MAP_ABOVE: usize = 4;

/// The request headers a configuration can look at, and how to read them.
#[derive(Clone, Debug, Default)]
pub struct Lookups {
    /// Lowercase names, pseudo-headers (`:method`, `:path`) included.
    names: Vec<String>,
    /// Read the whole map at once (more than [`MAP_ABOVE`] names) rather than values one by one.
    whole_map: bool,
}

impl Lookups {
    /// What `needs` asks for, plus `:path` when an operator endpoint (status, reset) is served.
    pub fn new(needs: &RequestNeeds, status_path: bool) -> Lookups {
        let mut names = Vec::new();
        if needs.method {
            names.push(":method".to_owned());
        }
        if needs.path || status_path {
            names.push(":path".to_owned());
        }
        names.extend(needs.headers.iter().cloned());
        Lookups {
            whole_map: names.len() > MAP_ABOVE,
            names,
        }
    }
}

/// One request's headers, as far as the configuration looks at them.
#[derive(Debug)]
pub struct RequestHeaders<'a> {
    lookups: &'a Lookups,
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// Every header, read in one call.
    Map(Vec<(String, Vec<u8>)>),
    /// One cell per name of [`Lookups`] (at most [`MAP_ABOVE`]), filled on first use; an
    /// array, so describing a request allocates nothing but the values read.
    Values([OnceCell<Option<String>>; MAP_ABOVE]),
}

impl<'a> RequestHeaders<'a> {
    /// Reads the current request's headers as `lookups` says (the map now, values on demand).
    pub fn read(lookups: &'a Lookups) -> RequestHeaders<'a> {
        let source = if lookups.whole_map {
            Source::Map(hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default())
        } else {
            Source::Values(Default::default())
        };
        RequestHeaders { lookups, source }
    }

    /// The value of `name`, or `""` when absent, not UTF-8 or not looked at.
    pub fn get(&self, name: &str) -> &str {
        self.header(name).unwrap_or("")
    }
}

impl HeaderLookup for RequestHeaders<'_> {
    /// A name outside [`Lookups`] reads as absent: core's tests hold the engine to asking only
    /// for what [`RequestNeeds`] names.
    fn header(&self, name: &str) -> Option<&str> {
        match &self.source {
            Source::Map(map) => map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| std::str::from_utf8(v).ok()),
            Source::Values(cells) => {
                let i = self.lookups.names.iter().position(|n| n == name)?;
                cells[i].get_or_init(|| value(name)).as_deref()
            }
        }
    }
}

/// One request header's value, if present and UTF-8.
fn value(name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(method: bool, path: bool, headers: &[&str]) -> RequestNeeds {
        RequestNeeds {
            method,
            path,
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            ..RequestNeeds::default()
        }
    }

    #[test]
    fn a_few_names_are_read_as_values_many_as_the_map() {
        let plain = Lookups::new(&needs(false, false, &["content-type"]), false);
        assert!(!plain.whole_map);
        let retry = Lookups::new(
            &needs(true, false, &["content-type", "idempotency-key"]),
            true,
        );
        assert!(!retry.whole_map);
        assert_eq!(
            retry.names,
            [":method", ":path", "content-type", "idempotency-key"]
        );
        let many = Lookups::new(&needs(true, true, &["content-type", "a", "b"]), false);
        assert!(many.whole_map);
        assert!(!Lookups::new(&RequestNeeds::default(), false).whole_map);
    }
}
