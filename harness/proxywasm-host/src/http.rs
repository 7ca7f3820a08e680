//! Driving HTTP streams through a worker, in Envoy's order.
//!
//! The test plays both the downstream client and the upstream: it sends
//! request headers, body and trailers, then (once the request is not paused)
//! the upstream response. After every callback the worker does what Envoy
//! does after a VM call ([`Worker::pump`]):
//!
//! - a local reply the filter sent (in this callback, or for another stream
//!   from `on_tick`) goes through the filter's own `on_http_response_headers`
//!   (and `_body`) and the stream finishes; the response the client gets is
//!   built as Envoy's `sendLocalReply` builds it: `:status` and the filter's
//!   headers, plus `content-type: text/plain` and `content-length` for a body;
//!   for a gRPC request (`content-type: application/grpc*`) with a gRPC status,
//!   HTTP 200 trailers-only with `grpc-status` and, from the *body* argument,
//!   `grpc-message`;
//! - a stream whose response ended and is not paused finishes: `on_log`,
//!   `on_done`, `on_delete`; so does one the filter closed.

use super::HostError;
use super::state::{Action, Headers, Life, Stream};
use super::worker::{StreamId, Worker};

fn lowercase(headers: &[(&str, &str)]) -> Headers {
    headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).expect("fewer than 2^31 headers or bytes")
}

impl Worker {
    /// Creates a stream (`proxy_on_context_create(id, root)`).
    pub fn http_request(&mut self) -> Result<StreamId, HostError> {
        let id = self.next_context_id;
        self.next_context_id += 1;
        self.store.data_mut().streams.insert(id, Stream::new());
        let root = self.store.data().root_id;
        self.call::<(i32, i32), ()>("proxy_on_context_create", root, (id as i32, root as i32))?;
        Ok(StreamId(id))
    }

    /// Sets a property only this stream sees (dotted path, raw bytes).
    pub fn set_stream_property(
        &mut self,
        id: StreamId,
        path: &str,
        value: impl Into<Vec<u8>>,
    ) -> Result<(), HostError> {
        self.live(id)?
            .properties
            .insert(path.to_owned(), value.into());
        Ok(())
    }

    /// Delivers the request headers (`proxy_on_request_headers`).
    pub fn request_headers(
        &mut self,
        id: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let stream = self.live(id)?;
        stream.request_headers = lowercase(headers);
        stream.original_request_headers = stream.request_headers.clone();
        let args = (id.0 as i32, count(headers.len()), i32::from(end_of_stream));
        self.request_callback(id, "proxy_on_request_headers", args)
    }

    /// Delivers a request body chunk (`proxy_on_request_body`; the filter sees the body so far).
    pub fn request_body(
        &mut self,
        id: StreamId,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let stream = self.live(id)?;
        stream.request_body.extend_from_slice(chunk);
        let args = (
            id.0 as i32,
            count(stream.request_body.len()),
            i32::from(end_of_stream),
        );
        self.request_callback(id, "proxy_on_request_body", args)
    }

    /// Delivers the request trailers (`proxy_on_request_trailers`).
    pub fn request_trailers(
        &mut self,
        id: StreamId,
        trailers: &[(&str, &str)],
    ) -> Result<Action, HostError> {
        self.live(id)?.request_trailers = lowercase(trailers);
        let action = self.call::<(i32, i32), i32>(
            "proxy_on_request_trailers",
            id.0,
            (id.0 as i32, count(trailers.len())),
        )?;
        self.after(id, Action::from_abi(action), true)
    }

    /// Delivers the upstream's response headers (`proxy_on_response_headers`).
    /// Refused while the request is paused: the router has not sent it yet.
    pub fn response_headers(
        &mut self,
        id: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let stream = self.live(id)?;
        if stream.request_paused {
            return Err(HostError::Misuse(format!(
                "upstream response for stream {} whose request is paused",
                id.0
            )));
        }
        stream.response_headers = lowercase(headers);
        stream.response_ended = end_of_stream;
        let args = (id.0 as i32, count(headers.len()), i32::from(end_of_stream));
        let action = self.call::<(i32, i32, i32), i32>("proxy_on_response_headers", id.0, args)?;
        self.after(id, Action::from_abi(action), false)
    }

    /// Delivers a response body chunk (`proxy_on_response_body`).
    pub fn response_body(
        &mut self,
        id: StreamId,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let stream = self.live(id)?;
        stream.response_body.extend_from_slice(chunk);
        stream.response_ended = end_of_stream;
        let args = (
            id.0 as i32,
            count(stream.response_body.len()),
            i32::from(end_of_stream),
        );
        let action = self.call::<(i32, i32, i32), i32>("proxy_on_response_body", id.0, args)?;
        self.after(id, Action::from_abi(action), false)
    }

    /// Delivers the response trailers (`proxy_on_response_trailers`); they end the response.
    pub fn response_trailers(
        &mut self,
        id: StreamId,
        trailers: &[(&str, &str)],
    ) -> Result<Action, HostError> {
        let stream = self.live(id)?;
        stream.response_trailers = lowercase(trailers);
        stream.response_ended = true;
        let action = self.call::<(i32, i32), i32>(
            "proxy_on_response_trailers",
            id.0,
            (id.0 as i32, count(trailers.len())),
        )?;
        self.after(id, Action::from_abi(action), false)
    }

    /// The client went away: the stream finishes now (`on_log`, `on_done`, `on_delete`).
    pub fn reset(&mut self, id: StreamId) -> Result<(), HostError> {
        self.live(id)?.reset = true;
        self.finish(id.0)?;
        self.pump()
    }

    fn live(&mut self, id: StreamId) -> Result<&mut Stream, HostError> {
        match self.store.data_mut().streams.get_mut(&id.0) {
            Some(stream) if stream.life == Life::Live => Ok(stream),
            _ => Err(HostError::UnknownStream(id.0)),
        }
    }

    fn request_callback(
        &mut self,
        id: StreamId,
        export: &'static str,
        args: (i32, i32, i32),
    ) -> Result<Action, HostError> {
        let action = self.call::<(i32, i32, i32), i32>(export, id.0, args)?;
        self.after(id, Action::from_abi(action), true)
    }

    /// Records a pause, then does what Envoy does after a VM call. As in Envoy's filter
    /// manager, a `Continue` from a later callback (body, trailers) of a direction whose headers
    /// were stopped continues that direction: the stopped headers go on with it.
    fn after(&mut self, id: StreamId, action: Action, request: bool) -> Result<Action, HostError> {
        if let Some(stream) = self.store.data_mut().streams.get_mut(&id.0)
            && stream.life == Life::Live
        {
            let paused = if request {
                &mut stream.request_paused
            } else {
                &mut stream.response_paused
            };
            *paused = action != Action::Continue;
        }
        self.pump()?;
        Ok(action)
    }

    /// Delivers pending local replies and finishes ended streams.
    pub(crate) fn pump(&mut self) -> Result<(), HostError> {
        loop {
            let streams = &self.store.data().streams;
            let next = streams.iter().find_map(|(id, s)| match s.life {
                Life::ReplyPending => Some((*id, true)),
                Life::Live if s.close_requested || (s.response_ended && !s.response_paused) => {
                    Some((*id, false))
                }
                _ => None,
            });
            match next {
                None => return Ok(()),
                Some((id, true)) => self.deliver_local_reply(id)?,
                Some((id, false)) => self.finish(id)?,
            }
        }
    }

    fn deliver_local_reply(&mut self, id: u32) -> Result<(), HostError> {
        let stream = self
            .store
            .data_mut()
            .streams
            .get_mut(&id)
            .expect("pump found it");
        let reply = stream.local_reply.clone().expect("a pending reply");
        let grpc_request = stream
            .original_request_headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/grpc"));
        let mut headers: Headers = Vec::new();
        let mut body = reply.body.clone();
        match reply.grpc_status {
            Some(code) if grpc_request => {
                headers.push((":status".into(), "200".into()));
                headers.push(("content-type".into(), "application/grpc".into()));
                headers.push(("grpc-status".into(), code.to_string()));
                if !body.is_empty() {
                    headers.push((
                        "grpc-message".into(),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                }
                body.clear();
            }
            _ => {
                headers.push((":status".into(), reply.status.to_string()));
                if !body.is_empty() {
                    if !reply.headers.iter().any(|(k, _)| k == "content-type") {
                        headers.push(("content-type".into(), "text/plain".into()));
                    }
                    headers.push(("content-length".into(), body.len().to_string()));
                }
            }
        }
        headers.extend(reply.headers.iter().cloned());
        let header_count = headers.len();
        stream.response_headers = headers;
        stream.response_body = body.clone();
        stream.request_paused = false;
        stream.life = Life::Live;
        let args = (id as i32, count(header_count), i32::from(body.is_empty()));
        let _ = Action::from_abi(self.call::<(i32, i32, i32), i32>(
            "proxy_on_response_headers",
            id,
            args,
        )?);
        if !body.is_empty() {
            let args = (id as i32, count(body.len()), 1);
            let _ = Action::from_abi(self.call::<(i32, i32, i32), i32>(
                "proxy_on_response_body",
                id,
                args,
            )?);
        }
        self.finish(id)
    }

    /// Ends a stream as Envoy does: `on_log`, `on_done`, `on_delete`.
    fn finish(&mut self, id: u32) -> Result<(), HostError> {
        if let Some(stream) = self.store.data_mut().streams.get_mut(&id) {
            stream.response_ended = true;
            stream.close_requested = false;
        }
        self.call::<i32, ()>("proxy_on_log", id, id as i32)?;
        let _done: i32 = self.call::<i32, i32>("proxy_on_done", id, id as i32)?;
        self.call::<i32, ()>("proxy_on_delete", id, id as i32)?;
        if let Some(stream) = self.store.data_mut().streams.get_mut(&id) {
            stream.life = Life::Done;
        }
        Ok(())
    }
}
