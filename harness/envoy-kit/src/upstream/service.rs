//! Answering one request: control endpoints, counting, latency, the status
//! decision, and the HTTP or gRPC reply echoing which request it was.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::behaviour::{Decider, GrpcReply, MAX_DELAY_MS, grpc_code_for_http};
use super::control;
use super::counters::{Counters, RequestRecord};
use super::holds::{HOLD_HEADER, MAX_HOLD, Release};
use crate::client::header_pairs;

/// The body type of every reply.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// The most request body the upstream reads.
const MAX_BODY: usize = 1 << 20;

/// State shared by the handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) decider: Mutex<Decider>,
    pub(crate) counters: Counters,
    pub(crate) holds: super::holds::Holds,
}

/// A held request released with [`Release::Reset`]: the connection closes without an answer.
#[derive(Debug)]
pub(crate) struct ResetByTest;

impl std::fmt::Display for ResetByTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset by the test")
    }
}

impl std::error::Error for ResetByTest {}

impl Shared {
    pub(crate) fn decider(&self) -> std::sync::MutexGuard<'_, Decider> {
        self.decider.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Swaps the behaviour; its decision state (RNG, alternation) restarts.
    pub(crate) fn set(&self, behaviour: super::Behaviour) {
        *self.decider() = Decider::new(behaviour);
    }
}

/// Per-request overrides read from request headers.
struct Overrides {
    status: Option<u16>,
    delay_ms: Option<u64>,
    grpc_status: Option<u32>,
    trailers_only: Option<bool>,
}

impl Overrides {
    fn read(headers: &HeaderMap) -> Result<Self, String> {
        fn parse<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Result<Option<T>, String> {
            match h.get(name) {
                None => Ok(None),
                Some(v) => v
                    .to_str()
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .map(Some)
                    .ok_or_else(|| format!("bad {name}: {v:?}")),
            }
        }
        let out = Self {
            status: parse(headers, "x-upstream-status")?,
            delay_ms: parse(headers, "x-upstream-delay-ms")?,
            grpc_status: parse(headers, "x-upstream-grpc-status")?,
            trailers_only: parse(headers, "x-upstream-grpc-trailers-only")?,
        };
        if let Some(s) = out.status.filter(|s| !(100..=599).contains(s)) {
            return Err(format!("x-upstream-status {s} is not in 100..=599"));
        }
        if let Some(d) = out.delay_ms.filter(|&d| d > MAX_DELAY_MS) {
            return Err(format!("x-upstream-delay-ms {d} is over {MAX_DELAY_MS}"));
        }
        if let Some(c) = out.grpc_status.filter(|&c| c > 16) {
            return Err(format!("x-upstream-grpc-status {c} is not in 0..=16"));
        }
        Ok(out)
    }
}

/// Handles one request; fails only when the test resets a held request (bad requests become
/// 4xx replies).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ResetByTest> {
    if req.uri().path().starts_with(control::PREFIX) {
        return Ok(control::handle(&shared, &req));
    }
    let overrides = match Overrides::read(req.headers()) {
        Ok(o) => o,
        Err(message) => return Ok(plain(StatusCode::BAD_REQUEST, message)),
    };
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let headers = header_pairs(req.headers());
    let headers_for_hold = headers.clone();
    let seq = crate::client::find_header(&headers, "x-seq").map(str::to_owned);
    let is_grpc = crate::client::find_header(&headers, "content-type")
        .is_some_and(|c| c.starts_with("application/grpc"));
    let version = format!("{:?}", req.version());

    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    // Arrival: counted and decided under one lock, so the arrival number, the
    // alternation and the seeded failures all follow the same order.
    let mut decided = None;
    let (number, _inflight) = shared.counters.arrive(&path_only(&path), |number| {
        let mut decider = shared.decider();
        decided = Some((decider.next_status(), decider.behaviour().clone()));
        RequestRecord {
            number,
            method: method.clone(),
            path: path.clone(),
            version,
            headers,
            seq: seq.clone(),
            body_len: body.len(),
        }
    });
    let Some((decided, behaviour)) = decided else {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "no decision"));
    };

    if let Some(token) = crate::client::find_header(&headers_for_hold, HOLD_HEADER) {
        let rx = shared.holds.hold(token);
        let how = tokio::time::timeout(MAX_HOLD, rx).await;
        return match how {
            Ok(Ok(Release::Reset)) => Err(ResetByTest),
            Ok(Ok(Release::Status(s))) if !is_grpc => Ok(http_reply(s, number, String::new())),
            Ok(Ok(Release::Status(s))) => Ok(grpc_reply(
                GrpcReply::Trailers(grpc_code_for_http(s)),
                number,
                String::new(),
            )),
            Ok(Ok(Release::Grpc(Some(code)))) => {
                Ok(grpc_reply(GrpcReply::Trailers(code), number, String::new()))
            }
            Ok(Ok(Release::Grpc(None))) => Ok(grpc_without_status()),
            Ok(Err(_)) | Err(_) => Ok(plain(StatusCode::GATEWAY_TIMEOUT, "held too long")),
        };
    }
    let delay = overrides.delay_ms.unwrap_or(behaviour.delay_ms);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = overrides.status.unwrap_or(decided);
    let echo = json!({
        "request": number, "method": method, "path": path, "seq": seq,
        "status": status, "server": "breakwater-test-upstream",
    })
    .to_string();

    if !is_grpc {
        return Ok(http_reply(status, number, echo));
    }
    let reply = match (overrides.grpc_status, behaviour.grpc) {
        (Some(code), GrpcReply::TrailersOnly(_)) => GrpcReply::TrailersOnly(code),
        (Some(code), _) => GrpcReply::Trailers(code),
        (None, GrpcReply::Auto) => GrpcReply::Trailers(grpc_code_for_http(status)),
        (None, configured) => configured,
    };
    let reply = match (reply, overrides.trailers_only) {
        (GrpcReply::Trailers(c), Some(true)) => GrpcReply::TrailersOnly(c),
        (GrpcReply::TrailersOnly(c), Some(false)) => GrpcReply::Trailers(c),
        (r, _) => r,
    };
    Ok(grpc_reply(reply, number, echo))
}

fn path_only(path: &str) -> String {
    path.split('?').next().unwrap_or(path).to_owned()
}

fn http_reply(status: u16, number: u64, echo: String) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // 1xx, 204 and 304 carry no body.
    let body = if code.is_informational()
        || code == StatusCode::NO_CONTENT
        || code == StatusCode::NOT_MODIFIED
    {
        Empty::new().boxed()
    } else {
        Full::new(Bytes::from(echo + "\n")).boxed()
    };
    let mut rsp = Response::new(body);
    *rsp.status_mut() = code;
    let h = rsp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-upstream-request", HeaderValue::from(number));
    rsp
}

fn grpc_reply(reply: GrpcReply, number: u64, echo: String) -> Response<Body> {
    let (code, trailers_only) = match reply {
        GrpcReply::TrailersOnly(c) => (c, true),
        GrpcReply::Trailers(c) => (c, false),
        GrpcReply::Auto => (0, false),
    };
    let mut status = HeaderMap::new();
    status.insert("grpc-status", HeaderValue::from(code));
    if code != 0 {
        status.insert(
            "grpc-message",
            HeaderValue::from_static("breakwater%20test%20upstream%20says%20so"),
        );
    }
    let body = if trailers_only {
        Empty::new().boxed()
    } else {
        Full::new(crate::client::grpc_frame(echo.as_bytes()))
            .with_trailers(std::future::ready(Some(Ok(status.clone()))))
            .boxed()
    };
    let mut rsp = Response::new(body);
    let h = rsp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/grpc"));
    h.insert("x-upstream-request", HeaderValue::from(number));
    if trailers_only {
        h.extend(status);
    }
    rsp
}

/// A gRPC answer that never says how it ended: HTTP 200, one message, no `grpc-status`
/// anywhere (what a broken server or proxy sends; clients must take it as `UNKNOWN`).
fn grpc_without_status() -> Response<Body> {
    let mut rsp = Response::new(Full::new(crate::client::grpc_frame(b"")).boxed());
    rsp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    rsp
}

/// A text reply (control answers and bad requests).
pub(crate) fn plain(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    let mut body = text.into();
    body.push('\n');
    let mut rsp = Response::new(Full::new(Bytes::from(body)).boxed());
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    rsp
}

/// A JSON reply (control answers).
pub(crate) fn json_reply(value: &serde_json::Value) -> Response<Body> {
    let mut rsp = plain(StatusCode::OK, value.to_string());
    rsp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    rsp
}
