//! `/_control/...`: switching the upstream over HTTP, for demo scripts and
//! for a human with curl (`curl 127.0.0.1:PORT/_control/status/503`).
//!
//! Any method works. Every answer is the resulting behaviour or the stats as
//! JSON; a bad value is a 400 that says what was wrong. Control requests are
//! not counted.
//!
//! | path | effect |
//! |---|---|
//! | `/_control/status/N` | every request gets status N |
//! | `/_control/fail?fraction=F&status=N&seed=S` | a seeded fraction fails (status 503, seed 1 by default) |
//! | `/_control/alternate?first=A&second=B` | A, B, A, … (503 and 200 by default) |
//! | `/_control/delay/MS` | add MS milliseconds before answering |
//! | `/_control/grpc/CODE[?trailers_only=true]` | gRPC requests get this grpc-status |
//! | `/_control/grpc/auto` | gRPC status derived from the HTTP decision |
//! | `/_control/behaviour` | show the behaviour |
//! | `/_control/stats` | show the counters |
//! | `/_control/reset-counters` | zero the counters |
//! | `/_control/reset` | default behaviour and zero counters |

use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::behaviour::{Behaviour, GrpcReply, Mode};
use super::service::{Body, Shared, json_reply, plain};

/// The path prefix of the control endpoints.
pub(crate) const PREFIX: &str = "/_control/";

/// Answers one control request.
pub(crate) fn handle<B>(shared: &Shared, req: &Request<B>) -> Response<Body> {
    let path = req.uri().path().trim_start_matches(PREFIX);
    let query = req.uri().query().unwrap_or("");
    match apply(shared, path, query) {
        Ok(rsp) => rsp,
        Err(message) => plain(StatusCode::BAD_REQUEST, message),
    }
}

fn apply(shared: &Shared, path: &str, query: &str) -> Result<Response<Body>, String> {
    let mut parts = path.splitn(2, '/');
    let verb = parts.next().unwrap_or("");
    let arg = parts.next();
    let current = shared.decider().behaviour().clone();
    let next = match (verb, arg) {
        ("status", Some(n)) => Behaviour {
            mode: Mode::Status(number(n, "status")?),
            ..current
        },
        ("fail", None) => Behaviour {
            mode: Mode::FailFraction {
                fraction: param(query, "fraction")?.ok_or("fail needs ?fraction=F")?,
                status: param(query, "status")?.unwrap_or(503),
                seed: param(query, "seed")?.unwrap_or(1),
            },
            ..current
        },
        ("alternate", None) => Behaviour {
            mode: Mode::Alternate {
                first: param(query, "first")?.unwrap_or(503),
                second: param(query, "second")?.unwrap_or(200),
            },
            ..current
        },
        ("delay", Some(ms)) => Behaviour {
            delay_ms: number(ms, "delay")?,
            ..current
        },
        ("grpc", Some("auto")) => Behaviour {
            grpc: GrpcReply::Auto,
            ..current
        },
        ("grpc", Some(code)) => {
            let code = number(code, "grpc status")?;
            let grpc = if param(query, "trailers_only")?.unwrap_or(false) {
                GrpcReply::TrailersOnly(code)
            } else {
                GrpcReply::Trailers(code)
            };
            Behaviour { grpc, ..current }
        }
        ("behaviour", None) => return Ok(json_reply(&current.to_json())),
        ("stats", None) => return Ok(json_reply(&shared.counters.snapshot().to_json())),
        ("reset-counters", None) => {
            shared.counters.reset();
            return Ok(json_reply(&json!({"reset": "counters"})));
        }
        ("reset", None) => {
            shared.set(Behaviour::default());
            shared.counters.reset();
            return Ok(json_reply(&Behaviour::default().to_json()));
        }
        _ => {
            return Ok(plain(
                StatusCode::NOT_FOUND,
                format!("unknown control path {PREFIX}{path}"),
            ));
        }
    };
    next.validate()?;
    let shown = next.to_json();
    shared.set(next);
    Ok(json_reply(&shown))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what}: {s:?}"))
}

/// The value of `name` in a `a=1&b=2` query, parsed.
fn param<T: std::str::FromStr>(query: &str, name: &str) -> Result<Option<T>, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| number(v, name))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_report_bad_values() {
        assert_eq!(
            param::<f64>("fraction=0.5&seed=3", "fraction"),
            Ok(Some(0.5))
        );
        assert_eq!(param::<u64>("fraction=0.5&seed=3", "seed"), Ok(Some(3)));
        assert_eq!(param::<u64>("fraction=0.5", "seed"), Ok(None));
        assert!(param::<u16>("status=abc", "status").is_err());
        assert_eq!(
            param::<bool>("trailers_only=true", "trailers_only"),
            Ok(Some(true))
        );
    }
}
