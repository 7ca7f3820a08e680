//! Assertions on an [`Exchange`], for scenario tests.
//!
//! Each `expect_*` panics (pointing at the test line) with what the stream
//! looked like and the worker's log, so a failing scenario explains itself.

use super::scenario::Exchange;
use super::state::{LocalReply, Stream};

impl<'a> Exchange<'a> {
    #[track_caller]
    fn fail(&self, what: &str, stream: &Stream) -> ! {
        panic!(
            "{what}\nstream: {stream:#?}\nworker log:\n{}",
            self.log_text()
        )
    }

    /// The request went on upstream: not paused, no local reply.
    #[track_caller]
    pub fn expect_continued(&self) -> &Self {
        let stream = self.stream();
        if stream.is_request_paused() || stream.local_reply().is_some() {
            self.fail("expected the request to continue upstream", &stream);
        }
        self
    }

    /// The filter holds the request (paused, no reply yet).
    #[track_caller]
    pub fn expect_paused(&self) -> &Self {
        let stream = self.stream();
        if !stream.is_request_paused() || stream.local_reply().is_some() {
            self.fail("expected the request to be paused", &stream);
        }
        self
    }

    /// The request forwarded upstream carries `name: value`.
    #[track_caller]
    pub fn expect_request_header(&self, name: &str, value: &str) -> &Self {
        let stream = self.stream();
        if stream.request_header(name) != Some(value) {
            self.fail(&format!("expected request header {name}: {value}"), &stream);
        }
        self
    }

    /// The client got a response with this `:status`.
    #[track_caller]
    pub fn expect_status(&self, status: u32) -> &Self {
        let stream = self.stream();
        if stream.response_status() != Some(status) {
            self.fail(&format!("expected response status {status}"), &stream);
        }
        self
    }

    /// The client got a response header `name: value`.
    #[track_caller]
    pub fn expect_response_header(&self, name: &str, value: &str) -> &Self {
        let stream = self.stream();
        if stream.response_header(name) != Some(value) {
            self.fail(
                &format!("expected response header {name}: {value}"),
                &stream,
            );
        }
        self
    }

    /// The stream is over (`on_log`, `on_done`, `on_delete` ran).
    #[track_caller]
    pub fn expect_finished(&self) -> &Self {
        let stream = self.stream();
        if !stream.is_finished() {
            self.fail("expected the stream to be finished", &stream);
        }
        self
    }

    /// The filter answered with a local reply of this HTTP status; chain
    /// checks on the reply the client got.
    #[track_caller]
    pub fn expect_local_reply(&self, status: u32) -> ReplyCheck<'_, 'a> {
        let stream = self.stream();
        match stream.local_reply() {
            Some(reply) if reply.status == status => {}
            _ => self.fail(
                &format!("expected a local reply with status {status}"),
                &stream,
            ),
        }
        ReplyCheck {
            exchange: self,
            stream,
        }
    }
}

/// Checks on a local reply; see [`Exchange::expect_local_reply`].
#[derive(Debug)]
pub struct ReplyCheck<'e, 'a> {
    exchange: &'e Exchange<'a>,
    stream: Stream,
}

impl ReplyCheck<'_, '_> {
    /// The reply as the filter sent it.
    pub fn reply(&self) -> &LocalReply {
        self.stream.local_reply().expect("checked on creation")
    }

    /// The client got header `name: value` (the filter's response path included).
    #[track_caller]
    pub fn header(self, name: &str, value: &str) -> Self {
        if self.stream.response_header(name) != Some(value) {
            self.exchange.fail(
                &format!("expected reply header {name}: {value}"),
                &self.stream,
            );
        }
        self
    }

    /// The reply body contains `text`.
    #[track_caller]
    pub fn body_contains(self, text: &str) -> Self {
        if !String::from_utf8_lossy(&self.reply().body).contains(text) {
            self.exchange.fail(
                &format!("expected the reply body to contain {text:?}"),
                &self.stream,
            );
        }
        self
    }

    /// The filter passed this gRPC status.
    #[track_caller]
    pub fn grpc_status(self, code: u32) -> Self {
        if self.reply().grpc_status != Some(code) {
            self.exchange
                .fail(&format!("expected grpc status {code}"), &self.stream);
        }
        self
    }

    /// The filter passed these response code details.
    #[track_caller]
    pub fn details(self, details: &str) -> Self {
        if self.reply().details != details {
            self.exchange
                .fail(&format!("expected details {details:?}"), &self.stream);
        }
        self
    }
}
