//! gRPC status codes, their names, and header parsing.
//!
//! The codes are the seventeen of the gRPC specification (`doc/statuscodes.md`), kept as plain
//! `u32` constants rather than an enum: a `grpc-status` header can carry any number, and the
//! specification tells clients to treat a code they do not know as `UNKNOWN`, which
//! [`normalize_grpc_code`] does. Names are accepted in any ASCII case because operators write
//! both `UNAVAILABLE` (the specification) and `unavailable` (most client libraries).
//!
//! The parsers take raw header bytes, because that is what a proxy-wasm host hands over: they
//! must survive anything a client or a broken upstream sends (non-digits, signs, invalid UTF-8,
//! numbers too large for the type) and answer `None` instead of panicking.

/// Not an error; returned on success.
pub const OK: u32 = 0;
/// The operation was cancelled, typically by the caller.
pub const CANCELLED: u32 = 1;
/// Unknown error, including any status code this table does not know.
pub const UNKNOWN: u32 = 2;
/// The client specified an invalid argument.
pub const INVALID_ARGUMENT: u32 = 3;
/// The deadline expired before the operation could complete.
pub const DEADLINE_EXCEEDED: u32 = 4;
/// Some requested entity was not found.
pub const NOT_FOUND: u32 = 5;
/// The entity a client attempted to create already exists.
pub const ALREADY_EXISTS: u32 = 6;
/// The caller does not have permission to execute the operation.
pub const PERMISSION_DENIED: u32 = 7;
/// Some resource (a quota, a concurrency limit) has been exhausted.
pub const RESOURCE_EXHAUSTED: u32 = 8;
/// The system is not in a state required for the operation.
pub const FAILED_PRECONDITION: u32 = 9;
/// The operation was aborted, typically by a concurrency conflict.
pub const ABORTED: u32 = 10;
/// The operation was attempted past the valid range.
pub const OUT_OF_RANGE: u32 = 11;
/// The operation is not implemented or not supported.
pub const UNIMPLEMENTED: u32 = 12;
/// Internal error: an invariant of the server is broken.
pub const INTERNAL: u32 = 13;
/// The service is currently unavailable; retrying may succeed.
pub const UNAVAILABLE: u32 = 14;
/// Unrecoverable data loss or corruption.
pub const DATA_LOSS: u32 = 15;
/// The request does not have valid authentication credentials.
pub const UNAUTHENTICATED: u32 = 16;

/// The largest code the specification defines.
pub const MAX_CODE: u32 = UNAUTHENTICATED;

/// The specification's names, indexed by code.
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code named `name` (`"UNAVAILABLE"` or `"unavailable"`), or `None` for an unknown name.
pub fn grpc_code_from_name(name: &str) -> Option<u32> {
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .and_then(|i| u32::try_from(i).ok())
}

/// The specification's name of `code` (`14` is `"UNAVAILABLE"`), or `None` above 16.
pub fn grpc_code_name(code: u32) -> Option<&'static str> {
    NAMES.get(usize::try_from(code).ok()?).copied()
}

/// `code` itself when the specification defines it, otherwise [`UNKNOWN`], as the specification
/// asks clients to treat codes they do not know.
pub const fn normalize_grpc_code(code: u32) -> u32 {
    if code <= MAX_CODE { code } else { UNKNOWN }
}

/// Parses a `grpc-status` header value: ASCII decimal digits, optionally surrounded by spaces or
/// tabs. Anything else (empty, signs, other characters, invalid UTF-8, a value above
/// `u32::MAX`) is `None`. Codes above 16 are returned as they are; see [`normalize_grpc_code`].
pub fn parse_grpc_status(value: &[u8]) -> Option<u32> {
    let digits = trim_ows(value);
    // More than 10 digits cannot fit a u32 (leading zeros aside, which nobody sends).
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut code: u32 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        code = code.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(code)
}

/// Parses an HTTP `:status` value: exactly three ASCII digits, optionally surrounded by spaces or
/// tabs, in `100..=599`. Anything else is `None`.
pub fn parse_http_status(value: &[u8]) -> Option<u16> {
    match trim_ows(value) {
        &[a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            (100..=599).contains(&status).then_some(status)
        }
        _ => None,
    }
}

/// Strips HTTP optional whitespace (spaces and tabs) from both ends.
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_for_every_code() {
        for code in 0..=MAX_CODE {
            let name = grpc_code_name(code).unwrap();
            assert_eq!(grpc_code_from_name(name), Some(code));
            assert_eq!(grpc_code_from_name(&name.to_ascii_lowercase()), Some(code));
        }
        assert_eq!(grpc_code_name(UNAVAILABLE), Some("UNAVAILABLE"));
        assert_eq!(grpc_code_from_name("unavailable"), Some(14));
        assert_eq!(grpc_code_from_name("Deadline_Exceeded"), Some(4));
        assert_eq!(grpc_code_name(17), None);
        assert_eq!(grpc_code_name(u32::MAX), None);
        assert_eq!(grpc_code_from_name("UNAVAILBLE"), None);
        assert_eq!(grpc_code_from_name(""), None);
        assert_eq!(grpc_code_from_name("14"), None);
    }

    #[test]
    fn unknown_codes_normalize_to_unknown() {
        assert_eq!(normalize_grpc_code(UNAUTHENTICATED), UNAUTHENTICATED);
        assert_eq!(normalize_grpc_code(17), UNKNOWN);
        assert_eq!(normalize_grpc_code(u32::MAX), UNKNOWN);
    }

    #[test]
    fn grpc_status_parsing() {
        assert_eq!(parse_grpc_status(b"0"), Some(0));
        assert_eq!(parse_grpc_status(b"14"), Some(14));
        assert_eq!(parse_grpc_status(b" 14\t"), Some(14));
        assert_eq!(parse_grpc_status(b"99"), Some(99));
        assert_eq!(parse_grpc_status(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_grpc_status(b"4294967296"), None);
        assert_eq!(parse_grpc_status(b"99999999999999999999"), None);
        assert_eq!(parse_grpc_status(b""), None);
        assert_eq!(parse_grpc_status(b"   "), None);
        assert_eq!(parse_grpc_status(b"-1"), None);
        assert_eq!(parse_grpc_status(b"+1"), None);
        assert_eq!(parse_grpc_status(b"1 4"), None);
        assert_eq!(parse_grpc_status(b"UNAVAILABLE"), None);
        assert_eq!(parse_grpc_status(b"\xff\xfe"), None);
    }

    #[test]
    fn http_status_parsing() {
        assert_eq!(parse_http_status(b"200"), Some(200));
        assert_eq!(parse_http_status(b"503"), Some(503));
        assert_eq!(parse_http_status(b" 100 "), Some(100));
        assert_eq!(parse_http_status(b"599"), Some(599));
        assert_eq!(parse_http_status(b"600"), None);
        assert_eq!(parse_http_status(b"099"), None);
        assert_eq!(parse_http_status(b"99"), None);
        assert_eq!(parse_http_status(b"5000"), None);
        assert_eq!(parse_http_status(b"65536"), None);
        assert_eq!(parse_http_status(b"5x3"), None);
        assert_eq!(parse_http_status(b""), None);
        assert_eq!(parse_http_status(b"\xc3\x28\xa0"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = parse_grpc_status(&bytes);
            if let Some(s) = parse_http_status(&bytes) {
                prop_assert!((100..=599).contains(&s));
            }
        }

        #[test]
        fn grpc_status_parses_every_u32(code in any::<u32>()) {
            prop_assert_eq!(parse_grpc_status(code.to_string().as_bytes()), Some(code));
        }

        #[test]
        fn http_status_parses_every_valid_status(status in 100u16..=599) {
            prop_assert_eq!(parse_http_status(status.to_string().as_bytes()), Some(status));
        }

        #[test]
        fn name_lookup_never_panics(name in ".{0,24}") {
            if let Some(code) = grpc_code_from_name(&name) {
                prop_assert!(code <= MAX_CODE);
            }
        }
    }
}
