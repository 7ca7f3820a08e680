//! One error taxonomy for HTTP and gRPC.
//!
//! breakwater sits in front of services that speak HTTP, gRPC, or both, and its metrics, logs and
//! local replies should not care which. [`ErrorCategory`] names *what kind* of error happened in
//! nine words a dashboard can group by, and converts both ways so a reply can be written in the
//! caller's protocol.
//!
//! A category is *not* a verdict: whether an error trips the breaker or is retried is the
//! classifier's job ([`super::Classifier`]) and is configurable per policy. The category only says
//! whose fault the error most likely was and what it looks like on the wire.
//!
//! # The table
//!
//! | category       | HTTP in (`from_http`)             | gRPC in (`from_grpc`)                                   | HTTP out | gRPC out             |
//! |----------------|-----------------------------------|---------------------------------------------------------|----------|----------------------|
//! | `validation`   | 400, and any 4xx not listed below | `INVALID_ARGUMENT`, `FAILED_PRECONDITION`, `OUT_OF_RANGE` | 400    | `INVALID_ARGUMENT`   |
//! | `not_found`    | 404, 410, 501                     | `NOT_FOUND`, `UNIMPLEMENTED`                            | 404      | `NOT_FOUND`          |
//! | `conflict`     | 409                               | `ALREADY_EXISTS`, `ABORTED`                             | 409      | `ALREADY_EXISTS`     |
//! | `unauthorized` | 403                               | `PERMISSION_DENIED`                                     | 403      | `PERMISSION_DENIED`  |
//! | `unauthenticated` | 401, 407                       | `UNAUTHENTICATED`                                       | 401      | `UNAUTHENTICATED`    |
//! | `transient`    | 502, 503                          | `UNAVAILABLE`, `CANCELLED`                              | 503      | `UNAVAILABLE`        |
//! | `internal`     | 500, any 5xx not listed, any status outside 100..=599 | `INTERNAL`, `UNKNOWN`, `DATA_LOSS`, codes above 16 | 500 | `INTERNAL` |
//! | `timeout`      | 408, 504                          | `DEADLINE_EXCEEDED`                                     | 504      | `DEADLINE_EXCEEDED`  |
//! | `overload`     | 429                               | `RESOURCE_EXHAUSTED`                                    | 429      | `RESOURCE_EXHAUSTED` |
//!
//! 1xx, 2xx, 3xx and gRPC `OK` are not errors: `from_http`/`from_grpc` return `None`.
//!
//! The first six rows are source 000's taxonomy (validation, not found, conflict, unauthorized,
//! transient, internal and their gRPC codes: a test reads that table as the source writes it);
//! its `unauthorized` is `PERMISSION_DENIED`, the caller is known and not allowed. A caller
//! that is not known at all (401, `UNAUTHENTICATED`) is a different fix for the client (send
//! credentials, not ask for access), so it has its own category, `unauthenticated`.
//!
//! Two more choices deserve a reason. `UNIMPLEMENTED` and 501 are `not_found` because gRPC itself maps
//! HTTP 404 to `UNIMPLEMENTED` (`doc/http-grpc-status-mapping.md`): the method the caller asked
//! for does not exist there. `CANCELLED` is `transient` because the call did not finish and the
//! same request may well succeed later; nothing about it was invalid.

use core::fmt;

use super::grpc;

/// What kind of error an upstream answer (or a local rejection) was, independent of protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The request was malformed or not acceptable in the current state (caller fault).
    Validation,
    /// The addressed entity or method does not exist.
    NotFound,
    /// The request conflicts with the current state (exists already, concurrent change).
    Conflict,
    /// The caller is known but not allowed (403, `PERMISSION_DENIED`).
    Unauthorized,
    /// The caller is not authenticated (401, `UNAUTHENTICATED`).
    Unauthenticated,
    /// The service could not answer right now; the same request may succeed later.
    Transient,
    /// The service broke while answering.
    Internal,
    /// The answer did not arrive in time.
    Timeout,
    /// The service (or breakwater) is at capacity and sheds load.
    Overload,
}

impl ErrorCategory {
    /// Every category, in declaration order. Built by following `ErrorCategory::next`, whose
    /// `match` is exhaustive: a new variant fails to compile until it is placed in that order,
    /// and then until this array's length counts it.
    pub const ALL: [ErrorCategory; 9] = {
        let mut all = [ErrorCategory::Validation; 9];
        let mut i = 1;
        while i < all.len() {
            all[i] = match all[i - 1].next() {
                Some(c) => c,
                None => panic!("ErrorCategory::ALL is longer than the categories"),
            };
            i += 1;
        }
        assert!(
            all[all.len() - 1].next().is_none(),
            "ErrorCategory::ALL is shorter than the categories"
        );
        all
    };

    /// The category after this one in declaration order ([`ErrorCategory::ALL`]).
    const fn next(self) -> Option<Self> {
        Some(match self {
            ErrorCategory::Validation => ErrorCategory::NotFound,
            ErrorCategory::NotFound => ErrorCategory::Conflict,
            ErrorCategory::Conflict => ErrorCategory::Unauthorized,
            ErrorCategory::Unauthorized => ErrorCategory::Unauthenticated,
            ErrorCategory::Unauthenticated => ErrorCategory::Transient,
            ErrorCategory::Transient => ErrorCategory::Internal,
            ErrorCategory::Internal => ErrorCategory::Timeout,
            ErrorCategory::Timeout => ErrorCategory::Overload,
            ErrorCategory::Overload => return None,
        })
    }

    /// The snake_case name used in metrics, logs and JSON (`"not_found"`).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCategory::Validation => "validation",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::Conflict => "conflict",
            ErrorCategory::Unauthorized => "unauthorized",
            ErrorCategory::Unauthenticated => "unauthenticated",
            ErrorCategory::Transient => "transient",
            ErrorCategory::Internal => "internal",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Overload => "overload",
        }
    }

    /// The category of an HTTP status, or `None` for 1xx, 2xx and 3xx (see the module table).
    pub const fn from_http(status: u16) -> Option<Self> {
        Some(match status {
            100..=399 => return None,
            403 => ErrorCategory::Unauthorized,
            401 | 407 => ErrorCategory::Unauthenticated,
            404 | 410 | 501 => ErrorCategory::NotFound,
            408 | 504 => ErrorCategory::Timeout,
            409 => ErrorCategory::Conflict,
            429 => ErrorCategory::Overload,
            502 | 503 => ErrorCategory::Transient,
            // 400 and every other caller-side status.
            status if status >= 400 && status <= 499 => ErrorCategory::Validation,
            _ => ErrorCategory::Internal,
        })
    }

    /// The category of a gRPC status code, or `None` for `OK` (see the module table).
    pub const fn from_grpc(code: u32) -> Option<Self> {
        Some(match code {
            grpc::OK => return None,
            grpc::INVALID_ARGUMENT | grpc::FAILED_PRECONDITION | grpc::OUT_OF_RANGE => {
                ErrorCategory::Validation
            }
            grpc::NOT_FOUND | grpc::UNIMPLEMENTED => ErrorCategory::NotFound,
            grpc::ALREADY_EXISTS | grpc::ABORTED => ErrorCategory::Conflict,
            grpc::PERMISSION_DENIED => ErrorCategory::Unauthorized,
            grpc::UNAUTHENTICATED => ErrorCategory::Unauthenticated,
            grpc::UNAVAILABLE | grpc::CANCELLED => ErrorCategory::Transient,
            grpc::DEADLINE_EXCEEDED => ErrorCategory::Timeout,
            grpc::RESOURCE_EXHAUSTED => ErrorCategory::Overload,
            // INTERNAL, UNKNOWN, DATA_LOSS, and codes the specification does not define.
            _ => ErrorCategory::Internal,
        })
    }

    /// The HTTP status that represents this category in a reply.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCategory::Validation => 400,
            ErrorCategory::NotFound => 404,
            ErrorCategory::Conflict => 409,
            ErrorCategory::Unauthorized => 403,
            ErrorCategory::Unauthenticated => 401,
            ErrorCategory::Transient => 503,
            ErrorCategory::Internal => 500,
            ErrorCategory::Timeout => 504,
            ErrorCategory::Overload => 429,
        }
    }

    /// The gRPC status code that represents this category in a reply.
    pub const fn grpc_code(self) -> u32 {
        match self {
            ErrorCategory::Validation => grpc::INVALID_ARGUMENT,
            ErrorCategory::NotFound => grpc::NOT_FOUND,
            ErrorCategory::Conflict => grpc::ALREADY_EXISTS,
            ErrorCategory::Unauthorized => grpc::PERMISSION_DENIED,
            ErrorCategory::Unauthenticated => grpc::UNAUTHENTICATED,
            ErrorCategory::Transient => grpc::UNAVAILABLE,
            ErrorCategory::Internal => grpc::INTERNAL,
            ErrorCategory::Timeout => grpc::DEADLINE_EXCEEDED,
            ErrorCategory::Overload => grpc::RESOURCE_EXHAUSTED,
        }
    }
}

// Checked at every build: an associated const is evaluated only where it is used.
const _: &[ErrorCategory] = &ErrorCategory::ALL;

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCategory::*;
    use super::*;
    use crate::outcome::grpc::*;

    /// The module table, row by row: category, HTTP in, gRPC in, HTTP out, gRPC out.
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const TABLE: [(ErrorCategory, &[u16], &[u32], u16, u32); 9] = [
        (Validation, &[400, 405, 412, 413, 415, 422, 499], &[INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE], 400, INVALID_ARGUMENT),
        (NotFound, &[404, 410, 501], &[NOT_FOUND, UNIMPLEMENTED], 404, NOT_FOUND),
        (Conflict, &[409], &[ALREADY_EXISTS, ABORTED], 409, ALREADY_EXISTS),
        (Unauthorized, &[403], &[PERMISSION_DENIED], 403, PERMISSION_DENIED),
        (Unauthenticated, &[401, 407], &[UNAUTHENTICATED], 401, UNAUTHENTICATED),
        (Transient, &[502, 503], &[UNAVAILABLE, CANCELLED], 503, UNAVAILABLE),
        (Internal, &[500, 505, 511, 599, 0, 99, 600, 999, u16::MAX], &[INTERNAL, UNKNOWN, DATA_LOSS, 17, u32::MAX], 500, INTERNAL),
        (Timeout, &[408, 504], &[DEADLINE_EXCEEDED], 504, DEADLINE_EXCEEDED),
        (Overload, &[429], &[RESOURCE_EXHAUSTED], 429, RESOURCE_EXHAUSTED),
    ];

    #[test]
    fn every_row_both_ways() {
        for (cat, http_in, grpc_in, http_out, grpc_out) in TABLE {
            for &s in http_in {
                assert_eq!(ErrorCategory::from_http(s), Some(cat), "http {s}");
            }
            for &c in grpc_in {
                assert_eq!(ErrorCategory::from_grpc(c), Some(cat), "grpc {c}");
            }
            assert_eq!(cat.http_status(), http_out, "{cat}");
            assert_eq!(cat.grpc_code(), grpc_out, "{cat}");
            // The representative status and code come back as the same category.
            assert_eq!(ErrorCategory::from_http(cat.http_status()), Some(cat));
            assert_eq!(ErrorCategory::from_grpc(cat.grpc_code()), Some(cat));
        }
    }

    #[test]
    fn every_grpc_code_is_in_the_table_once() {
        for code in 1..=MAX_CODE {
            let rows = TABLE.iter().filter(|row| row.2.contains(&code)).count();
            assert_eq!(rows, 1, "{}", grpc_code_name(code).unwrap());
        }
    }

    #[test]
    fn successes_have_no_category() {
        assert_eq!(ErrorCategory::from_grpc(OK), None);
        for s in 100..=399 {
            assert_eq!(ErrorCategory::from_http(s), None, "{s}");
        }
        for s in 400..=599 {
            assert!(ErrorCategory::from_http(s).is_some(), "{s}");
        }
    }

    #[test]
    fn names_are_distinct_snake_case() {
        let names: Vec<&str> = ErrorCategory::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "validation",
                "not_found",
                "conflict",
                "unauthorized",
                "unauthenticated",
                "transient",
                "internal",
                "timeout",
                "overload"
            ]
        );
        assert_eq!(NotFound.to_string(), "not_found");
    }
}
