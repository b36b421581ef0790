//! Swagger UI at `/docs`, over `/openapi.json`: a person reads the API, authorizes once (the
//! Authorize dialog takes a bearer token or an API key, as the document's security schemes
//! say) and tries any operation against this gateway. The page, its JavaScript and CSS come
//! from the `swagger-ui-dist` crate, embedded in the binary: nothing is fetched from elsewhere.
//!
//! Only Swagger UI's own paths are taken (`/docs`, `/docs/`, `/docs/swagger-ui-bundle.js`,
//! ...); any other path under `/docs/` goes to the route table like every path, so it gets the
//! gateway's JSON 404 (or a configured route that lives there).

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use swagger_ui_dist::{ApiDefinition, OpenApiSource};
use tower::ServiceExt as _;

use crate::error::GatewayError;

/// Where Swagger UI is served; its assets are below it.
pub const DOCS_PATH: &str = "/docs";
/// Where the OpenAPI document it shows is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// Swagger UI's routes. A path it does not have is marked [`NotServed`] rather than answered.
static SWAGGER_UI: LazyLock<Router> = LazyLock::new(|| {
    swagger_ui_dist::generate_routes(ApiDefinition {
        uri_prefix: DOCS_PATH,
        api_definition: OpenApiSource::Uri(DOCUMENT_PATH),
        title: Some("gatehouse API"),
    })
    .method_not_allowed_fallback(|| async { method_not_allowed().into_response() })
    .fallback(|| async {
        let mut response = StatusCode::NOT_FOUND.into_response();
        response.extensions_mut().insert(NotServed);
        response
    })
});

/// Marks the router's answer to a path that is none of Swagger UI's.
#[derive(Clone, Copy)]
struct NotServed;

/// Whether `path` may be one of Swagger UI's: a prefix check, all a request elsewhere pays.
pub fn may_serve(path: &str) -> bool {
    path.strip_prefix(DOCS_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Swagger UI's answer to a `method` request for `path`, or `None` when `path` is none of its
/// pages. Methods other than GET and HEAD get the JSON 405.
pub async fn answer(method: &Method, path: &str) -> Option<Response> {
    if !may_serve(path) {
        return None;
    }
    // The page links its assets under the URI it was asked with: give it the bare path (no
    // query or authority, nothing a client wrote ends up in the page), and `/docs/` as `/docs`
    // so that its links have one slash.
    let uri = if path == "/docs/" { DOCS_PATH } else { path };
    let request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(Body::empty())
        .ok()?;
    let response = match SWAGGER_UI.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    response
        .extensions()
        .get::<NotServed>()
        .is_none()
        .then_some(response)
}

/// The JSON 405 of the gateway's own pages, which answer GET and HEAD only.
pub fn method_not_allowed() -> GatewayError {
    GatewayError::MethodNotAllowed {
        allowed: vec!["GET".into(), "HEAD".into()],
    }
}
