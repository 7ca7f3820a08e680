//! What the engine needs to know about a request and its response.
//!
//! Adapters fill these from whatever their host offers (proxy-wasm header maps and properties,
//! WIT records), borrowing rather than copying, so describing a request costs no allocation.
//!
//! A bottom-layer module: the policy matcher (`config`) and the engine both read requests, so the
//! request types depend on neither; what a configuration needs of a request
//! ([`crate::Config::request_needs`]) is worked out in `config`.

/// Read access to request headers, by lowercase name.
pub trait HeaderLookup {
    /// The value of header `name` (lowercase), if present.
    fn header(&self, name: &str) -> Option<&str>;
}

fn find<'a, K: AsRef<str>, V: AsRef<str>>(pairs: &'a [(K, V)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl HeaderLookup for () {
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
}

/// A request as the engine sees it.
#[derive(Clone, Copy)]
pub struct RequestInfo<'a> {
    /// `:method`, e.g. `GET`.
    pub method: &'a str,
    /// `:path`, e.g. `/pay?x=1`.
    pub path: &'a str,
    /// Upstream cluster name (Envoy `xds.cluster_name`), empty if unknown.
    pub cluster: &'a str,
    /// Route name (Envoy `xds.route_name`), empty if unknown.
    pub route: &'a str,
    /// The request headers.
    pub headers: &'a dyn HeaderLookup,
}

impl core::fmt::Debug for RequestInfo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestInfo")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("cluster", &self.cluster)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl<'a> RequestInfo<'a> {
    /// A request with no cluster, route or headers (handy in tests and examples).
    pub fn new(method: &'a str, path: &'a str) -> Self {
        RequestInfo {
            method,
            path,
            cluster: "",
            route: "",
            headers: &(),
        }
    }
}

/// What of a request [`crate::Engine::on_request`] can look at under one configuration.
///
/// An adapter whose host charges for each read (in proxy-wasm every header or property is a
/// host call of a few µs, the whole header map more than a single value) reads only
/// these and leaves the rest empty: a field marked `false` never changes a decision, and a
/// header not in [`RequestNeeds::headers`] is never looked up. `core`'s tests hold the engine
/// to this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestNeeds {
    /// Some policy matches on `methods` or retries (idempotent methods may be retried).
    pub method: bool,
    /// Some policy matches on `path_prefix`, or keys its breaker by path or gRPC method.
    pub path: bool,
    /// Some policy matches on `cluster`.
    pub cluster: bool,
    /// Some policy matches on `route`.
    pub route: bool,
    /// Every header (lowercase) the engine may look up, each once: `content-type` (gRPC or
    /// not), the failure-injection header where injection is enabled with `header_trigger`, the
    /// idempotency header where retries are, the headers `match` sections name, and the header
    /// a breaker is keyed by.
    pub headers: Vec<String>,
}

impl RequestNeeds {
    /// Adds `name` to [`RequestNeeds::headers`] unless it is there already.
    pub(crate) fn add_header(&mut self, name: &str) {
        if !self.headers.iter().any(|h| h == name) {
            self.headers.push(name.to_owned());
        }
    }
}
