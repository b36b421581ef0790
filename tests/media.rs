//! Bodies beyond JSON (issue 24), against the media backend (`gatehouse.media.v1.MediaService`,
//! whose methods answer what they received): raw `google.api.HttpBody` responses, streamed
//! downloads, raw request bodies with `accept` and `max_body`, multipart and URL-encoded forms,
//! and the PATCH update mask the gateway takes from the JSON body.

mod common;

use base64::Engine as _;
use common::media::{LATER_CONTENT_TYPE, pattern};
use common::{
    MEDIA_SERVICE, Media, PATIENCE, TestGateway, expect_error, expect_status, field_violations,
    json_ok,
};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

/// A gateway in front of a media backend (and the echo backend).
async fn gateway() -> TestGateway {
    TestGateway::builder().media().start().await
}

/// The same with `toml` added to the config.
async fn gateway_with(toml: &str) -> TestGateway {
    TestGateway::builder().media().config(toml).start().await
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header").to_string())
}

/// The bytes of a proto3 JSON `bytes` value (standard base64; URL-safe accepted as well).
fn bytes_of(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a base64 string"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .unwrap_or_else(|e| panic!("{text:?} is not base64: {e}"))
}

/// Every byte value, in a shuffled order, `len` bytes long: no text, no JSON.
fn binary(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 89 + 3) % 256).expect("a byte"))
        .collect()
}

fn part(bytes: &[u8], content_type: &str) -> Part {
    Part::bytes(bytes.to_vec())
        .file_name("upload.bin")
        .mime_str(content_type)
        .expect("a valid media type")
}

/// `POST path` with a hand-written body and content type.
async fn post_raw(
    gw: &TestGateway,
    path: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    gw.request("POST", path)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Raw responses

#[tokio::test]
async fn a_download_answers_its_content_type_and_exact_bytes() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/picture")
        .query(&[("contentType", "image/png"), ("chunkSize", "5000")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("image/png")
    );
    assert_eq!(
        header(&response, "grpc-metadata-x-backend").as_deref(),
        Some("media"),
        "backend metadata becomes headers as for JSON replies"
    );
    assert_eq!(
        header(&response, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "a browser must not second-guess a raw body's type"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), pattern("picture", 5000).as_slice());
}

/// A reply message over the backend's `max_response_message` (4 MiB unless set) is a bad
/// reply; the key raises the limit for the downloads that need it.
#[tokio::test]
async fn a_download_larger_than_the_backend_limit_needs_max_response_message() {
    let size = (6 * 1024 * 1024).to_string();
    let query = [("contentType", "video/mp4"), ("chunkSize", size.as_str())];
    let gw = gateway().await;
    let response = gw.get("/v1/media/film").query(&query).send().await.unwrap();
    expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;

    let media = Media::spawn().await;
    let entry = format!(
        "[[backends]]\nname = \"media\"\nservices = [\"{MEDIA_SERVICE}\"]\n\
         endpoints = [\"http://{}\"]\nmax_response_message = \"7MiB\"\n",
        media.addr
    );
    let gw = TestGateway::builder().config(&entry).start().await;
    let response = gw.get("/v1/media/film").query(&query).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), pattern("film", 6 * 1024 * 1024).as_slice());
}

#[tokio::test]
async fn a_download_keeps_content_type_parameters() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/notes")
        .query(&[
            ("content_type", "text/csv; charset=utf-8"),
            ("chunk_size", "3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        pattern("notes", 3)
    );
}

#[tokio::test]
async fn a_download_without_content_type_is_an_octet_stream() {
    let gw = gateway().await;
    let response = gw.get("/v1/media/blob?chunkSize=64").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        pattern("blob", 64)
    );
}

#[tokio::test]
async fn an_empty_download_is_an_empty_body() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/nothing?contentType=image/gif")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("image/gif")
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_download_is_a_json_error() {
    let gw = gateway().await;
    // PERMISSION_DENIED
    let response = gw
        .get("/v1/media/secret?failAfterFirst=7&contentType=image/png")
        .send()
        .await
        .unwrap();
    expect_status(response, 403, 7).await;
}

// ---------------------------------------------------------------------------------------------
// Streamed downloads

#[tokio::test]
async fn a_stream_answers_the_first_content_type_and_every_chunk_in_order() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/song:stream")
        .query(&[
            ("contentType", "audio/ogg"),
            ("chunks", "5"),
            ("chunkSize", "1000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The later messages say LATER_CONTENT_TYPE: only the first one counts.
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("audio/ogg")
    );
    assert_ne!(
        header(&response, "content-type").as_deref(),
        Some(LATER_CONTENT_TYPE)
    );
    assert_eq!(
        header(&response, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        header(&response, "grpc-metadata-x-backend").as_deref(),
        Some("media")
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 5000);
    assert_eq!(body.as_ref(), pattern("song", 5000).as_slice());
}

#[tokio::test]
async fn a_stream_without_content_type_is_an_octet_stream() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/bits:stream?chunks=2&chunkSize=10")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        pattern("bits", 20)
    );
}

#[tokio::test]
async fn a_large_stream_arrives_intact_and_chunked() {
    let gw = gateway().await;
    let (chunks, size) = (64, 64 * 1024);
    let response = gw
        .get("/v1/media/large:stream")
        .query(&[
            ("contentType", "video/mp4"),
            ("chunks", &chunks.to_string()),
            ("chunkSize", &size.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("video/mp4")
    );
    assert_eq!(
        header(&response, "content-length"),
        None,
        "a stream is sent as it arrives, its length unknown"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), chunks * size);
    // Compared whole, not by assert_eq!, to keep a failure's message readable.
    let expected = pattern("large", chunks * size);
    let first_difference = body.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "the body differs from the download");
}

#[tokio::test]
async fn the_first_chunk_reaches_the_client_before_the_backend_sends_the_rest() {
    let media = Media::spawn_held().await;
    let gw = TestGateway::builder()
        .backend("media", MEDIA_SERVICE, media.addr)
        .start()
        .await;
    let size = 4096;
    let request = gw
        .get("/v1/media/held:stream")
        .query(&[
            ("contentType", "application/x-held"),
            ("chunks", "3"),
            ("chunkSize", &size.to_string()),
        ])
        .send();
    // The backend sends nothing more until released: a gateway that waits for the whole
    // stream never answers, and the bound turns that hang into a failure.
    let mut response = tokio::time::timeout(PATIENCE, request)
        .await
        .expect("the response starts while the backend holds back the rest")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/x-held")
    );
    let mut received = Vec::new();
    while received.len() < size {
        let chunk = tokio::time::timeout(PATIENCE, response.chunk())
            .await
            .expect("the first message's bytes arrive while the backend holds back the rest")
            .unwrap()
            .expect("the body goes on");
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, pattern("held", size));
    assert_eq!(
        media.sent(),
        1,
        "the backend sent only the first message so far"
    );

    media.release();
    let rest = tokio::time::timeout(PATIENCE, response.bytes())
        .await
        .expect("the rest arrives once released")
        .unwrap();
    received.extend_from_slice(&rest);
    assert_eq!(received, pattern("held", 3 * size));
    assert_eq!(media.sent(), 3);
}

#[tokio::test]
async fn an_error_after_the_first_message_aborts_the_body() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/broken:stream")
        .query(&[
            ("contentType", "image/png"),
            ("chunks", "3"),
            ("chunkSize", "100"),
            // INTERNAL
            ("failAfterFirst", "13"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("image/png")
    );
    let body = response.bytes().await;
    assert!(
        body.is_err(),
        "a truncated body must not read as complete: {body:?}"
    );
}

#[tokio::test]
async fn an_error_after_the_first_message_aborts_a_body_already_under_way() {
    let media = Media::spawn_held().await;
    let gw = TestGateway::builder()
        .backend("media", MEDIA_SERVICE, media.addr)
        .start()
        .await;
    let request = gw
        .get("/v1/media/cut:stream")
        .query(&[
            ("contentType", "image/png"),
            ("chunks", "3"),
            ("chunkSize", "100"),
            // UNAVAILABLE
            ("failAfterFirst", "14"),
        ])
        .send();
    let mut response = tokio::time::timeout(PATIENCE, request)
        .await
        .expect("the response starts while the backend holds back the error")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("image/png")
    );
    let mut received = Vec::new();
    while received.len() < 100 {
        let chunk = tokio::time::timeout(PATIENCE, response.chunk())
            .await
            .expect("the first message's bytes arrive")
            .unwrap()
            .expect("the body goes on");
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, pattern("cut", 100));

    media.release();
    let rest = tokio::time::timeout(PATIENCE, response.bytes())
        .await
        .expect("the failure reaches the client");
    assert!(
        rest.is_err(),
        "a truncated body must not read as complete: {rest:?}"
    );
}

#[tokio::test]
async fn an_error_before_the_first_message_is_a_json_error_with_its_status() {
    let gw = gateway().await;
    let response = gw
        .get("/v1/media/missing:stream")
        .query(&[
            ("contentType", "image/png"),
            ("chunks", "0"),
            // NOT_FOUND
            ("failAfterFirst", "5"),
        ])
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 404, 5).await;
    assert_eq!(body["message"], "the download failed as asked", "{body}");
}

// ---------------------------------------------------------------------------------------------
// Raw requests

#[tokio::test]
async fn raw_in_raw_out_round_trips_any_bytes_and_content_type() {
    let gw = gateway().await;
    let sent = binary(3000);
    for content_type in [
        "application/x-thing",
        "image/png; name=\"a b.png\"; q=1",
        "text/plain; charset=iso-8859-1",
    ] {
        let response = gw
            .request("POST", "/v1/media:echo")
            .header("content-type", content_type)
            .body(sent.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
        assert_eq!(
            header(&response, "content-type").as_deref(),
            Some(content_type),
            "the content type is kept as sent, parameters included"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), sent.as_slice());
    }
}

#[tokio::test]
async fn raw_in_does_not_read_json_or_forms() {
    let gw = gateway().await;
    for (content_type, body) in [
        (
            "application/json",
            r#"{"data": "aGk=", "contentType": "x/y"}"#,
        ),
        ("application/json", "not JSON at all {"),
        ("application/x-www-form-urlencoded", "data=aGk%3D&x=1"),
        (
            "multipart/form-data; boundary=b",
            "--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nhi\r\n--b--\r\n",
        ),
    ] {
        let response = post_raw(&gw, "/v1/media:echo", content_type, body).await;
        assert_eq!(response.status(), 200, "{content_type}: {body}");
        assert_eq!(
            header(&response, "content-type").as_deref(),
            Some(content_type)
        );
        assert_eq!(response.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn raw_in_without_content_type_is_empty_and_answers_an_octet_stream() {
    let gw = gateway().await;
    let response = gw
        .request("POST", "/v1/media:echo")
        .body(vec![0u8, 1, 2, 255])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), [0u8, 1, 2, 255]);
}

#[tokio::test]
async fn an_empty_raw_body_is_empty_data() {
    let gw = gateway().await;
    let response = gw
        .request("POST", "/v1/media:echo")
        .header("content-type", "application/x-empty")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/x-empty")
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_raw_body_fills_its_field_and_path_and_query_fill_the_rest() {
    let gw = gateway().await;
    let sent = binary(700);
    let response = gw
        .request("PUT", "/v1/media/pic?caption=hello&count=3&tags=a&tags=b")
        .header("content-type", "image/png")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(body["name"], "pic", "{body}");
    assert_eq!(body["caption"], "hello", "{body}");
    assert_eq!(body["count"], 3, "{body}");
    assert_eq!(body["tags"], json!(["a", "b"]), "{body}");
    assert_eq!(body["file"]["contentType"], "image/png", "{body}");
    assert_eq!(bytes_of(&body["file"]["data"]), sent, "{body}");
    assert_eq!(body.get("data"), None, "{body}");
}

#[tokio::test]
async fn a_raw_body_field_accepts_json_as_bytes() {
    let gw = gateway().await;
    let json = r#"{"name": "not read", "caption": "neither"}"#;
    let response = gw
        .send_json("PUT", "/v1/media/doc", json)
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(body["name"], "doc", "{body}");
    assert_eq!(body.get("caption"), None, "{body}");
    assert_eq!(body["file"]["contentType"], "application/json", "{body}");
    assert_eq!(bytes_of(&body["file"]["data"]), json.as_bytes(), "{body}");
}

#[tokio::test]
async fn the_query_may_not_name_the_raw_body_field() {
    let gw = gateway().await;
    for field in ["file.data", "file.contentType", "file.content_type", "file"] {
        let response = gw
            .request("PUT", &format!("/v1/media/pic?{field}=aGk%3D"))
            .header("content-type", "image/png")
            .body(vec![1u8, 2, 3])
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, field, "{body}");
    }
}

const ACCEPT_IMAGES: &str = "[[routes]]\nroute = \"PUT /v1/media/{name}\"\n\
                             accept = [\"image/png\", \"audio/*\"]\n";

#[tokio::test]
async fn accept_lets_the_listed_media_ranges_through() {
    let gw = gateway_with(ACCEPT_IMAGES).await;
    for content_type in [
        "image/png",
        "IMAGE/PNG",
        "image/png; charset=binary",
        "audio/ogg",
        "audio/x-wav; rate=44100",
    ] {
        let response = gw
            .request("PUT", "/v1/media/pic")
            .header("content-type", content_type)
            .body(vec![9u8, 8, 7])
            .send()
            .await
            .unwrap();
        let body = json_ok(response).await;
        assert_eq!(body["file"]["contentType"], content_type, "{body}");
        assert_eq!(bytes_of(&body["file"]["data"]), [9u8, 8, 7], "{body}");
    }
}

#[tokio::test]
async fn accept_refuses_other_types_naming_them() {
    let gw = gateway_with(ACCEPT_IMAGES).await;
    for content_type in ["text/plain", "image/jpeg", "application/json", "audiox/ogg"] {
        let response = gw
            .request("PUT", "/v1/media/pic")
            .header("content-type", content_type)
            .body(vec![1u8])
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
        assert_eq!(
            body["message"],
            format!("unsupported content type \"{content_type}\": send image/png or audio/*"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn accept_refuses_a_body_without_content_type() {
    let gw = gateway_with(ACCEPT_IMAGES).await;
    let response = gw
        .request("PUT", "/v1/media/pic")
        .body(vec![1u8, 2])
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
    assert_eq!(
        body["message"], "unsupported content type \"\": send image/png or audio/*",
        "{body}"
    );
}

#[tokio::test]
async fn accept_on_one_route_leaves_the_others_open() {
    let gw = gateway_with(ACCEPT_IMAGES).await;
    let response = post_raw(&gw, "/v1/media:echo", "text/plain", "anything").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "anything");
}

#[tokio::test]
async fn accept_applies_to_a_raw_body_of_the_whole_request() {
    let gw = gateway_with(
        "[[routes]]\nroute = \"POST /v1/media:echo\"\naccept = [\"application/pdf\"]\n",
    )
    .await;
    let response = post_raw(&gw, "/v1/media:echo", "application/pdf", "%PDF").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "%PDF");

    let response = post_raw(&gw, "/v1/media:echo", "text/plain", "%PDF").await;
    let body = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
    assert_eq!(
        body["message"], "unsupported content type \"text/plain\": send application/pdf",
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// Body limits

const SERVER_ONE_KIB: &str = "[server]\nmax_body = \"1KiB\"\n";

async fn put_blob(gw: &TestGateway, len: usize) -> reqwest::Response {
    gw.request("PUT", "/v1/media/big")
        .header("content-type", "application/octet-stream")
        .body(binary(len))
        .send()
        .await
        .unwrap()
}

async fn echo_raw(gw: &TestGateway, len: usize) -> reqwest::Response {
    gw.request("POST", "/v1/media:echo")
        .header("content-type", "application/octet-stream")
        .body(binary(len))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_raw_body_up_to_the_server_limit_is_read_and_beyond_it_refused() {
    let gw = gateway_with(SERVER_ONE_KIB).await;
    let body = json_ok(put_blob(&gw, 1024).await).await;
    assert_eq!(bytes_of(&body["file"]["data"]), binary(1024));

    expect_error(put_blob(&gw, 1025).await, 413, 8, "BODY_TOO_LARGE").await;
    expect_error(echo_raw(&gw, 5000).await, 413, 8, "BODY_TOO_LARGE").await;
}

#[tokio::test]
async fn a_chunked_raw_body_over_the_limit_is_refused() {
    let gw = gateway_with(SERVER_ONE_KIB).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        binary(3000).chunks(500).map(|c| Ok(c.to_vec())).collect();
    let response = gw
        .request("POST", "/v1/media:echo")
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;
}

#[tokio::test]
async fn a_route_max_body_raises_the_limit_for_that_route_only() {
    let gw = gateway_with(&format!(
        "{SERVER_ONE_KIB}[[routes]]\nroute = \"PUT /v1/media/{{name}}\"\nmax_body = \"8KiB\"\n"
    ))
    .await;
    let body = json_ok(put_blob(&gw, 6000).await).await;
    assert_eq!(bytes_of(&body["file"]["data"]), binary(6000));
    expect_error(put_blob(&gw, 8 * 1024 + 1).await, 413, 8, "BODY_TOO_LARGE").await;
    // The other routes keep the server's limit.
    expect_error(echo_raw(&gw, 6000).await, 413, 8, "BODY_TOO_LARGE").await;
}

#[tokio::test]
async fn a_route_max_body_lowers_the_limit_for_that_route_only() {
    let gw =
        gateway_with("[[routes]]\nroute = \"POST /v1/media:echo\"\nmax_body = \"1KiB\"\n").await;
    expect_error(echo_raw(&gw, 2000).await, 413, 8, "BODY_TOO_LARGE").await;
    let response = echo_raw(&gw, 1024).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), binary(1024));
    // The server's default (4 MiB) still holds elsewhere.
    let body = json_ok(put_blob(&gw, 2000).await).await;
    assert_eq!(bytes_of(&body["file"]["data"]), binary(2000));
}

#[tokio::test]
async fn a_route_max_body_holds_for_json_and_forms_too() {
    let gw =
        gateway_with("[[routes]]\nroute = \"POST /v1/media/{name}:upload\"\nmax_body = \"1KiB\"\n")
            .await;
    let json = format!(r#"{{"caption": "{}"}}"#, "x".repeat(2000));
    let response = gw
        .post_json("/v1/media/n:upload", &json)
        .send()
        .await
        .unwrap();
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;

    let response = gw
        .request("POST", "/v1/media/n:upload")
        .form(&[("caption", "x".repeat(2000))])
        .send()
        .await
        .unwrap();
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;

    let form = Form::new().text("caption", "small");
    let response = gw
        .request("POST", "/v1/media/n:upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(response).await["caption"], "small");
}

#[tokio::test]
async fn a_multipart_upload_with_one_part_too_large_is_refused() {
    let gw = gateway_with(SERVER_ONE_KIB).await;
    let form = Form::new()
        .text("caption", "c")
        .part("file", part(&binary(4096), "image/png"));
    let response = gw
        .request("POST", "/v1/media/n:upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;
}

#[tokio::test]
async fn a_multipart_upload_counts_all_its_parts_against_the_limit() {
    let gw = gateway_with(SERVER_ONE_KIB).await;
    // Each part fits alone; together they do not.
    let form = Form::new()
        .part("attachments", part(&binary(600), "image/png"))
        .part("attachments", part(&binary(600), "image/png"));
    let response = gw
        .request("POST", "/v1/media/n:upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;

    let form = Form::new().part("attachments", part(&binary(600), "image/png"));
    let response = gw
        .request("POST", "/v1/media/n:upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(bytes_of(&body["attachments"][0]), binary(600));
}

// ---------------------------------------------------------------------------------------------
// multipart/form-data

async fn upload(gw: &TestGateway, path: &str, form: Form) -> reqwest::Response {
    gw.request("POST", path)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn multipart_parts_fill_their_fields() {
    let gw = gateway().await;
    let picture = binary(2000);
    let form = Form::new()
        .part("file", part(&picture, "image/png"))
        .part("data", Part::bytes(b"raw \x00\xff bytes".to_vec()))
        .part("attachments", part(b"first", "text/plain"))
        .part("attachments", Part::bytes(b"second".to_vec()))
        .text("caption", "a caption, with \"quotes\" and ünïcödé")
        .text("count", "42")
        .text("tags", "x")
        .text("tags", "y")
        .text("tags", "z")
        .text("details.author", "ann")
        .text("details.draft", "true")
        .part("details.thumbnail", Part::bytes(vec![0u8, 1, 2]));
    let body = json_ok(upload(&gw, "/v1/media/up:upload", form).await).await;
    assert_eq!(body["name"], "up", "{body}");
    assert_eq!(body["file"]["contentType"], "image/png", "{body}");
    assert_eq!(bytes_of(&body["file"]["data"]), picture, "{body}");
    assert_eq!(bytes_of(&body["data"]), b"raw \x00\xff bytes", "{body}");
    let attachments: Vec<Vec<u8>> = body["attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("attachments: {body}"))
        .iter()
        .map(bytes_of)
        .collect();
    assert_eq!(
        attachments,
        [b"first".to_vec(), b"second".to_vec()],
        "{body}"
    );
    assert_eq!(
        body["caption"], "a caption, with \"quotes\" and ünïcödé",
        "{body}"
    );
    assert_eq!(body["count"], 42, "{body}");
    assert_eq!(body["tags"], json!(["x", "y", "z"]), "{body}");
    assert_eq!(body["details"]["author"], "ann", "{body}");
    assert_eq!(body["details"]["draft"], true, "{body}");
    assert_eq!(
        bytes_of(&body["details"]["thumbnail"]),
        [0u8, 1, 2],
        "{body}"
    );
}

#[tokio::test]
async fn a_file_part_without_a_content_type_has_none() {
    let gw = gateway().await;
    let form = Form::new().part("file", Part::bytes(b"plain".to_vec()));
    let body = json_ok(upload(&gw, "/v1/media/up:upload", form).await).await;
    assert_eq!(body["file"].get("contentType"), None, "{body}");
    assert_eq!(bytes_of(&body["file"]["data"]), b"plain", "{body}");
}

#[tokio::test]
async fn a_file_part_keeps_its_content_type_parameters() {
    let gw = gateway().await;
    let form = Form::new().part("file", part(b"a,b\n1,2\n", "text/csv; charset=utf-8"));
    let body = json_ok(upload(&gw, "/v1/media/up:upload", form).await).await;
    assert_eq!(
        body["file"]["contentType"], "text/csv; charset=utf-8",
        "{body}"
    );
    assert_eq!(bytes_of(&body["file"]["data"]), b"a,b\n1,2\n", "{body}");
}

#[tokio::test]
async fn multipart_part_names_may_be_proto_or_json_names() {
    let gw = gateway().await;
    for name in ["file.content_type", "file.contentType"] {
        let form = Form::new()
            .text(name, "text/x-named")
            .part("file.data", Part::bytes(b"by path".to_vec()));
        let body = json_ok(upload(&gw, "/v1/media/up:upload", form).await).await;
        assert_eq!(
            body["file"]["contentType"], "text/x-named",
            "{name}: {body}"
        );
        assert_eq!(
            bytes_of(&body["file"]["data"]),
            b"by path",
            "{name}: {body}"
        );
    }
}

#[tokio::test]
async fn a_form_for_a_body_field_names_fields_of_that_message() {
    let gw = gateway().await;
    let form = Form::new()
        .text("author", "bea")
        .text("draft", "true")
        .part("thumbnail", part(&[7u8, 7, 7], "image/png"));
    let body = json_ok(upload(&gw, "/v1/media/d:details?caption=from%20query", form).await).await;
    assert_eq!(
        body,
        json!({
            "name": "d",
            "caption": "from query",
            "details": {"author": "bea", "draft": true, "thumbnail": "BwcH"},
        })
    );
}

#[tokio::test]
async fn the_path_wins_over_a_form_part() {
    let gw = gateway().await;
    let form = Form::new().text("name", "from form").text("caption", "c");
    let body = json_ok(upload(&gw, "/v1/media/from-path:upload", form).await).await;
    assert_eq!(body["name"], "from-path", "{body}");
    assert_eq!(body["caption"], "c", "{body}");
}

#[tokio::test]
async fn a_part_naming_no_field_is_an_unknown_field() {
    let gw = gateway().await;
    for name in ["nope", "details.nope", "caption.nope"] {
        let form = Form::new().text("caption", "c").text(name, "v");
        let response = upload(&gw, "/v1/media/up:upload", form).await;
        let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, name, "{body}");
    }
    let form = Form::new().part("nope", part(b"bytes", "image/png"));
    let body = expect_error(
        upload(&gw, "/v1/media/up:upload", form).await,
        400,
        3,
        "UNKNOWN_FIELD",
    )
    .await;
    assert_eq!(body["message"], "unknown field \"nope\"", "{body}");
    assert_eq!(field_violations(&body)[0].0, "nope", "{body}");
}

#[tokio::test]
async fn a_part_whose_text_does_not_fit_its_field_is_an_invalid_field() {
    let gw = gateway().await;
    for (name, value) in [
        ("count", "abc"),
        ("count", "1.5"),
        ("count", "99999999999"),
        ("details.draft", "maybe"),
    ] {
        let form = Form::new().text(name, value);
        let response = upload(&gw, "/v1/media/up:upload", form).await;
        let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, name, "{name}={value}: {body}");
    }
}

const BOUNDARY: &str = "multipart/form-data; boundary=XyZ";

#[tokio::test]
async fn a_malformed_multipart_body_is_an_invalid_form() {
    let gw = gateway().await;
    for (content_type, body) in [
        // Not multipart at all.
        (BOUNDARY, "this is not a multipart body"),
        // A part that never ends.
        (
            BOUNDARY,
            "--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nno end",
        ),
        // Headers without the blank line.
        (
            BOUNDARY,
            "--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n--XyZ--\r\n",
        ),
        // No boundary in the content type.
        (
            "multipart/form-data",
            "--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nc\r\n--XyZ--\r\n",
        ),
        // A part without a name.
        (
            BOUNDARY,
            "--XyZ\r\nContent-Disposition: form-data\r\n\r\nc\r\n--XyZ--\r\n",
        ),
    ] {
        let response = post_raw(&gw, "/v1/media/up:upload", content_type, body).await;
        let error = expect_error(response, 400, 3, "INVALID_FORM").await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("invalid form: "), "{body:?}: {error}");
    }
}

#[tokio::test]
async fn a_hand_written_multipart_body_is_read() {
    let gw = gateway().await;
    let body = "preamble to ignore\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nline one\r\nline two\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\
                Content-Type: text/plain\r\n\r\na line with --XyZ inside\r\n\
                --XyZ--\r\nepilogue to ignore";
    let response = post_raw(&gw, "/v1/media/h:upload", BOUNDARY, body).await;
    let body = json_ok(response).await;
    assert_eq!(body["caption"], "line one\r\nline two", "{body}");
    assert_eq!(body["file"]["contentType"], "text/plain", "{body}");
    assert_eq!(
        bytes_of(&body["file"]["data"]),
        b"a line with --XyZ inside",
        "{body}"
    );
}

#[tokio::test]
async fn accept_applies_to_a_file_part() {
    let gw = gateway_with(
        "[[routes]]\nroute = \"POST /v1/media/{name}:upload\"\naccept = [\"image/*\"]\n",
    )
    .await;
    let form = Form::new().part("file", part(b"png", "image/png"));
    let body = json_ok(upload(&gw, "/v1/media/up:upload", form).await).await;
    assert_eq!(body["file"]["contentType"], "image/png", "{body}");

    let form = Form::new().part("file", part(b"text", "text/plain"));
    let response = upload(&gw, "/v1/media/up:upload", form).await;
    let body = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"text/plain\""), "{body}");
}

// ---------------------------------------------------------------------------------------------
// application/x-www-form-urlencoded

#[tokio::test]
async fn a_urlencoded_form_fills_fields_like_a_query_string() {
    let gw = gateway().await;
    let response = post_raw(
        &gw,
        "/v1/media/f:upload",
        "application/x-www-form-urlencoded",
        "caption=two+words%21&count=-3&tags=a&tags=b&details.author=cy\
         &details.draft=true&data=aGk%3D&file.contentType=text%2Fplain&attachments=AAE%3D",
    )
    .await;
    assert_eq!(
        json_ok(response).await,
        json!({
            "name": "f",
            "caption": "two words!",
            "count": -3,
            "tags": ["a", "b"],
            "details": {"author": "cy", "draft": true},
            "data": "aGk=",
            "file": {"contentType": "text/plain"},
            "attachments": ["AAE="],
        })
    );
}

#[tokio::test]
async fn a_urlencoded_form_with_a_charset_is_read() {
    let gw = gateway().await;
    let response = post_raw(
        &gw,
        "/v1/media/f:upload",
        "application/x-www-form-urlencoded; charset=utf-8",
        "caption=%C3%BC",
    )
    .await;
    assert_eq!(json_ok(response).await["caption"], "ü");
}

#[tokio::test]
async fn a_urlencoded_form_for_a_body_field_names_fields_of_that_message() {
    let gw = gateway().await;
    let response = gw
        .request("POST", "/v1/media/d:details")
        .form(&[("author", "dee"), ("thumbnail", "AQI=")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(response).await,
        json!({"name": "d", "details": {"author": "dee", "thumbnail": "AQI="}})
    );
}

#[tokio::test]
async fn a_urlencoded_key_naming_no_field_is_refused_naming_it() {
    let gw = gateway().await;
    for key in ["nope", "details.nope"] {
        let response = post_raw(
            &gw,
            "/v1/media/f:upload",
            "application/x-www-form-urlencoded",
            &format!("caption=c&{key}=1"),
        )
        .await;
        let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, key, "{body}");
    }
}

#[tokio::test]
async fn a_urlencoded_value_that_does_not_fit_its_field_is_an_invalid_field() {
    let gw = gateway().await;
    let response = post_raw(
        &gw,
        "/v1/media/f:upload",
        "application/x-www-form-urlencoded",
        "count=many",
    )
    .await;
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "count", "{body}");
}

#[tokio::test]
async fn json_still_fills_an_upload() {
    let gw = gateway().await;
    let response = gw
        .post_json("/v1/media/j:upload", r#"{"caption": "c", "data": "aGk="}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(response).await,
        json!({"name": "j", "caption": "c", "data": "aGk="})
    );
}

#[tokio::test]
async fn other_content_types_on_a_form_route_are_refused() {
    let gw = gateway().await;
    let expected = "unsupported content type \"text/plain\": send application/json, \
                    multipart/form-data or application/x-www-form-urlencoded";
    for (method, path) in [
        ("POST", "/v1/media/t:upload"),
        ("POST", "/v1/media/t:details"),
        ("PATCH", "/v1/items/t"),
    ] {
        let response = gw
            .request(method, path)
            .header("content-type", "text/plain")
            .body("caption=c")
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
        assert_eq!(body["message"], expected, "{method} {path}: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// PATCH: the update mask from the body

async fn patch(gw: &TestGateway, path: &str, json: &str) -> Value {
    json_ok(gw.send_json("PATCH", path, json).send().await.unwrap()).await
}

#[tokio::test]
async fn the_mask_names_every_field_the_body_sets_in_body_order() {
    let gw = gateway().await;
    let reply = patch(
        &gw,
        "/v1/items/i1",
        r#"{"title":"t","size":{"width":2},"labels":{"a":"b"},"attributes":{"x":1},
            "tags":["q"],"published":"2024-01-01T00:00:00Z","description":null}"#,
    )
    .await;
    assert_eq!(
        reply["updateMask"], "title,size.width,labels,attributes,tags,published,description",
        "{reply}"
    );
    let item = &reply["item"];
    assert_eq!(item["name"], "i1", "{reply}");
    assert_eq!(item["title"], "t", "{reply}");
    assert_eq!(item["size"], json!({"width": 2}), "{reply}");
    assert_eq!(item["labels"], json!({"a": "b"}), "{reply}");
    assert_eq!(item["attributes"]["x"].as_f64(), Some(1.0), "{reply}");
    assert_eq!(item["tags"], json!(["q"]), "{reply}");
    assert_eq!(item["published"], "2024-01-01T00:00:00Z", "{reply}");
    assert_eq!(item.get("description"), None, "{reply}");
}

#[tokio::test]
async fn the_mask_follows_the_body_order() {
    let gw = gateway().await;
    let reply = patch(
        &gw,
        "/v1/items/i1",
        r#"{"description": "d", "size": {"height": 3, "width": 2}, "title": "t"}"#,
    )
    .await;
    assert_eq!(
        reply["updateMask"], "description,size.height,size.width,title",
        "{reply}"
    );
}

#[tokio::test]
async fn an_empty_object_is_one_leaf_path() {
    let gw = gateway().await;
    let reply = patch(&gw, "/v1/items/i1", r#"{"size": {}}"#).await;
    assert_eq!(reply["updateMask"], "size", "{reply}");
    let reply = patch(
        &gw,
        "/v1/items/i1",
        r#"{"size": {}, "attributes": {}, "labels": {}}"#,
    )
    .await;
    assert_eq!(reply["updateMask"], "size,attributes,labels", "{reply}");
}

#[tokio::test]
async fn maps_structs_and_well_known_types_are_leaves_however_deep_their_json() {
    let gw = gateway().await;
    let reply = patch(
        &gw,
        "/v1/items/i1",
        r#"{"labels": {"a": "b", "c": "d"}, "attributes": {"x": {"y": [1, {"z": 2}]}},
            "published": "2024-05-06T07:08:09Z", "size": null}"#,
    )
    .await;
    assert_eq!(
        reply["updateMask"], "labels,attributes,published,size",
        "{reply}"
    );
}

#[tokio::test]
async fn an_empty_body_sets_no_mask() {
    let gw = gateway().await;
    let response = gw
        .request("PATCH", "/v1/items/i1")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let reply = json_ok(response).await;
    assert_eq!(reply.get("updateMask"), None, "{reply}");
    assert_eq!(reply["item"], json!({"name": "i1"}), "{reply}");
}

#[tokio::test]
async fn the_path_field_is_in_the_mask_only_when_the_body_sets_it() {
    let gw = gateway().await;
    let reply = patch(&gw, "/v1/items/i1", r#"{"title": "t"}"#).await;
    assert_eq!(reply["updateMask"], "title", "{reply}");
    assert_eq!(
        reply["item"],
        json!({"name": "i1", "title": "t"}),
        "{reply}"
    );

    let reply = patch(&gw, "/v1/items/i1", r#"{"name": "other", "title": "t"}"#).await;
    assert_eq!(reply["updateMask"], "name,title", "{reply}");
    assert_eq!(reply["item"]["name"], "i1", "the path wins: {reply}");
}

#[tokio::test]
async fn a_mask_in_the_query_wins_over_the_body() {
    let gw = gateway().await;
    for query in [
        "updateMask=title",
        "update_mask=title",
        "updateMask=title,size.width",
    ] {
        let reply = patch(
            &gw,
            &format!("/v1/items/i1?{query}"),
            r#"{"title": "t", "description": "d", "size": {"width": 2}}"#,
        )
        .await;
        let (_, expected) = query.split_once('=').expect("a parameter");
        assert_eq!(reply["updateMask"], expected, "{query}: {reply}");
        // The body is sent whole all the same.
        assert_eq!(reply["item"]["description"], "d", "{query}: {reply}");
    }
}

#[tokio::test]
async fn a_query_mask_may_be_a_lone_star() {
    let gw = gateway().await;
    for query in ["updateMask=*", "update_mask=*"] {
        let reply = patch(
            &gw,
            &format!("/v1/items/i1?{query}"),
            r#"{"title": "t", "size": {"width": 2}}"#,
        )
        .await;
        assert_eq!(reply["updateMask"], "*", "{query}: {reply}");
        assert_eq!(reply["item"]["title"], "t", "{query}: {reply}");
    }
}

#[tokio::test]
async fn a_query_mask_path_naming_no_field_is_refused() {
    let gw = gateway().await;
    for (query, parameter, path) in [
        ("updateMask=nope", "updateMask", "nope"),
        ("update_mask=title,nope", "update_mask", "nope"),
        ("updateMask=size.depth", "updateMask", "size.depth"),
        ("updateMask=title.x", "updateMask", "title.x"),
    ] {
        let response = gw
            .send_json(
                "PATCH",
                &format!("/v1/items/i1?{query}"),
                r#"{"title": "t"}"#,
            )
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
        let (field, reason) = &field_violations(&body)[0];
        assert_eq!(field, parameter, "{query}: {body}");
        assert!(
            reason.contains(&format!("path \"{path}\"")),
            "{query}: the reason names the path: {body}"
        );
    }
    let response = gw
        .send_json("PATCH", "/v1/items/i1?updateMask=nope", r#"{"title": "t"}"#)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(
        field_violations(&body)[0].1,
        "path \"nope\" names no field of gatehouse.media.v1.Item",
        "{body}"
    );
}

#[tokio::test]
async fn a_bad_body_on_a_patch_is_still_refused_naming_its_field() {
    let gw = gateway().await;
    let response = gw
        .send_json("PATCH", "/v1/items/i1", r#"{"title": "t", "nope": 1}"#)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "item.nope", "{body}");
}
