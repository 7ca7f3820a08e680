//! What an upstream answer means: classification and error taxonomy.
//!
//! Every other part of breakwater asks the same question about an attempt: *was that the
//! upstream's fault, and is it worth trying again?* The breaker counts only upstream faults (a
//! flood of 404s from a bad client must not open the circuit for everybody); the retry policy
//! repeats only what may succeed next time (retrying a 400 just doubles the load). This module
//! answers that question once, in one place, for both HTTP and gRPC.
//!
//! - [`grpc`]: the seventeen gRPC status codes, their names, and robust header parsing.
//! - [`observed`]: what an Envoy adapter saw of an answer (`:status`, `grpc-status`, Envoy's
//!   response code details), turned into an [`Outcome`] the same way by the filter and the
//!   module.
//! - [`ErrorCategory`]: one protocol-neutral taxonomy (validation, not found, conflict,
//!   unauthorized, unauthenticated, transient, internal, timeout, overload) with conversions both ways.
//! - [`OutcomesConfig`]: a policy's `outcomes` overrides, and [`Classifier`], the same compiled
//!   into flat tables so that [`Classifier::classify`] is O(1) and allocation-free.
//!
//! # Defaults
//!
//! | outcome                                                            | verdict   |
//! |--------------------------------------------------------------------|-----------|
//! | HTTP 5xx except 501                                                | `failure` |
//! | HTTP 501 (not implemented: retrying cannot help), 1xx–4xx          | `ignore`  |
//! | reset, connect failure, timeout                                    | `failure` |
//! | gRPC `UNAVAILABLE`, `INTERNAL`, `UNKNOWN`, `DEADLINE_EXCEEDED`, `DATA_LOSS` | `failure` |
//! | every other gRPC code (`OK` and the caller-fault codes)            | `ignore`  |
//!
//! `failure` both counts against the breaker and allows a retry. 429 and `RESOURCE_EXHAUSTED` are
//! ignored by default: they are an upstream asking for less load, which retries would add and
//! which a breaker should leave to the upstream's own limiter; a policy can opt in with
//! `"429": "retryable"`. A gRPC answer is judged by its `grpc-status`, never by its HTTP 200.

mod category;
mod classify;
pub(crate) mod config;
pub mod grpc;
pub mod observed;
#[cfg(test)]
mod tests;

pub use category::ErrorCategory;
pub use classify::{Classifier, Outcome, OutcomeKind, Verdict};
pub use config::{OutcomesConfig, Treatment};
pub use grpc::{grpc_code_from_name, grpc_code_name, parse_grpc_status, parse_http_status};
