//! The whole gateway: any method, URI, headers and body through `stack::service` (every
//! layer: request id, tracing, CORS, concurrency limit, panic guard, protocol split, header
//! limits, auth, rate limits, transcoding) to the echo backend (`gatehouse_fuzz::echo`) on a
//! loopback port in this process. The config (`CONFIG`) adds a JWT issuer and an API key,
//! a route that needs a role, routes with rate limits, an aggregate, CORS and small limits.
//!
//! Input: text shaped like an HTTP/1.1 request. The first line is `METHOD TARGET`; TARGET is a
//! raw request target, or `~N:v1|v2|...[?query]`, which picks the N-th template of
//! `templates()` (the echo bindings and the aggregate) and fills its variables and bare `*`
//! segments with the values, so mutated inputs keep reaching routes; METHOD `*` is then the
//! binding's own. Header lines `name: value` follow until an empty line, then the body. Three
//! header lines are instructions instead: `~jwt SUB ROLE...` sends a valid bearer token of the
//! issuer, `~peer IP` sets the TCP peer (`ConnectInfo`; `10.0.0.0/8` is a trusted proxy), `~h2`
//! makes the request HTTP/2. What an HTTP parser would refuse (a bad method, target, header
//! name or value) is not sent.
//!
//! Invariants: nothing panics, nothing hangs, the answer carries `x-request-id`, and:
//! - every REST answer that is not 2xx has a status the gateway maps and the JSON error shape
//!   `{"code", "message", "details"}` as `application/json`: a gateway error names its reason
//!   in a `google.rpc.ErrorInfo` (domain `gatehouse`) with that reason's status and code; a
//!   backend error has the status its code maps to; no `google.rpc.DebugInfo` reaches the
//!   client; UNKNOWN, INTERNAL and DATA_LOSS messages are masked;
//! - a 2xx REST answer is JSON, or a stream (NDJSON or server-sent events) of JSON messages
//!   whose error, if any, has the error shape;
//! - gRPC and gRPC-Web requests (`content-type: application/grpc*`, sent to the ingress) are
//!   answered in gRPC: HTTP 200 carrying a `grpc-status`.
//!
//! Legitimate exceptions, checked as such: with CORS on, any `OPTIONS` request is a preflight
//! that tower-http's `CorsLayer` answers itself (200, empty body); `HEAD` answers have no body
//! (axum drops it; status and headers are still checked); `GET /docs` and the paths below it
//! are Swagger UI's page and assets (HTML, CSS, JavaScript, source maps).
//!
//! `WHOLE_STACK_SHOW=1` prints every request's answer (for triage).
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use gatehouse::config::Config;
use gatehouse::gateway::Gateway;
use gatehouse::grpc::http_status;
use gatehouse::grpc::{Protocol, protocol};
use gatehouse::stack::GatewayService;
use gatehouse::transcode::compiled::ROUTES;
use gatehouse_fuzz::echo::Echo;
use gatehouse_fuzz::{ECHO_SERVICE, keys};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt;

/// The config, with `{echo}` for the backend's address. The JWKS file is written next to it.
const CONFIG: &str = r#"
[server]
max_body = "1KiB"
timeout = "2s"
max_timeout = "2s"
body_timeout = "1s"
max_headers = 24
max_header_bytes = "8KiB"
max_json_depth = 16
trusted_proxies = ["10.0.0.0/8"]

[server.cors]
origins = ["https://app.example"]

[[backends]]
name = "echo"
services = ["gatehouse.echo.v1.EchoService"]
endpoints = ["http://{echo}"]

[[auth.jwt]]
issuer = "https://issuer.test"
audiences = ["gatehouse"]
jwks_file = "jwks.json"

# The key "fuzz-api-key".
[[auth.api_keys]]
name = "robot"
sha256 = "aed2430447c9832d79beb4115b2b797d98cb57c5f8661f18f81b1c564355d07f"
roles = ["admin"]

[[routes]]
method = "gatehouse.echo.v1.EchoService/EchoDelete"
roles = ["admin"]

[[routes]]
method = "gatehouse.echo.v1.EchoService/EchoBook"
auth = "authenticated"
rate_limit = { per_second = 100, burst = 5, key = "subject" }

[[routes]]
method = "gatehouse.echo.v1.EchoService/EchoWild"
rate_limit = { per_second = 20, burst = 2 }

[[aggregates]]
route = "GET /agg/chain/{id}"
[[aggregates.calls]]
name = "first"
method = "gatehouse.echo.v1.EchoService/Echo"
request = { string_field = "{id}", repeated_string = ["x", "y"], nested = { id = "{query.tag}", count = 7 } }
[[aggregates.calls]]
name = "second"
method = "gatehouse.echo.v1.EchoService/EchoBook"
request = { repeated_string = "{first.repeated_string[*]}", string_field = "{first.nested.id}" }

[telemetry]
access_log = "off"
"#;

/// Longest answer read; the largest legitimate one (the OpenAPI document, or a stream of
/// echoes of a 1 KiB body) is far below.
const MAX_RESPONSE: usize = 8 * 1024 * 1024;
/// Longer than any deadline in `CONFIG`: an answer that takes this long is a hang.
const PATIENCE: Duration = Duration::from_secs(15);

/// Every status a `GatewayError` can have: the gateway's own and the gRPC code mapping.
const MAPPED: [u16; 17] = [
    400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 431, 499, 500, 501, 502, 503, 504,
];

/// The gateway's machine codes with their HTTP status and google.rpc code, as `src/error.rs`
/// assigns them.
const REASONS: [(&str, u16, i64); 26] = [
    ("ROUTE_NOT_FOUND", 404, 5),
    ("METHOD_NOT_ALLOWED", 405, 12),
    ("INVALID_PATH", 400, 3),
    ("INVALID_JSON", 400, 3),
    ("INVALID_FIELD", 400, 3),
    ("UNKNOWN_FIELD", 400, 3),
    ("UNSUPPORTED_MEDIA_TYPE", 415, 3),
    ("BODY_TOO_LARGE", 413, 8),
    ("INVALID_TIMEOUT", 400, 3),
    ("STREAMING_NOT_SUPPORTED", 501, 12),
    ("UPSTREAM_UNAVAILABLE", 503, 14),
    ("NO_HEALTHY_UPSTREAM", 503, 14),
    ("UPSTREAM_OVERLOADED", 503, 14),
    ("UPSTREAM_BAD_RESPONSE", 502, 14),
    ("DEADLINE_EXCEEDED", 504, 4),
    ("INTERNAL", 500, 13),
    ("UNAUTHENTICATED", 401, 16),
    ("PERMISSION_DENIED", 403, 7),
    ("RATE_LIMITED", 429, 8),
    ("RATE_LIMIT_UNAVAILABLE", 503, 14),
    ("HEADERS_TOO_LARGE", 431, 8),
    ("JSON_TOO_DEEP", 400, 3),
    ("OVERLOADED", 503, 14),
    ("AUTH_UNAVAILABLE", 503, 14),
    ("HEADER_TIMEOUT", 408, 4),
    ("BODY_TIMEOUT", 408, 4),
];

struct Stack {
    runtime: tokio::runtime::Runtime,
    service: GatewayService,
}

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        // One thread: the backend, the gateway's tasks and the request all run in `block_on`,
        // so a run is as repeatable as the rate limits' clock allows.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let echo = runtime.block_on(Echo::spawn()).expect("the echo backend");
        let dir = std::env::temp_dir().join(format!("gatehouse-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        std::fs::write(dir.join("jwks.json"), keys::jwks_json()).expect("the JWKS file");
        let mut config = Config::parse("fuzz.toml", &CONFIG.replace("{echo}", &echo.to_string()))
            .unwrap_or_else(|e| panic!("the fuzz config: {e}"));
        config.base_dir = dir.clone();
        // The keys are read here, so the file is not needed afterwards.
        let gateway = runtime.block_on(async { Gateway::new(&config) });
        let _ = std::fs::remove_dir_all(&dir);
        let service = gatehouse::stack::service(gateway.expect("the gateway builds"));
        Stack { runtime, service }
    })
}

/// `(method, template)` of every echo binding, then the aggregate's.
fn templates() -> &'static [(&'static str, &'static str)] {
    static TEMPLATES: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        ROUTES
            .iter()
            .filter(|spec| spec.service == ECHO_SERVICE)
            .map(|spec| (spec.http_method, spec.template))
            .chain([("GET", "/agg/chain/{id}")])
            .collect()
    })
}

/// Percent-encodes what a request target cannot hold raw, keeping `/`, `%` and everything
/// else printable so values can add segments and escapes of their own.
fn push_target_bytes(out: &mut String, value: &str, keep: &[u8]) {
    for &b in value.as_bytes() {
        let plain = b.is_ascii_graphic() && (!b"\"#<>?\\^`{|}".contains(&b) || keep.contains(&b));
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// `template` with each variable and each bare `*`/`**` segment replaced by the next value
/// (`x` when the values run out).
fn fill(template: &str, values: &mut std::str::Split<'_, char>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '{' => rest.find('}').map_or(rest.len(), |end| end + 1),
            '*' if rest.starts_with("**") => 2,
            '*' => 1,
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
        };
        push_target_bytes(&mut out, values.next().unwrap_or("x"), &[]);
        rest = &rest[taken..];
    }
    out
}

/// The request the input describes, or `None` when an HTTP parser would refuse it.
fn decode(data: &[u8]) -> Option<Request<Body>> {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(end) => (&data[..end], &data[end + 2..]),
        None => (data, &b""[..]),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = std::str::from_utf8(lines.next()?).ok()?;
    let (method, target) = request_line.split_once(' ')?;
    let (method, target) = match target.strip_prefix('~') {
        Some(pick) => {
            let (index, rest) = pick.split_once(':').unwrap_or((pick, ""));
            let all = templates();
            let (own_method, template) = all[index.parse::<usize>().ok()? % all.len()];
            let (values, query) = match rest.split_once('?') {
                Some((values, query)) => (values, Some(query)),
                None => (rest, None),
            };
            let mut target = fill(template, &mut values.split('|'));
            if let Some(query) = query {
                target.push('?');
                push_target_bytes(&mut target, query, b"?");
            }
            let method = if method == "*" { own_method } else { method };
            (Method::from_bytes(method.as_bytes()).ok()?, target)
        }
        None => (
            Method::from_bytes(method.as_bytes()).ok()?,
            target.to_string(),
        ),
    };
    let uri = Uri::try_from(target).ok()?;

    let mut request = Request::new(Body::from(Bytes::copy_from_slice(body)));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    for line in lines {
        if let Some(jwt) = line.strip_prefix(b"~jwt ") {
            let text = String::from_utf8_lossy(jwt);
            let mut words = text.split(' ');
            let subject = words.next().unwrap_or_default();
            let roles: Vec<&str> = words.collect();
            let bearer = format!("Bearer {}", keys::valid_token(subject, &roles));
            let value = HeaderValue::from_str(&bearer).ok()?;
            request.headers_mut().append(AUTHORIZATION, value);
        } else if let Some(peer) = line.strip_prefix(b"~peer ") {
            let ip: IpAddr = std::str::from_utf8(peer).ok()?.trim().parse().ok()?;
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
        } else if line == b"~h2" {
            *request.version_mut() = Version::HTTP_2;
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = HeaderName::from_bytes(&line[..colon]).ok()?;
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
            request.headers_mut().append(name, value);
        }
    }
    Some(request)
}

/// The JSON error shape; `status` is the HTTP status it came with (none inside a stream).
fn check_error(error: &Value, status: Option<StatusCode>) {
    let object = error
        .as_object()
        .expect("an error that is not a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "details", "message"],
        "error fields: {error}"
    );
    let code = error["code"].as_i64().expect("a numeric code");
    assert!((1..=16).contains(&code), "code {code} is no error code");
    let message = error["message"].as_str().expect("a string message");
    if matches!(code, 2 | 13 | 15) {
        assert_eq!(message, "internal error", "an unmasked {code} message");
    }
    let details = error["details"].as_array().expect("a details array");
    let mut reason = None;
    for detail in details {
        let type_url = detail["@type"].as_str().expect("a detail without @type");
        assert!(
            !type_url.ends_with("google.rpc.DebugInfo"),
            "DebugInfo reached the client: {error}"
        );
        if type_url.ends_with("google.rpc.ErrorInfo") && detail["domain"] == "gatehouse" {
            reason = detail["reason"].as_str();
        }
    }
    match reason {
        Some(reason) => {
            let Some(&(_, http, grpc)) = REASONS.iter().find(|(r, ..)| *r == reason) else {
                panic!("unknown reason {reason}: {error}");
            };
            assert_eq!(code, grpc, "code of {reason}");
            if let Some(status) = status {
                assert_eq!(status.as_u16(), http, "status of {reason}");
            }
        }
        // From the backend: the status its code maps to.
        None => {
            if let Some(status) = status {
                let code = i32::try_from(code).expect("a small code");
                assert_eq!(
                    status,
                    http_status(tonic::Code::from_i32(code)),
                    "status of backend code {code}"
                );
            }
        }
    }
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{what} is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    })
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// NDJSON or server-sent events: every message JSON, the error event the error shape.
fn check_stream(kind: &str, body: &[u8]) {
    let text = std::str::from_utf8(body).expect("a stream that is not UTF-8");
    if kind == "application/x-ndjson" {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let message = json(line.as_bytes(), "an NDJSON line");
            if let Some(error) = message.get("error") {
                check_error(error, None);
            }
        }
        return;
    }
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let is_error = event.lines().any(|l| l == "event: error");
        for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
            let message = json(data.trim_start().as_bytes(), "an event's data");
            if is_error {
                check_error(&message, None);
            }
        }
    }
}

/// A gRPC-Web-text body: each frame is base64 of its own, padded, so every group of four
/// characters decodes alone.
fn decode_base64_frames(text: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    text.chunks(4)
        .flat_map(|group| engine.decode(group).unwrap_or_default())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = decode(data) else {
        return;
    };
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let protocol = protocol(request.headers());
    let stack = stack();
    let answer = stack.runtime.block_on(async {
        tokio::time::timeout(PATIENCE, async {
            let response = stack.service.clone().oneshot(request).await;
            let Ok(response) = response;
            let (parts, body) = response.into_parts();
            (parts, Limited::new(body, MAX_RESPONSE).collect().await)
        })
        .await
    });
    let Ok((parts, body)) = answer else {
        panic!("no answer to {method} {path} in {PATIENCE:?}");
    };
    let body = match body {
        Ok(collected) => collected,
        Err(e) if e.is::<LengthLimitError>() => panic!("an answer over {MAX_RESPONSE} bytes"),
        Err(e) => panic!("the answer's body failed: {e}"),
    };
    let status = parts.status;
    let in_trailers = body
        .trailers()
        .is_some_and(|t| t.contains_key("grpc-status"));
    let bytes = body.to_bytes();
    if std::env::var_os("WHOLE_STACK_SHOW").is_some() {
        // For triage: what each input got.
        let shown = String::from_utf8_lossy(&bytes);
        eprintln!("{method} {path} -> {status} {shown:.300}");
    }
    assert!(
        parts.headers.contains_key("x-request-id"),
        "{status} without x-request-id"
    );
    let kind = content_type(&parts.headers)
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if method == Method::OPTIONS {
        // The CORS preflight answer, whatever the protocol.
        assert_eq!(status, StatusCode::OK, "a preflight answered {status}");
        assert!(bytes.is_empty(), "a preflight answer with a body");
        return;
    }
    if protocol != Protocol::Rest {
        let mut bytes = bytes.to_vec();
        if kind.starts_with("application/grpc-web-text") {
            bytes = decode_base64_frames(&bytes);
        }
        // gRPC-Web carries the trailers in the body.
        let in_body = bytes
            .windows(12)
            .any(|w| w.eq_ignore_ascii_case(b"grpc-status:"));
        assert_eq!(status, StatusCode::OK, "a gRPC answer with HTTP {status}");
        assert!(
            parts.headers.contains_key("grpc-status") || in_trailers || in_body,
            "a gRPC answer without grpc-status"
        );
        return;
    }
    let has_body = method != Method::HEAD;
    if status.is_success() {
        match kind.as_str() {
            "application/json" if has_body => drop(json(&bytes, "a 2xx answer")),
            "application/x-ndjson" | "text/event-stream" if has_body => check_stream(&kind, &bytes),
            "text/html" | "text/css" | "text/javascript"
                if gatehouse::openapi::explorer::may_serve(&path) => {}
            _ if !has_body => {}
            other => panic!("a {status} answer of type {other:?}"),
        }
        return;
    }
    assert!(
        MAPPED.contains(&status.as_u16()),
        "{status} is no status the gateway maps"
    );
    assert_eq!(kind, "application/json", "a {status} error of another type");
    if has_body {
        check_error(&json(&bytes, "an error body"), Some(status));
    } else {
        assert!(bytes.is_empty(), "a HEAD answer with a body");
    }
});
