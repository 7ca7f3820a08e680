//! Keyed breakers: one breaker per gRPC method, request path or header value (`key_by`).
//!
//! One breaker for a whole upstream sheds every call when one method fails: a broken
//! `/pay.Ledger/Refund` opens the breaker for the healthy `/pay.Ledger/Balance` too. Source 000
//! asks for "one breaker per fully-qualified RPC method path", which this module makes possible.
//!
//! But a key taken from a request is chosen by the client: a breaker per path, unbounded, is a
//! way for anyone to grow shared state at will. So a policy holds at most `max_keys` keys, shared
//! by every worker (see `engine::keyed`); a key idle for `key_idle_ms` whose breaker is closed
//! may be evicted to admit a new one; a key that finds no room shares the policy's catch-all
//! breaker ([`CATCH_ALL`]) and is counted. Keys longer than [`MAX_KEY_LEN`] bytes are replaced by
//! a hash ([`bounded_key`]), so neither the number nor the size of keys is the client's to pick.
//!
//! What a request is keyed by when it has no key (a gRPC-keyed policy matching a plain HTTP
//! request, a header that is absent) is the catch-all breaker too; that is not an overflow.

use crate::request::RequestInfo;

/// The key of the breaker shared by requests without a key or without room for theirs.
pub const CATCH_ALL: &str = "~other";

/// Default of `max_keys`: keys a keyed policy tracks across all workers.
pub const DEFAULT_MAX_KEYS: u32 = 64;

/// Largest `max_keys` (bounds the shared registry to a few tens of KB).
pub const MAX_KEYS_LIMIT: u32 = 1024;

/// Default of `key_idle_ms`: ten minutes without a request before a closed key may be evicted.
pub const DEFAULT_KEY_IDLE_MS: u64 = 600_000;

/// Longest key kept as written, in bytes; a longer one is replaced by `#` and 16 hex digits of
/// its hash.
pub const MAX_KEY_LEN: usize = 128;

/// What a policy keys its breaker by (`breaker.key_by`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyBy {
    /// The gRPC method: the `:path` of a gRPC request (`/pkg.Service/Method`); requests that are
    /// not gRPC use the catch-all breaker.
    GrpcMethod,
    /// The request path without its query string.
    Path,
    /// The value of this request header (the name is read lowercase); requests without it use
    /// the catch-all breaker.
    Header(String),
}

impl KeyBy {
    /// The key of `req` (`grpc`: its content type is gRPC); `None` sends it to the catch-all.
    /// Borrowed from the request: no allocation.
    pub fn key_of<'r>(&self, req: &RequestInfo<'r>, grpc: bool) -> Option<&'r str> {
        let key = match self {
            KeyBy::GrpcMethod if grpc => req.path,
            KeyBy::GrpcMethod => return None,
            KeyBy::Path => req.path.split(['?', '#']).next().unwrap_or(""),
            KeyBy::Header(name) => req.headers.header(name)?,
        };
        (!key.is_empty()).then_some(key)
    }

    /// The header name, for `KeyBy::Header`.
    pub fn header(&self) -> Option<&str> {
        match self {
            KeyBy::Header(h) => Some(h),
            _ => None,
        }
    }
}

/// A key hashed when too long: `#` and 16 hex digits.
pub type HashedKey = [u8; 17];

/// `key` itself when at most [`MAX_KEY_LEN`] bytes, else its hashed form written into `buf`
/// (FNV-1a 64: not a secret, only a bound; a collision merely shares a breaker).
pub fn bounded_key<'k>(key: &'k str, buf: &'k mut HashedKey) -> &'k str {
    if key.len() <= MAX_KEY_LEN {
        return key;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    buf[0] = b'#';
    for i in 0..16 {
        let nibble = ((h >> (60 - 4 * i)) & 0xf) as u8;
        buf[1 + i] = if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + nibble - 10
        };
    }
    // Only ASCII was written.
    std::str::from_utf8(&buf[..]).unwrap_or(CATCH_ALL)
}

/// Whether `name` can be a header name (RFC 9110 token characters, lowercase).
pub(crate) fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_request() {
        let headers = [("x-tenant", "acme")];
        let mut req = RequestInfo::new("POST", "/pay.Ledger/Refund?x=1");
        req.headers = &headers;
        assert_eq!(
            KeyBy::GrpcMethod.key_of(&req, true),
            Some("/pay.Ledger/Refund?x=1")
        );
        assert_eq!(KeyBy::GrpcMethod.key_of(&req, false), None);
        assert_eq!(KeyBy::Path.key_of(&req, false), Some("/pay.Ledger/Refund"));
        let tenant = KeyBy::Header("x-tenant".into());
        assert_eq!(tenant.key_of(&req, false), Some("acme"));
        assert_eq!(KeyBy::Header("x-other".into()).key_of(&req, false), None);
        assert_eq!(
            KeyBy::Path.key_of(&RequestInfo::new("GET", "?q"), false),
            None
        );
    }

    #[test]
    fn long_keys_are_hashed_short_ones_kept() {
        let mut buf = [0; 17];
        assert_eq!(bounded_key("/a", &mut buf), "/a");
        let long = "x".repeat(MAX_KEY_LEN + 1);
        let hashed = bounded_key(&long, &mut buf).to_owned();
        assert_eq!(hashed.len(), 17);
        assert!(hashed.starts_with('#'));
        let other = format!("{long}y");
        let mut buf2 = [0; 17];
        assert_ne!(bounded_key(&other, &mut buf2), hashed);
        let exact = "x".repeat(MAX_KEY_LEN);
        assert_eq!(bounded_key(&exact, &mut buf), exact);
    }

    #[test]
    fn header_names_are_checked() {
        assert!(valid_header_name("x-tenant"));
        assert!(!valid_header_name(""));
        assert!(!valid_header_name("X-Tenant"));
        assert!(!valid_header_name("x tenant"));
    }
}
