//! CORS for `[server.cors]`, as a tower-http layer.

use http::Method;
use http::header::{self, HeaderName, HeaderValue};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsConfig;
use crate::grpc::GRPC_TIMEOUT;
use crate::telemetry::trace::REQUEST_ID;

/// CORS for the configured origins. Preflights are answered here, before any credential is
/// asked for; every other response gets the CORS headers, errors included, so a page can read
/// why its call failed.
pub fn cors_layer(config: &CorsConfig, api_key_header: HeaderName) -> CorsLayer {
    let origin = if config.origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let allow_headers: Vec<HeaderName> = [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        GRPC_TIMEOUT,
        api_key_header,
        REQUEST_ID,
        // Sent by gRPC-Web clients.
        HeaderName::from_static("x-grpc-web"),
        HeaderName::from_static("x-user-agent"),
    ]
    .into_iter()
    .chain(
        config
            .allow_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    )
    .collect();
    let expose_headers: Vec<HeaderName> = [
        REQUEST_ID,
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
        HeaderName::from_static("ratelimit-limit"),
        HeaderName::from_static("ratelimit-remaining"),
        HeaderName::from_static("ratelimit-reset"),
        // A gRPC-Web status in the headers (trailers-only answers) must be readable.
        HeaderName::from_static("grpc-status"),
        HeaderName::from_static("grpc-message"),
        HeaderName::from_static("grpc-status-details-bin"),
    ]
    .into_iter()
    .chain(
        config
            .expose_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    )
    .collect();
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(allow_headers)
        .expose_headers(expose_headers)
        .allow_credentials(config.credentials)
        .max_age(config.max_age)
}
