//! WebSockets on the bindings of streaming methods (server-, client- and bidirectional): a
//! `GET` with `Upgrade: websocket` on the path of a streaming method's own binding, whatever
//! that binding's HTTP method, opens one call of the method. README "WebSocket" is the protocol.
//!
//! The handshake is admitted as a REST request is (`Gateway::handle`: credential, roles, one
//! take from the rate limit); a refusal is the usual JSON error, without upgrading. The client
//! must offer the subprotocol `gatehouse.v1`; a browser, which cannot set `Authorization`,
//! offers its bearer token as a second value `bearer.<token>`, never echoed.
//!
//! Each text frame is one JSON message each way; an empty text frame half-closes the client's
//! side. The call ends with a text frame holding its status (a google.rpc.Status in an Any)
//! and a close: 1000 for OK, 4000 + the gRPC code otherwise. A client that goes away, or a
//! frame that cannot be read, drops the backend call, which cancels it.
//!
//! Flow control: at most `[server] stream_buffer` client messages wait for the backend; past
//! that the socket is not read. A reply is read from the backend only once the one before it
//! is written to the socket, so a client that does not read stops the backend's stream through
//! HTTP/2 flow control.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::request::Parts;
use http::uri::PathAndQuery;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Streaming;
use tonic::metadata::MetadataMap;

use crate::error::{GatewayError, status_any_json};
use crate::gateway::{Gateway, RouteEntry, RouteTable, RouteTarget};
use crate::grpc::timeout::parse_grpc_timeout;
use crate::http_rule::{Binding, Found, PathMatch};
use crate::schema::{MethodCodec, MethodKind, RequestBody, RequestParts, RouteSpec};
use crate::security::identity_fields::IdentityFields;
use crate::security::{self, Identity};
use crate::upstream::{Backend, status_error};

/// The subprotocol a client must offer, and the server selects.
pub const SUBPROTOCOL: &str = "gatehouse.v1";

/// The start of the subprotocol value that carries a bearer token: `bearer.<token>`.
pub const BEARER_PROTOCOL: &str = "bearer.";

/// The query parameter that sets the call's deadline, in `grpc-timeout` syntax (`30S`).
pub const TIMEOUT_PARAMETER: &str = "timeout";

/// How long the end of a call waits for the client to take its status and close frames.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The socket's read buffer, in bytes. tungstenite's default (128 KiB) would be most of what
/// an open call costs; a larger message grows the buffer while it is read.
const READ_BUFFER: usize = 8 * 1024;

/// The longest close reason a close frame can carry, in bytes.
const MAX_CLOSE_REASON: usize = 123;

/// Whether the request asks for a WebSocket: a `GET` with `Upgrade: websocket`.
pub(super) fn is_upgrade(parts: &Parts) -> bool {
    parts.method == http::Method::GET
        && parts
            .headers
            .get_all(UPGRADE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket"))
}

/// The streaming method bound to `path` under any HTTP method. `None` when the path's `GET`
/// is a unary method's, or no streaming method is bound there: the request is then answered
/// as any other.
pub(super) fn find_streaming<'a>(
    routes: &'a RouteTable,
    path: &str,
) -> Option<Found<'a, RouteTarget>> {
    fn streaming(found: &Found<'_, RouteTarget>) -> bool {
        matches!(found.value, RouteTarget::Method(entry) if entry.spec.kind != MethodKind::Unary)
    }
    match routes.find("GET", path) {
        PathMatch::Found(found) => streaming(&found).then_some(found),
        PathMatch::MethodNotAllowed { allowed } => {
            allowed
                .into_iter()
                .find_map(|method| match routes.find(method, path) {
                    PathMatch::Found(found) if streaming(&found) => Some(found),
                    _ => None,
                })
        }
        PathMatch::NotFound | PathMatch::BadPath(_) => None,
    }
}

/// Checks the offered subprotocols before admission: `gatehouse.v1` must be one of them. A
/// `bearer.<token>` value becomes the `Authorization` header when the handshake has none.
pub(super) fn take_subprotocol_token(headers: &mut HeaderMap) -> Result<(), GatewayError> {
    let mut offered = false;
    let mut token = None;
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let Ok(text) = value.to_str() else { continue };
        for protocol in text.split(',').map(str::trim) {
            if protocol == SUBPROTOCOL {
                offered = true;
            } else if let Some(bearer) = protocol.strip_prefix(BEARER_PROTOCOL) {
                token = Some(bearer.to_string());
            }
        }
    }
    if !offered {
        return Err(GatewayError::WebSocketMisuse(format!(
            "a WebSocket must offer the subprotocol {SUBPROTOCOL:?} (Sec-WebSocket-Protocol)"
        )));
    }
    if let Some(token) = token
        && !headers.contains_key(AUTHORIZATION)
    {
        let value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            GatewayError::WebSocketMisuse("the bearer subprotocol is not a valid token".into())
        })?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(())
}

impl Gateway {
    /// Answers an admitted handshake: the call's deadline, metadata and request fields from
    /// the handshake are checked now (a bad one is answered as REST answers it), then the
    /// connection is upgraded and the call runs on it.
    pub(super) async fn open_websocket(
        &self,
        entry: &RouteEntry,
        bindings: &[Binding<'_>],
        mut parts: Parts,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
    ) -> Result<Response, GatewayError> {
        let (query, asked) = split_timeout(parts.uri.query());
        let mut deadline = self.deadline(&parts.headers, entry.timeout)?;
        if let Some(asked) = asked {
            let timeout = parse_grpc_timeout(&asked)
                .ok_or_else(|| GatewayError::BadTimeout(asked.clone()))?;
            deadline = deadline.min(timeout.min(self.max_timeout));
        }
        let call = Call {
            spec: entry.spec.clone(),
            render: entry.render.clone(),
            backend: entry.backend.clone(),
            path: entry.path.clone(),
            pins: entry.identity_fields.clone(),
            identity: identity.cloned(),
            bindings: bindings
                .iter()
                .map(|b| (b.field_path.to_vec(), b.value.clone()))
                .collect(),
            query,
            ignore_unknown_query: self.ignore_unknown_query,
            max_json_depth: self.max_json_depth,
            metadata: self.call_metadata(&parts, peer, identity),
            deadline,
            idle: self.stream_idle_timeout,
            buffer: self.stream_buffer,
        };
        // What the path and query give every message: a bad value is refused before upgrading.
        call.request(None)?;
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
            .await
            .map_err(|rejection| GatewayError::WebSocketMisuse(rejection.body_text()))?;
        let response = upgrade
            .protocols([SUBPROTOCOL])
            .max_message_size(entry.max_body)
            .max_frame_size(entry.max_body)
            .read_buffer_size(READ_BUFFER)
            .on_failed_upgrade(|error| tracing::debug!(%error, "WebSocket upgrade failed"))
            .on_upgrade(move |socket| call.run(socket));
        Ok(response)
    }
}

/// The query without its `timeout` parameter, and that parameter's value.
fn split_timeout(query: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(query) = query else {
        return (None, None);
    };
    let mut timeout = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name == TIMEOUT_PARAMETER {
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                timeout = Some(value.into_owned());
                return false;
            }
            true
        })
        .collect();
    let kept = (!kept.is_empty()).then(|| kept.join("&"));
    (kept, timeout)
}

/// One WebSocket call: what it needs of its route and handshake, owned by the socket's task.
struct Call {
    spec: Arc<RouteSpec>,
    render: Arc<dyn MethodCodec>,
    backend: Backend,
    path: PathAndQuery,
    pins: Option<Arc<IdentityFields>>,
    identity: Option<Identity>,
    /// The path variables: field path and value.
    bindings: Vec<(Vec<String>, String)>,
    /// Without `timeout`.
    query: Option<String>,
    ignore_unknown_query: bool,
    max_json_depth: usize,
    metadata: MetadataMap,
    deadline: Duration,
    idle: Duration,
    buffer: usize,
}

/// How a call's pump stopped.
enum Ending {
    /// With this status, which the client is sent.
    Status(Result<(), GatewayError>),
    /// The client sent a close frame: it is answered, nothing more.
    Closed,
    /// The connection broke: nobody to tell.
    Gone,
}

/// Where the client's side of a call stands.
enum Inbound {
    /// Client and bidirectional streams: each message goes through the channel.
    Streaming(mpsc::Sender<Bytes>),
    /// A server stream before its one request.
    AwaitingRequest,
    /// A server stream after its request.
    Sent,
    /// Half-closed.
    Closed,
    /// The backend takes no more requests (its status is on its way): messages are dropped.
    Unwanted,
}

type Opening =
    Pin<Box<dyn Future<Output = Result<tonic::Response<Streaming<Bytes>>, GatewayError>> + Send>>;

impl Call {
    /// The encoded request of one client message: `body` as a REST body of the binding
    /// (`None`: no body), then the query, then the path, then the caller's pinned fields.
    fn request(&self, body: Option<&[u8]>) -> Result<Bytes, GatewayError> {
        let spec = &*self.spec;
        let body = match body {
            None => &[][..],
            Some(_) if spec.body.is_none() => {
                return Err(GatewayError::WebSocketMisuse(
                    "this binding takes no body: its request comes from the path and query; \
                     send an empty frame"
                        .into(),
                ));
            }
            Some(body) => {
                if security::json_too_deep(body, self.max_json_depth) {
                    return Err(GatewayError::JsonTooDeep {
                        limit: self.max_json_depth,
                    });
                }
                body
            }
        };
        let bindings: Vec<Binding<'_>> = self
            .bindings
            .iter()
            .map(|(field_path, value)| Binding {
                field_path,
                value: value.clone(),
            })
            .collect();
        let message = spec.codec.build_request(
            spec,
            RequestParts {
                bindings: &bindings,
                query: self.query.as_deref(),
                body: RequestBody::Json(body),
                ignore_unknown_query: self.ignore_unknown_query,
            },
        )?;
        match &self.pins {
            Some(pins) => pins.apply(self.identity.as_ref(), &message),
            None => Ok(message),
        }
    }

    /// Runs the call on the upgraded socket, then sends its status and closes.
    async fn run(self, mut socket: WebSocket) {
        let started = Instant::now();
        let ends = started
            .checked_add(self.deadline)
            .unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600));
        // The backend call lives in `pump`: it is cancelled before the goodbye is written.
        let status = match self.pump(&mut socket, ends).await {
            Ending::Gone => return,
            Ending::Closed => {
                // Reading on sends the answer to the client's close, then sees the end.
                let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
                let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
                return;
            }
            Ending::Status(status) => status,
        };
        let (code, reason) = match &status {
            Ok(()) => (1000, String::new()),
            Err(error) => {
                error.log("WebSocket call failed", None);
                let code = 4000 + error.grpc_code() as u16;
                (code, cut_at_char(error.public_message(), MAX_CLOSE_REASON))
            }
        };
        let text = status_any_json(status.as_ref().err());
        let goodbye = async {
            socket.send(Message::text(text)).await?;
            let reason = Utf8Bytes::from(reason);
            socket
                .send(Message::Close(Some(CloseFrame { code, reason })))
                .await?;
            // Until the client's close answers ours.
            while let Some(Ok(_)) = socket.recv().await {}
            Ok::<_, axum::Error>(())
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, goodbye).await;
    }

    /// Moves messages both ways until the call ends.
    async fn pump(&self, socket: &mut WebSocket, ends: Instant) -> Ending {
        let deadline = tokio::time::sleep_until(ends);
        let idle = tokio::time::sleep(self.idle);
        tokio::pin!(deadline, idle);
        let mut opening: Option<Opening> = None;
        let mut replies: Option<Streaming<Bytes>> = None;
        let mut inbound = if self.spec.kind == MethodKind::ServerStreaming {
            Inbound::AwaitingRequest
        } else {
            let (sender, receiver) = mpsc::channel::<Bytes>(self.buffer);
            let requests = futures_util::stream::unfold(receiver, |mut receiver| async {
                receiver.recv().await.map(|message| (message, receiver))
            });
            let (backend, path) = (self.backend.clone(), self.path.clone());
            let (metadata, deadline) = (self.metadata.clone(), self.deadline);
            opening = Some(Box::pin(async move {
                backend.streaming(path, metadata, requests, deadline).await
            }));
            Inbound::Streaming(sender)
        };
        let mut frames: u64 = 0;
        loop {
            // A message is read from the socket only when the channel has room for it.
            let full = matches!(&inbound, Inbound::Streaming(s) if s.capacity() == 0);
            // Not biased: a backend that always has a reply ready must not starve the client.
            tokio::select! {
                () = &mut deadline => return Ending::Status(Err(GatewayError::DeadlineExceeded)),
                () = &mut idle => return Ending::Status(Err(idle_error(self.idle))),
                opened = async {
                    match opening.as_mut() {
                        Some(opening) => opening.await,
                        None => std::future::pending().await,
                    }
                }, if opening.is_some() => {
                    opening = None;
                    match opened {
                        Ok(response) => replies = Some(response.into_inner()),
                        Err(error) => return Ending::Status(Err(error)),
                    }
                }
                reply = async {
                    match replies.as_mut() {
                        Some(replies) => replies.message().await,
                        None => std::future::pending().await,
                    }
                }, if replies.is_some() => {
                    let message = match reply {
                        Ok(Some(message)) => message,
                        Ok(None) => return Ending::Status(Ok(())),
                        Err(status) => return Ending::Status(Err(status_error(status))),
                    };
                    let mut out = Vec::with_capacity(message.len() * 2 + 16);
                    if let Err(error) = self.render.render_response(&message, &mut out) {
                        return Ending::Status(Err(error));
                    }
                    let Ok(text) = Utf8Bytes::try_from(out) else {
                        let error = GatewayError::Internal("a rendered reply is not UTF-8".into());
                        return Ending::Status(Err(error));
                    };
                    // The next reply waits until this one is written: a client that does not
                    // read holds the backend back.
                    tokio::select! {
                        biased;
                        () = &mut deadline => return Ending::Status(Err(GatewayError::DeadlineExceeded)),
                        () = &mut idle => return Ending::Status(Err(idle_error(self.idle))),
                        sent = socket.send(Message::Text(text)) => if sent.is_err() {
                            return Ending::Gone;
                        },
                    }
                    idle.as_mut().reset(Instant::now() + self.idle);
                }
                room = async {
                    match &inbound {
                        Inbound::Streaming(sender) => sender.reserve().await.is_ok(),
                        _ => true,
                    }
                }, if full => if !room {
                    inbound = Inbound::Unwanted;
                },
                frame = socket.recv(), if !full => {
                    let text = match frame {
                        Some(Ok(Message::Close(_))) => return Ending::Closed,
                        None => return Ending::Gone,
                        Some(Err(error)) => match read_error(&error) {
                            Some(error) => return Ending::Status(Err(error)),
                            None => return Ending::Gone,
                        },
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => {
                            frames += 1;
                            let misuse = GatewayError::WebSocketMisuse(
                                "binary frames are not taken: send each message as a text frame"
                                    .into(),
                            );
                            return Ending::Status(Err(in_frame(frames, misuse)));
                        }
                        Some(Ok(Message::Text(text))) => text,
                    };
                    frames += 1;
                    idle.as_mut().reset(Instant::now() + self.idle);
                    if let Err(error) = self.take_frame(&text, &mut inbound, &mut opening, ends) {
                        return Ending::Status(Err(in_frame(frames, error)));
                    }
                }
            }
        }
    }

    /// One text frame from the client: a message, or (empty) the half-close.
    fn take_frame(
        &self,
        text: &str,
        inbound: &mut Inbound,
        opening: &mut Option<Opening>,
        ends: Instant,
    ) -> Result<(), GatewayError> {
        let body = (!text.is_empty()).then_some(text.as_bytes());
        match inbound {
            Inbound::Streaming(sender) => {
                let Some(body) = body else {
                    // Dropping the sender ends the request stream: the backend sees the end.
                    *inbound = Inbound::Closed;
                    return Ok(());
                };
                let message = self.request(Some(body))?;
                // The select only reads a frame when the channel has room; an error means the
                // backend takes no more, and the call's status is on its way.
                if sender.try_send(message).is_err() {
                    *inbound = Inbound::Unwanted;
                }
                Ok(())
            }
            Inbound::AwaitingRequest => {
                let message = self.request(body)?;
                let (backend, path) = (self.backend.clone(), self.path.clone());
                let metadata = self.metadata.clone();
                let left = ends.saturating_duration_since(Instant::now());
                *opening = Some(Box::pin(async move {
                    backend
                        .server_streaming(path, metadata, message.into(), left)
                        .await
                }));
                *inbound = if body.is_some() {
                    Inbound::Sent
                } else {
                    Inbound::Closed
                };
                Ok(())
            }
            Inbound::Sent if body.is_none() => {
                *inbound = Inbound::Closed;
                Ok(())
            }
            Inbound::Sent => Err(GatewayError::WebSocketMisuse(
                "a server-streaming call takes one request message".into(),
            )),
            Inbound::Closed if body.is_none() => Ok(()),
            Inbound::Closed => Err(GatewayError::WebSocketMisuse(
                "a message after the half-close (the empty frame)".into(),
            )),
            Inbound::Unwanted => Ok(()),
        }
    }
}

/// The error of a call no message went through for `idle`.
fn idle_error(idle: Duration) -> GatewayError {
    tracing::debug!(?idle, "WebSocket call idle");
    GatewayError::DeadlineExceeded
}

/// `error` as the error of the client frame numbered `frame`.
fn in_frame(frame: u64, error: GatewayError) -> GatewayError {
    GatewayError::InvalidFrame {
        frame,
        error: Box::new(error),
    }
}

/// What a failed read of the socket means for the call: a message over the size limit is the
/// client's error, told; anything else is a broken connection, with nobody left to tell.
fn read_error(error: &axum::Error) -> Option<GatewayError> {
    use std::error::Error as _;
    match error.source()?.downcast_ref::<tungstenite::Error>()? {
        tungstenite::Error::Capacity(capacity) => Some(GatewayError::WebSocketMisuse(format!(
            "a message over the size limit: {capacity}"
        ))),
        tungstenite::Error::Protocol(protocol) => Some(GatewayError::WebSocketMisuse(format!(
            "a frame that breaks the WebSocket protocol: {protocol}"
        ))),
        _ => None,
    }
}

/// `text` cut to at most `limit` bytes, at a character boundary.
fn cut_at_char(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_parameter_leaves_the_query() {
        let split = |q| split_timeout(Some(q));
        assert_eq!(split("timeout=30S"), (None, Some("30S".into())));
        assert_eq!(
            split("a=1&timeout=5m&b=2"),
            (Some("a=1&b=2".into()), Some("5m".into()))
        );
        assert_eq!(split("a=1"), (Some("a=1".into()), None));
        assert_eq!(split_timeout(None), (None, None));
    }

    #[test]
    fn close_reasons_are_cut_at_a_character() {
        assert_eq!(cut_at_char("abc".into(), 123), "abc");
        let long = "é".repeat(100);
        let cut = cut_at_char(long, 123);
        assert_eq!(cut.len(), 122);
    }

    #[test]
    fn the_token_comes_from_the_subprotocol() {
        let mut headers = HeaderMap::new();
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("gatehouse.v1, bearer.abc.def.ghi"),
        );
        take_subprotocol_token(&mut headers).unwrap();
        assert_eq!(headers[AUTHORIZATION], "Bearer abc.def.ghi");
        let mut headers = HeaderMap::new();
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("bearer.x"));
        assert!(take_subprotocol_token(&mut headers).is_err());
    }
}
