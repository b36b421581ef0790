//! The HTTP front end: the tower stack and the dispatcher that every request reaches.
//!
//! axum serves the connections and runs the layers; its own router cannot express
//! google.api.http templates, so one dispatcher is mounted as the fallback and matches every
//! request against the `RouteTable`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, request::Parts};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::GatewayError;
use crate::http_rule::PathMatch;
use crate::routes::{MethodKind, RouteTable};
use crate::transcode::codec::RequestParts;
use crate::transcode::metadata;
use crate::transcode::timeout::parse_grpc_timeout;
use crate::upstream::Backend;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The gateway's state: the route table and the per-request settings, built once.
pub struct Gateway {
    routes: RouteTable,
    max_body: usize,
    max_timeout: Duration,
    ignore_unknown_query: bool,
    forwarded_headers: Vec<HeaderName>,
}

impl Gateway {
    /// Builds the gateway for a validated config: one backend pool per `[[backends]]` entry
    /// (connections are made on first use), and the routes of the services they serve.
    /// Must be called inside a Tokio runtime: DNS refresh and health checks run as tasks.
    pub fn new(config: &Config) -> Result<Gateway, String> {
        let backends = config
            .backends
            .iter()
            .map(Backend::new)
            .collect::<Result<Vec<_>, _>>()?;
        let routes = RouteTable::build(config, |name| {
            backends.iter().find(|b| b.name() == name).cloned()
        })?;
        let forwarded_headers = metadata::DEFAULT_FORWARDED_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h))
            .chain(
                config
                    .server
                    .forward_headers
                    .iter()
                    .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            )
            .collect();
        Ok(Gateway {
            routes,
            max_body: usize::try_from(config.server.max_body.as_u64()).unwrap_or(usize::MAX),
            max_timeout: config.server.max_timeout,
            ignore_unknown_query: config.server.ignore_unknown_query_parameters,
            forwarded_headers,
        })
    }

    /// Number of served bindings.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The axum router with the whole tower stack.
    pub fn into_router(self) -> Router {
        // Outermost first: every response, even one from a panic, carries the request id
        // and is traced.
        Router::new()
            .fallback(dispatch)
            .with_state(Arc::new(self))
            .layer(CatchPanicLayer::custom(|_| {
                GatewayError::Internal("handler panicked".into()).into_response()
            }))
            .layer(TraceLayer::new_for_http())
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
    }

    async fn handle(
        &self,
        peer: Option<SocketAddr>,
        request: Request,
    ) -> Result<Response, GatewayError> {
        let (parts, body) = request.into_parts();
        let found = match self.routes.find(parts.method.as_str(), parts.uri.path()) {
            PathMatch::Found(found) => found,
            PathMatch::MethodNotAllowed { allowed } => {
                return Err(GatewayError::MethodNotAllowed {
                    allowed: allowed.into_iter().map(str::to_string).collect(),
                });
            }
            PathMatch::NotFound => return Err(GatewayError::RouteNotFound),
            PathMatch::BadPath(e) => return Err(GatewayError::BadPath(e.to_string())),
        };
        let entry = found.value;
        let spec = entry.spec;
        if spec.kind != MethodKind::Unary {
            return Err(GatewayError::StreamingNotSupported(match spec.kind {
                MethodKind::ServerStreaming => "server-streaming",
                MethodKind::ClientStreaming => "client-streaming",
                _ => "bidi-streaming",
            }));
        }
        let deadline = self.deadline(&parts.headers, entry.timeout)?;
        let body = match spec.body {
            Some(_) => self.read_body(&parts, body).await?,
            None => Bytes::new(),
        };
        let message = spec.codec.build_request(
            spec,
            RequestParts {
                bindings: &found.bindings,
                query: parts.uri.query(),
                body: &body,
                ignore_unknown_query: self.ignore_unknown_query,
            },
        )?;
        let metadata = metadata::request_metadata(
            &parts.headers,
            &self.forwarded_headers,
            peer.map(|p| p.ip()),
        );
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
        let (reply_metadata, reply_message, _) = reply.into_parts();
        let mut out = Vec::with_capacity(reply_message.len() * 2 + 16);
        spec.codec.render_response(&reply_message, &mut out)?;
        let mut response = Response::new(Body::from(out));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        metadata::response_headers(&reply_metadata, headers);
        Ok(response)
    }

    /// min(client `Grpc-Timeout`, the route's deadline); `max_timeout` caps both.
    fn deadline(&self, headers: &HeaderMap, route: Duration) -> Result<Duration, GatewayError> {
        let Some(value) = headers.get("grpc-timeout") else {
            return Ok(route);
        };
        let text = value.to_str().unwrap_or_default();
        let asked = parse_grpc_timeout(text).ok_or_else(|| {
            GatewayError::BadTimeout(String::from_utf8_lossy(value.as_bytes()).into())
        })?;
        Ok(asked.min(self.max_timeout).min(route))
    }

    /// Reads a JSON body up to `max_body` bytes.
    async fn read_body(&self, parts: &Parts, body: Body) -> Result<Bytes, GatewayError> {
        if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(GatewayError::UnsupportedMediaType(
                    String::from_utf8_lossy(content_type.as_bytes()).into(),
                ));
            }
        }
        let too_large = GatewayError::BodyTooLarge {
            limit: self.max_body,
        };
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(too_large);
        }
        match Limited::new(body, self.max_body).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
            Err(_) => Err(GatewayError::InvalidJson(
                "the request body could not be read".into(),
            )),
        }
    }
}

async fn dispatch(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match gateway.handle(peer, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Serves `gateway` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = gateway.into_router();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
