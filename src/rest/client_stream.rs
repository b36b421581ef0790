//! Client-streaming methods over plain HTTP: the request body is the stream of requests.
//!
//! - `application/x-ndjson` or `application/jsonl`: one JSON message per line;
//! - `application/json` (or no `Content-Type`): one JSON array, one message per element;
//! - a binding whose request body is a `google.api.HttpBody`: the raw body, in messages of at
//!   most [`RAW_CHUNK`] bytes of `data`, the first also carrying the `Content-Type`.
//!
//! Each message is built as a unary request is (body, then query, then path), checked against
//! `max_body` and the JSON depth limit on its own, given the caller's pinned fields, and sent
//! as soon as its text is complete. At most `[server] stream_buffer` messages wait for the
//! backend: while they do, the body is not read, so a slow backend slows the client down
//! instead of filling the gateway's memory. The whole call, body included, has the route's
//! deadline. A body that cannot become messages drops the call (the backend sees it
//! cancelled) and is answered 400 naming the line or element; the backend's one response is
//! answered as a unary response is.

use std::net::SocketAddr;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use tokio::sync::mpsc;
use tonic::Streaming;

use crate::error::GatewayError;
use crate::gateway::{Gateway, RouteEntry};
use crate::http_rule::Binding;
use crate::media_type;
use crate::schema::{RequestBody, RequestParts};
use crate::security::{self, Identity};
use crate::telemetry::Upstream;
use crate::transcode::request_stream::{self, MessageSplitter, SplitErrorKind, StreamFraming};

/// The most bytes of a raw body one `HttpBody` message carries.
pub const RAW_CHUNK: usize = 64 * 1024;

/// What the body's `Content-Type` makes of it.
enum StreamBody {
    Json(StreamFraming),
    /// Raw chunks into `HttpBody` messages; the first carries this content type.
    Raw {
        content_type: String,
    },
}

/// What one call needs to build its messages.
struct MessageBuilder<'a> {
    gateway: &'a Gateway,
    entry: &'a RouteEntry,
    bindings: &'a [Binding<'a>],
    parts: &'a Parts,
    identity: Option<&'a Identity>,
}

impl Gateway {
    /// Runs a client-streaming call whose requests come from the body (see the module doc).
    pub(super) async fn client_stream(
        &self,
        entry: &RouteEntry,
        bindings: &[Binding<'_>],
        parts: &Parts,
        body: Body,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
    ) -> Result<Response, GatewayError> {
        let deadline = self.deadline(&parts.headers, entry.timeout)?;
        let framing = stream_body(entry, parts)?;
        let metadata = self.call_metadata(parts, peer, identity);
        let (sender, receiver) = mpsc::channel::<Bytes>(self.stream_buffer);
        let requests = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|message| (message, receiver))
        });
        let builder = MessageBuilder {
            gateway: self,
            entry,
            bindings,
            parts,
            identity,
        };
        let feed = async move {
            match builder.feed(body, framing, &sender).await {
                // Dropping the sender here ends the requests: the call is half-closed.
                Ok(()) => Ok(()),
                Err(error) => Err((error, sender)),
            }
        };
        let call = async {
            let reply = entry
                .backend
                .streaming(entry.path.clone(), metadata, requests, deadline)
                .await?;
            answer_reply(entry, reply).await
        };
        let run = async {
            // A failed body's sender outlives the call: the backend must see the call
            // cancelled (dropped), never its requests ending as if the body were whole.
            let mut _held = None;
            tokio::pin!(feed, call);
            let mut fed = false;
            loop {
                tokio::select! {
                    result = &mut feed, if !fed => match result {
                        Ok(()) => fed = true,
                        Err((error, sender)) => {
                            _held = Some(sender);
                            return Err(error);
                        }
                    },
                    answer = &mut call => return answer,
                }
            }
        };
        tokio::time::timeout(deadline, run)
            .await
            .map_err(|_| GatewayError::DeadlineExceeded)?
    }
}

impl MessageBuilder<'_> {
    /// Reads the body and sends its messages until it ends (which half-closes the call) or
    /// the call no longer takes any.
    async fn feed(
        &self,
        body: Body,
        framing: StreamBody,
        sender: &mpsc::Sender<Bytes>,
    ) -> Result<(), GatewayError> {
        let mut chunks = body.into_data_stream();
        match framing {
            StreamBody::Json(framing) => {
                let mut splitter = MessageSplitter::new(framing, self.entry.max_body);
                let mut ended = false;
                while !ended {
                    match chunks.next().await {
                        Some(chunk) => splitter.push(&chunk.map_err(|_| unreadable())?),
                        None => {
                            splitter.end();
                            ended = true;
                        }
                    }
                    while let Some(text) = splitter.next_message().map_err(split_error)? {
                        let message = self.json_message(framing, text.number, &text.text)?;
                        if sender.send(message).await.is_err() {
                            // The call is over; its answer is the answer.
                            return Ok(());
                        }
                    }
                }
            }
            StreamBody::Raw { content_type } => {
                let plan = &*self.entry.body;
                let mut base = self.build(RequestBody::Json(&[]))?;
                if let Some(pinned) = &self.entry.identity_fields {
                    base = pinned.apply(self.identity, &base)?;
                }
                let size = self.entry.max_body.clamp(1, RAW_CHUNK);
                let mut content_type = Some(content_type);
                while let Some(chunk) = chunks.next().await {
                    let mut chunk = chunk.map_err(|_| unreadable())?;
                    while !chunk.is_empty() {
                        let data = chunk.split_to(chunk.len().min(size));
                        let sent_type = content_type.take().unwrap_or_default();
                        let message = plan.with_raw_body(base.clone(), &sent_type, data).join();
                        if sender.send(message).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The message of one JSON text, the line or element `number` of the body.
    fn json_message(
        &self,
        framing: StreamFraming,
        number: usize,
        text: &[u8],
    ) -> Result<Bytes, GatewayError> {
        let limit = self.gateway.max_json_depth;
        if security::json_too_deep(text, limit) {
            return Err(GatewayError::JsonTooDeep { limit });
        }
        let message = self
            .build(RequestBody::Json(text))
            .map_err(|error| located(error, framing, number))?;
        match &self.entry.identity_fields {
            Some(pinned) => pinned.apply(self.identity, &message),
            None => Ok(message),
        }
    }

    fn build(&self, body: RequestBody<'_>) -> Result<Bytes, GatewayError> {
        let spec = &*self.entry.spec;
        spec.codec.build_request(
            spec,
            RequestParts {
                bindings: self.bindings,
                query: self.parts.uri.query(),
                body,
                ignore_unknown_query: self.gateway.ignore_unknown_query,
            },
        )
    }
}

/// How the body is read, from its `Content-Type` and the binding (415 when it cannot be).
fn stream_body(entry: &RouteEntry, parts: &Parts) -> Result<StreamBody, GatewayError> {
    // A value that is not text is shown as the error shows it, and matches no type.
    let content_type = parts.headers.get(CONTENT_TYPE).map(|v| {
        v.to_str().map_or_else(
            |_| String::from_utf8_lossy(v.as_bytes()).into_owned(),
            str::to_string,
        )
    });
    if entry.body.raw_request() {
        entry.body.check_raw_type(content_type.as_deref())?;
        return Ok(StreamBody::Raw {
            content_type: content_type.unwrap_or_default(),
        });
    }
    let Some(text) = content_type else {
        // As for a unary body, no type means JSON.
        return Ok(StreamBody::Json(StreamFraming::Array));
    };
    let is = |wanted: &str| {
        media_type::essence(&text).is_some_and(|essence| essence.eq_ignore_ascii_case(wanted))
    };
    if is("application/x-ndjson") || is("application/jsonl") {
        return Ok(StreamBody::Json(StreamFraming::NdJson));
    }
    let json_suffix = media_type::essence(&text).is_some_and(|essence| {
        essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json")
    });
    if is("application/json") || json_suffix {
        return Ok(StreamBody::Json(StreamFraming::Array));
    }
    Err(GatewayError::UnsupportedMediaType {
        content_type: text,
        expected: "application/x-ndjson, application/jsonl or application/json (an array)".into(),
    })
}

/// The answer of a call that ended: its one message, as a unary answer; the backend's error;
/// or 502 when it ended OK without a message.
async fn answer_reply(
    entry: &RouteEntry,
    reply: tonic::Response<Streaming<Bytes>>,
) -> Result<Response, GatewayError> {
    let upstream = reply.extensions().get::<Upstream>().cloned();
    let (mut metadata, mut messages, _) = reply.into_parts();
    let message = messages
        .message()
        .await
        .map_err(crate::upstream::status_error)?;
    let trailers = messages
        .trailers()
        .await
        .map_err(crate::upstream::status_error)?;
    if let Some(trailers) = trailers {
        metadata.as_mut().extend(trailers.into_headers());
    }
    let message = message.ok_or_else(|| {
        GatewayError::bad_response("the client stream's call ended without its response")
    })?;
    let mut response = super::answer_message(entry, &metadata, &message)?;
    if let Some(upstream) = upstream {
        response.extensions_mut().insert(upstream);
    }
    Ok(response)
}

/// An error of the codec about one text, naming its line or element.
fn located(error: GatewayError, framing: StreamFraming, number: usize) -> GatewayError {
    let at = request_stream::position(framing, number);
    match error {
        GatewayError::InvalidJson(reason) => GatewayError::InvalidJson(format!("{at}: {reason}")),
        GatewayError::InvalidField { field, reason } => GatewayError::InvalidField {
            field,
            reason: format!("{reason} ({at})"),
        },
        other => other,
    }
}

fn split_error(error: request_stream::SplitError) -> GatewayError {
    match error.kind {
        SplitErrorKind::TooLarge { limit } => GatewayError::BodyTooLarge { limit },
        SplitErrorKind::Syntax(_) => GatewayError::InvalidJson(error.to_string()),
    }
}

fn unreadable() -> GatewayError {
    GatewayError::InvalidJson("the request body could not be read".into())
}
