//! Rate limits and request limits over real sockets: 429 with its headers, per-key isolation,
//! X-Forwarded-For believed only from trusted proxies, 431, 400 for deep JSON, 503 when the
//! gateway is full, 408 for slow clients, and CORS.
//!
//! The exact GCRA boundary (the call at exactly the refill instant) is checked with paused
//! tokio time in src/security/ratelimit.rs; here limits are too slow to refill during a test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::tokens::{JwksFile, token};
use common::{TestGateway, expect_error, json_ok};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO: &str = "/v1/echo/x";

/// Echo limited to 3 calls a minute (burst 3) per `key`, with `extra` config.
async fn limited(key: &str, extra: &str) -> TestGateway {
    TestGateway::with_config(&format!(
        "{extra}\n[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         rate_limit = {{ per_minute = 3, burst = 3, key = \"{key}\" }}\n"
    ))
    .await
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_and_ratelimit_headers() {
    let gw = limited("ip", "").await;
    // A call that fails after admission counts, and says so too.
    let response = gw.get("/v1/echo/x?int32Field=abc").send().await.unwrap();
    assert_eq!(response.headers()["ratelimit-remaining"], "2");
    expect_error(response, 400, 3, "INVALID_FIELD").await;
    for remaining in ["1", "0"] {
        let response = gw.get(ECHO).send().await.unwrap();
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
        json_ok(response).await;
    }
    let response = gw.get(ECHO).send().await.unwrap();
    let headers = response.headers().clone();
    expect_error(response, 429, 8, "RATE_LIMITED").await;
    // One call every 20 s: the next one is allowed in (at most) 20 s.
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["ratelimit-limit"], "3");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert!(headers.contains_key("ratelimit-reset"));
    // Other methods are not limited by Echo's entry.
    json_ok(gw.get("/v1/files/a/b").send().await.unwrap()).await;
}

#[tokio::test]
async fn limits_by_subject_keep_callers_apart_and_fall_back_to_the_address() {
    let jwks = JwksFile::write();
    // Echo is public here, so calls without a token are allowed and counted by address.
    let gw = limited(
        "subject",
        &format!(
            "{}\n[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\nauth = \"public\"\n",
            jwks.auth_toml()
        ),
    )
    .await;
    let bearer = |who: &str| format!("Bearer {}", token(who, &[]));
    for _ in 0..3 {
        assert_eq!(
            status_of(gw.get(ECHO).header("authorization", bearer("alice"))).await,
            200
        );
    }
    assert_eq!(
        status_of(gw.get(ECHO).header("authorization", bearer("alice"))).await,
        429
    );
    // Bob has his own bucket.
    assert_eq!(
        status_of(gw.get(ECHO).header("authorization", bearer("bob"))).await,
        200
    );
    // No subject: the address is the key, and it is limited too (never "no limit").
    for _ in 0..3 {
        assert_eq!(status_of(gw.get(ECHO)).await, 200);
    }
    assert_eq!(status_of(gw.get(ECHO)).await, 429);
}

#[tokio::test]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_does_not_change_the_key() {
    let gw = limited("ip", "").await;
    for i in 0..3 {
        let spoofed = format!("203.0.113.{i}");
        assert_eq!(
            status_of(gw.get(ECHO).header("x-forwarded-for", spoofed)).await,
            200
        );
    }
    let response = gw
        .get(ECHO)
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    expect_error(response, 429, 8, "RATE_LIMITED").await;
}

#[tokio::test]
async fn a_trusted_proxy_forwards_the_client_address() {
    let gw = limited("ip", "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n").await;
    // Behind the (trusted) loopback proxy, every client address has its own bucket.
    for i in 0..6 {
        let client = format!("203.0.113.{i}");
        assert_eq!(
            status_of(gw.get(ECHO).header("x-forwarded-for", client)).await,
            200
        );
    }
    // A client prepending addresses cannot escape its own bucket: the right-most untrusted
    // hop is the client.
    for i in 0..3 {
        let chain = format!("10.9.9.{i}, 198.51.100.1");
        assert_eq!(
            status_of(gw.get(ECHO).header("x-forwarded-for", chain)).await,
            200
        );
    }
    let chain = "10.9.9.99, 198.51.100.1";
    assert_eq!(
        status_of(gw.get(ECHO).header("x-forwarded-for", chain)).await,
        429
    );
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431() {
    let gw =
        TestGateway::with_config("[server]\nmax_headers = 20\nmax_header_bytes = \"2KiB\"").await;
    let mut request = gw.get(ECHO);
    for i in 0..25 {
        request = request.header(format!("x-filler-{i}"), "1");
    }
    let response = request.send().await.unwrap();
    expect_error(response, 431, 8, "HEADERS_TOO_LARGE").await;

    let response = gw
        .get(ECHO)
        .header("x-big", "a".repeat(3000))
        .send()
        .await
        .unwrap();
    expect_error(response, 431, 8, "HEADERS_TOO_LARGE").await;
    json_ok(gw.get(ECHO).send().await.unwrap()).await;
}

#[tokio::test]
async fn json_nested_too_deep_is_400() {
    let gw = TestGateway::with_config("[server]\nmax_json_depth = 8").await;
    let deep = format!(
        "{{\"repeatedString\": {}{}}}",
        "[".repeat(20),
        "]".repeat(20)
    );
    let response = gw.post_json("/v1/echo", &deep).send().await.unwrap();
    expect_error(response, 400, 3, "JSON_TOO_DEEP").await;
    let shallow = "{\"nested\": {\"id\": \"a\"}}";
    json_ok(gw.post_json("/v1/echo", shallow).send().await.unwrap()).await;
}

#[tokio::test]
async fn a_full_gateway_sheds_load_with_503() {
    let gw = Arc::new(TestGateway::with_config("[server]\nmax_concurrent_requests = 2").await);
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { status_of(gw.get("/v1/echo/x?delayMs=1500")).await })
        })
        .collect();
    // Wait until both slow calls hold their slot: then the next call is shed.
    let mut shed = None;
    for _ in 0..100 {
        let response = gw.get(ECHO).send().await.unwrap();
        if response.status() == 503 {
            shed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let response = shed.expect("a call beyond the limit is shed");
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, 503, 14, "OVERLOADED").await;
    for call in slow {
        assert_eq!(call.await.unwrap(), 200);
    }
}

/// Reads what the gateway answers on `socket` until it closes, up to 10 s.
async fn read_all(socket: &mut tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_client_too_slow_with_its_headers_gets_408() {
    let gw = TestGateway::with_config("[server]\nheader_read_timeout = \"200ms\"").await;
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    socket
        .write_all(b"GET /v1/echo/x HTTP/1.1\r\nhost: gatehouse\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"HEADER_TIMEOUT\""), "{answer}");
    assert!(answer.contains("\"code\":4"), "{answer}");
}

#[tokio::test]
async fn a_client_too_slow_with_its_body_gets_408() {
    let gw = TestGateway::with_config("[server]\nbody_timeout = \"200ms\"").await;
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    socket
        .write_all(
            b"POST /v1/echo HTTP/1.1\r\nhost: gatehouse\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"stringField\":",
        )
        .await
        .unwrap();
    let answer = read_all(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"BODY_TIMEOUT\""), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_without_a_408() {
    let gw = TestGateway::with_config("[server]\nheader_read_timeout = \"200ms\"").await;
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    socket
        .write_all(b"GET /v1/echo/x HTTP/1.1\r\nhost: gatehouse\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Nothing after the 200 (a request id may well contain the digits 408).
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(!answer.contains("HEADER_TIMEOUT"), "{answer}");
}

/// A client that connects and sends nothing does not get to hold the connection: the first
/// bytes, which tell HTTP/1.1 from HTTP/2, are bounded by the header read timeout as the rest
/// of the headers are.
#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let gw = TestGateway::with_config("[server]\nheader_read_timeout = \"200ms\"").await;
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out)).await;
    assert!(
        closed.is_ok(),
        "the silent connection is still open after 10 s"
    );
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

/// The start of HTTP/2's preface, then nothing: a request was begun and not finished in time.
#[tokio::test]
async fn a_stalled_partial_http2_preface_gets_408() {
    let gw = TestGateway::with_config("[server]\nheader_read_timeout = \"200ms\"").await;
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    socket.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let answer = read_all(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"HEADER_TIMEOUT\""), "{answer}");
}

const ORIGIN: &str = "https://app.example.com";

async fn cors_gateway() -> (TestGateway, JwksFile) {
    let jwks = JwksFile::write();
    let gw = TestGateway::with_config(&format!(
        "{}\n[server.cors]\norigins = [\"{ORIGIN}\"]\ncredentials = true\n",
        jwks.auth_toml()
    ))
    .await;
    (gw, jwks)
}

#[tokio::test]
async fn cors_preflight_is_answered_without_a_credential() {
    let (gw, _jwks) = cors_gateway().await;
    let response = gw
        .request("OPTIONS", "/v1/echo")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn cors_headers_are_on_answers_and_errors_for_allowed_origins_only() {
    let (gw, _jwks) = cors_gateway().await;
    let bearer = format!("Bearer {}", token("alice", &[]));
    let response = gw
        .get(ECHO)
        .header("origin", ORIGIN)
        .header("authorization", bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    json_ok(response).await;

    // A 401 carries them too, so the page can read why.
    let response = gw.get(ECHO).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    expect_error(response, 401, 16, "UNAUTHENTICATED").await;

    // Another origin gets no CORS headers: the browser keeps the answer from its page.
    let response = gw
        .get(ECHO)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
