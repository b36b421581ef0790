//! The REST front end: every REST request the custom routes did not take is matched against
//! the gateway's route table here, admitted (credential, roles, rate limit), transcoded,
//! sent to its backend (or run as an aggregate) and answered as JSON.
//!
//! axum's router cannot express google.api.http templates, so the dispatcher matches every
//! request against the `RouteTable` itself; `crate::stack` puts it behind the layers.

mod client_stream;
mod problem;
mod websocket;

pub use problem::{ProblemDetails, ProblemDetailsLayer, ProblemFuture};
pub use websocket::{BEARER_PROTOCOL, SUBPROTOCOL, TIMEOUT_PARAMETER};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, request::Parts};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::aggregate::{Admission, Inputs};
use crate::error::GatewayError;
use crate::gateway::{AggregateEntry, Gateway, RouteEntry, RouteTarget};
use crate::grpc::GRPC_TIMEOUT;
use crate::grpc::Payload;
use crate::grpc::timeout::parse_grpc_timeout;
use crate::http_rule::{Binding, PathMatch};
use crate::media_type;
use crate::openapi::explorer;
use crate::schema::{MethodKind, RequestBody, RequestParts};
use crate::security::{self, Identity, RoutePolicy, take_rate_limit};
use crate::telemetry::metrics as telemetry_metrics;
use crate::telemetry::{LogFields, Upstream};
use crate::transcode::answer;
use crate::transcode::body::{BodyPlan, Form};
use crate::transcode::metadata;

/// A REST request the custom routes did not take. It keeps `gateway`, the one in service when
/// it arrived, even if a reload replaces it meanwhile.
pub async fn dispatch(gateway: Arc<Gateway>, request: Request) -> Response {
    if let Some(page) = gateway
        .own_page(request.method(), request.uri().path())
        .await
    {
        return page;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut fields = LogFields::default();
    let mut response = match gateway.handle(peer, request, &mut fields).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(fields);
    response
}

impl Gateway {
    /// The gateway's own pages, when `[server] openapi` serves them: the OpenAPI document and
    /// Swagger UI at `/docs` (`crate::openapi::explorer`), which shows it. Other methods than
    /// GET and HEAD get the JSON 405 a generated route answers.
    async fn own_page(&self, method: &Method, path: &str) -> Option<Response> {
        let document = self.openapi.as_ref()?;
        if path == explorer::DOCUMENT_PATH {
            if method != Method::GET && method != Method::HEAD {
                return Some(explorer::method_not_allowed().into_response());
            }
            let page = (
                [(CONTENT_TYPE, "application/json")],
                Body::from(document.clone()),
            );
            return Some(page.into_response());
        }
        // All that a REST call pays: a prefix check. Boxed, so that the dispatcher's future
        // does not grow by Swagger UI's router.
        if !explorer::may_serve(path) {
            return None;
        }
        Box::pin(explorer::answer(method, path)).await
    }

    async fn handle(
        &self,
        peer: Option<SocketAddr>,
        request: Request,
        fields: &mut LogFields,
    ) -> Result<Response, GatewayError> {
        let (mut parts, body) = request.into_parts();
        security::check_header_limits(&parts.headers, self.max_headers, self.max_header_bytes)?;
        // A WebSocket opens on a streaming method's binding whatever that binding's method.
        let streaming = websocket::is_upgrade(&parts)
            .then(|| websocket::find_streaming(&self.routes, parts.uri.path()))
            .flatten();
        let upgrade = streaming.is_some();
        if upgrade {
            // Before `authenticate`: the subprotocol may carry the token.
            websocket::take_subprotocol_token(&mut parts.headers)?;
        }
        let found = match streaming.map_or_else(
            || self.routes.find(parts.method.as_str(), parts.uri.path()),
            PathMatch::Found,
        ) {
            PathMatch::Found(found) => found,
            PathMatch::MethodNotAllowed { allowed } => {
                return Err(GatewayError::MethodNotAllowed {
                    allowed: allowed.into_iter().map(str::to_string).collect(),
                });
            }
            PathMatch::NotFound => return Err(GatewayError::RouteNotFound),
            PathMatch::BadPath(e) => return Err(GatewayError::BadPath(e.to_string())),
        };
        let target = found.value;
        let (policy, route) = match target {
            RouteTarget::Method(entry) => (&entry.policy, entry.label.clone()),
            RouteTarget::Aggregate(entry) => (
                &entry.policy,
                telemetry_metrics::shared(entry.aggregate.plan.template.to_string()),
            ),
        };
        crate::telemetry::request_context::record_route(&route);
        fields.route = Some(route.clone());
        let identity = self.authenticator.authenticate(&parts.headers).await?;
        fields.subject = identity.as_ref().map(|i| i.subject.clone());
        policy.authorize(identity.as_ref())?;
        let client = peer.map(|p| self.client_ip.client(p.ip(), &parts.headers));
        let limit_headers = match take_rate_limit(policy, identity.as_ref(), client) {
            None => Vec::new(),
            Some(taking) => taking.await.inspect_err(|error| {
                if let (GatewayError::RateLimited { .. }, Some((_, key))) =
                    (error, &policy.rate_limit)
                {
                    telemetry_metrics::record_rate_limited(&route, *key);
                }
            })?,
        };
        let identity = identity.as_ref();
        let answer = match target {
            RouteTarget::Method(entry) if upgrade => {
                self.open_websocket(entry, &found.bindings, parts, peer, identity)
                    .await
            }
            RouteTarget::Method(entry) => {
                self.call(entry, &found.bindings, &parts, body, peer, identity)
                    .await
            }
            RouteTarget::Aggregate(entry) => {
                self.aggregate(entry, &found.bindings, &parts, peer, identity, client)
                    .await
            }
        };
        // Every answer on a limited route says where the caller stands, errors included.
        let mut response = answer.unwrap_or_else(IntoResponse::into_response);
        let headers = response.headers_mut();
        for (name, value) in limit_headers {
            headers.insert(name, value);
        }
        Ok(response)
    }

    /// Transcodes the admitted request, calls the backend and transcodes its answer.
    async fn call(
        &self,
        entry: &RouteEntry,
        bindings: &[Binding<'_>],
        parts: &Parts,
        body: Body,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
    ) -> Result<Response, GatewayError> {
        let spec = &*entry.spec;
        match spec.kind {
            MethodKind::Unary | MethodKind::ServerStreaming => {}
            MethodKind::ClientStreaming => {
                return self
                    .client_stream(entry, bindings, parts, body, peer, identity)
                    .await;
            }
            MethodKind::BidiStreaming => {
                return Err(GatewayError::WebSocketRequired);
            }
        }
        let deadline = self.deadline(&parts.headers, entry.timeout)?;
        let mut message = self.request_message(entry, bindings, parts, body).await?;
        if let Some(pinned) = &entry.identity_fields {
            message = pinned.apply(identity, &message.join())?.into();
        }
        let metadata = self.call_metadata(parts, peer, identity);
        if spec.kind == MethodKind::ServerStreaming {
            use crate::transcode::stream::{self, Framing, StreamFormat};
            let started = tokio::time::Instant::now();
            let framing = if entry.body.raw_response() {
                Framing::Raw(entry.body.clone())
            } else {
                Framing::Json {
                    codec: entry.render.clone(),
                    format: StreamFormat::negotiate(&parts.headers),
                }
            };
            let reply = entry
                .backend
                .server_streaming(entry.path.clone(), metadata, message, deadline)
                .await?;
            let upstream = reply.extensions().get::<Upstream>().cloned();
            let mut response = stream::respond(reply, framing, started, deadline).await?;
            if let Some(upstream) = upstream {
                response.extensions_mut().insert(upstream);
            }
            return Ok(response);
        }
        let reply = entry
            .backend
            .unary(
                entry.path.clone(),
                metadata,
                message,
                deadline,
                entry.idempotent,
            )
            .await?;
        let (reply_metadata, reply_message, reply_extensions) = reply.into_parts();
        let mut response = answer_message(entry, &reply_metadata, &reply_message)?;
        if let Some(upstream) = reply_extensions.get::<Upstream>() {
            response.extensions_mut().insert(upstream.clone());
        }
        Ok(response)
    }

    /// The encoded request message: the body as the binding takes it (proto3 JSON, a form,
    /// or raw into a `google.api.HttpBody`), then the query, then the path.
    async fn request_message(
        &self,
        entry: &RouteEntry,
        bindings: &[Binding<'_>],
        parts: &Parts,
        body: Body,
    ) -> Result<Payload, GatewayError> {
        let spec = &*entry.spec;
        let plan = &*entry.body;
        let build = |body: RequestBody<'_>| {
            spec.codec.build_request(
                spec,
                RequestParts {
                    bindings,
                    query: parts.uri.query(),
                    body,
                    ignore_unknown_query: self.ignore_unknown_query,
                },
            )
        };
        if spec.body.is_none() {
            return build(RequestBody::Json(&[])).map(Payload::from);
        }
        // A value that is not text is shown as the error shows it, and matches no type.
        let content_type = parts.headers.get(CONTENT_TYPE).map(|v| {
            v.to_str()
                .map_err(|_| String::from_utf8_lossy(v.as_bytes()))
        });
        if plan.raw_request() {
            let text = match &content_type {
                None => None,
                Some(Ok(text)) => Some(*text),
                Some(Err(shown)) => Some(shown.as_ref()),
            };
            plan.check_raw_type(text)?;
            let body = self.read_body(parts, body, entry.max_body).await?;
            let message = build(RequestBody::Json(&[]))?;
            return Ok(plan.with_raw_body(message, text.unwrap_or_default(), body));
        }
        let is = |essence: &str, wanted: &str| essence.eq_ignore_ascii_case(wanted);
        match content_type {
            None => {}
            Some(Ok(text)) => match media_type::essence(text) {
                Some(json) if is(json, "application/json") => {}
                Some(json) if json.len() > 5 && is(&json[json.len() - 5..], "+json") => {}
                Some(form) if is(form, "multipart/form-data") && plan.takes_forms() => {
                    let form = self.read_multipart(parts, text, body, entry).await?;
                    let message = build(RequestBody::Fields(&form.fields))?;
                    return Ok(plan.with_files(message, form));
                }
                Some(form)
                    if is(form, "application/x-www-form-urlencoded") && plan.takes_forms() =>
                {
                    let body = self.read_body(parts, body, entry.max_body).await?;
                    let form = plan.read_urlencoded(&body)?;
                    return build(RequestBody::Fields(&form.fields)).map(Payload::from);
                }
                _ => return Err(unsupported(text, plan)),
            },
            Some(Err(shown)) => return Err(unsupported(&shown, plan)),
        }
        let body = self.read_body(parts, body, entry.max_body).await?;
        if security::json_too_deep(&body, self.max_json_depth) {
            return Err(GatewayError::JsonTooDeep {
                limit: self.max_json_depth,
            });
        }
        let message = build(RequestBody::Json(&body))?;
        plan.with_mask(message, parts.uri.query(), &body)
            .map(Payload::from)
    }

    /// Reads a `multipart/form-data` body as it arrives, so a large file is held once.
    async fn read_multipart(
        &self,
        parts: &Parts,
        content_type: &str,
        body: Body,
        entry: &RouteEntry,
    ) -> Result<Form, GatewayError> {
        let limit = entry.max_body;
        if declared_length(parts).is_some_and(|n| n > limit as u64) {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        let chunks = Limited::new(body, limit).into_data_stream();
        let read = entry.body.read_multipart(content_type, chunks, limit);
        tokio::time::timeout(self.body_timeout, read)
            .await
            .map_err(|_| GatewayError::BodyTimeout)?
    }

    /// Runs an aggregate: every call is admitted as a direct call of its method would be,
    /// and sent the caller's identity and forwarded headers.
    async fn aggregate(
        &self,
        entry: &AggregateEntry,
        bindings: &[Binding<'_>],
        parts: &Parts,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Response, GatewayError> {
        let deadline = self.deadline(&parts.headers, entry.aggregate.timeout)?;
        let metadata = self.call_metadata(parts, peer, identity);
        let inputs = Inputs {
            bindings,
            query: parts.uri.query(),
            metadata: &metadata,
            deadline,
            identity,
        };
        let admit = |policy: &RoutePolicy| -> Admission {
            if let Err(denied) = policy.authorize(identity) {
                return Box::pin(std::future::ready(Err(denied)));
            }
            match take_rate_limit(policy, identity, client) {
                Some(taking) => Box::pin(async move { taking.await.map(drop) }),
                None => Box::pin(std::future::ready(Ok(()))),
            }
        };
        let out = entry.aggregate.run(inputs, admit).await?;
        let status = entry.status;
        if !answer::allows_body(status) {
            return Ok(status.into_response());
        }
        let mut response = Response::new(Body::from(out));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    /// The metadata a backend call of this request carries: its forwarded headers, the
    /// forwarding chain and the verified caller.
    fn call_metadata(
        &self,
        parts: &Parts,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
    ) -> tonic::metadata::MetadataMap {
        metadata::request_metadata(
            &parts.headers,
            &parts.uri,
            &self.forwarded_headers,
            peer.map(|p| p.ip()),
            identity,
        )
    }

    /// min(client `Grpc-Timeout`, the route's deadline); `max_timeout` caps both.
    fn deadline(&self, headers: &HeaderMap, route: Duration) -> Result<Duration, GatewayError> {
        let Some(value) = headers.get(&GRPC_TIMEOUT) else {
            return Ok(route);
        };
        let text = value.to_str().unwrap_or_default();
        let asked = parse_grpc_timeout(text).ok_or_else(|| {
            GatewayError::BadTimeout(String::from_utf8_lossy(value.as_bytes()).into())
        })?;
        Ok(asked.min(self.max_timeout).min(route))
    }

    /// Reads a request body of at most `limit` bytes into one buffer: a body that came in one
    /// chunk is that chunk; more are gathered as they arrive, so the body is never held twice.
    async fn read_body(
        &self,
        parts: &Parts,
        body: Body,
        limit: usize,
    ) -> Result<Bytes, GatewayError> {
        let too_large = GatewayError::BodyTooLarge { limit };
        let declared = declared_length(parts);
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large);
        }
        let read = async {
            let mut body = Limited::new(body, limit);
            let mut first = Bytes::new();
            let mut gathered: Option<BytesMut> = None;
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                if let Some(gathered) = &mut gathered {
                    gathered.extend_from_slice(&data);
                } else if first.is_empty() {
                    first = data;
                } else {
                    let expected = declared.map_or(0, |n| n as usize).min(limit);
                    let mut buffer =
                        BytesMut::with_capacity(expected.max(first.len() + data.len()));
                    buffer.extend_from_slice(&std::mem::take(&mut first));
                    buffer.extend_from_slice(&data);
                    gathered = Some(buffer);
                }
            }
            Ok::<_, axum::BoxError>(gathered.map_or(first, BytesMut::freeze))
        };
        match tokio::time::timeout(self.body_timeout, read).await {
            Err(_) => Err(GatewayError::BodyTimeout),
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
            Ok(Err(_)) => Err(GatewayError::InvalidJson(
                "the request body could not be read".into(),
            )),
        }
    }
}

/// The answer to a call that ended with the one message `reply`: raw for an `HttpBody`, else
/// rendered as JSON, with the backend's metadata as headers and the binding's status.
fn answer_message(
    entry: &RouteEntry,
    reply_metadata: &tonic::metadata::MetadataMap,
    reply_message: &Bytes,
) -> Result<Response, GatewayError> {
    let mut response = if entry.body.raw_response() {
        let (content_type, data) = entry.body.raw_reply(reply_message)?;
        let content_type = HeaderValue::try_from(content_type).map_err(|_| {
            GatewayError::bad_response("the reply's content_type is not a valid header value")
        })?;
        let mut response = Response::new(Body::from(data));
        crate::transcode::body::raw_headers(response.headers_mut(), content_type);
        response
    } else {
        let mut out = Vec::with_capacity(reply_message.len() * 2 + 16);
        entry.render.render_response(reply_message, &mut out)?;
        let mut response = Response::new(Body::from(out));
        let json = HeaderValue::from_static("application/json");
        response.headers_mut().insert(CONTENT_TYPE, json);
        response
    };
    crate::grpc::metadata::response_headers(reply_metadata, response.headers_mut());
    let status = entry
        .answer
        .dress(response.headers_mut(), reply_metadata, reply_message);
    if status != http::StatusCode::OK {
        *response.status_mut() = status;
        if !answer::allows_body(status) {
            *response.body_mut() = Body::empty();
        }
    }
    Ok(response)
}

/// The request's `Content-Length`, when it sends a valid one.
fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The answer to a body of a type the binding does not take.
fn unsupported(content_type: &str, plan: &BodyPlan) -> GatewayError {
    let expected = if plan.takes_forms() {
        "application/json, multipart/form-data or application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    GatewayError::UnsupportedMediaType {
        content_type: content_type.to_string(),
        expected: expected.into(),
    }
}
