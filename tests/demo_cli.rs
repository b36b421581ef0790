//! `gatehouse demo` end to end, as the README walks through it: the binary starts the demo
//! backends and the gateway, prints a token, and the printed curl commands work with it. Its
//! admin listener takes a free port unless `--admin-listen` names one.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};

use common::run_to_exit;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
/// `gatehouse serve`'s default admin port, which the demo must not need.
const SERVE_ADMIN_LISTEN: &str = "127.0.0.1:9901";

/// The running demo; killed when dropped.
struct Demo {
    child: Child,
    base: String,
    /// `http://` and the admin listener's address, as printed.
    admin: String,
    token: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `gatehouse demo` with `args` and reads its banner for the addresses and the token.
fn start(args: &[&str]) -> Demo {
    let mut child = Command::new(BIN)
        .arg("demo")
        .args(args)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gatehouse demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut base = None;
    let mut admin = None;
    let mut token = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the banner");
        if let Some(rest) = line.strip_prefix("gatehouse listening on ") {
            base = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("admin listening on ") {
            admin = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(value) = line.strip_prefix("export TOKEN=") {
            token = Some(value.to_string());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    Demo {
        child,
        base: base.expect("the banner names the address"),
        admin: admin.expect("the banner names the admin address"),
        token: token.expect("the banner prints a token"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn the_demo_walkthrough_works_with_the_printed_token() {
    let demo = start(&["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
    let http = client();
    let get = |path: &str| http.get(format!("{}{path}", demo.base));
    let bearer = format!("Bearer {}", demo.token);

    // Products are public.
    let product: Value = get("/api/products/p-100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(product["productId"], "p-100");

    // Users need the token.
    let response = get("/api/users/123").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = get("/api/users/123")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["ratelimit-limit"], "100");
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["displayName"], "Ada Lovelace");

    // Orders need the role "customer", which the demo token has.
    let response = http
        .post(format!("{}/api/orders", demo.base))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(r#"{"userId": "123", "lineItems": [{"productId": "p-100", "quantity": 2}]}"#)
        .send()
        .await
        .unwrap();
    // Placing an order answers 201 with where the order is.
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["userId"], "123");
    assert_eq!(
        location,
        format!("/api/orders/{}", order["orderId"].as_str().unwrap())
    );
    let fetched: Value = get(&location)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, order);
    // An order is always the caller's: user_id comes from the token's subject.
    let response = http
        .post(format!("{}/api/orders", demo.base))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(r#"{"userId": "124", "lineItems": [{"productId": "p-100", "quantity": 1}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // The dashboard aggregate, in one call.
    let dashboard: Value = get("/api/user-dashboard/123")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dashboard["user"]["userId"], "123");
    assert!(!dashboard["products"].as_array().unwrap().is_empty());
    assert_eq!(dashboard["errors"], serde_json::json!([]));

    // Deleting a user answers 204 with no body.
    let response = http
        .delete(format!("{}/api/users/126", demo.base))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    let response = get("/api/users/126")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_demo_serves_the_bodies_beyond_json_walkthrough() {
    let demo = start(&["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
    let http = client();
    let url = |path: &str| format!("{}{path}", demo.base);
    let bearer = format!("Bearer {}", demo.token);

    // The invoice is an order: it needs the token (and its role), as GetOrder does.
    let invoice = url("/api/orders/o-1001/invoice");
    let response = http.get(&invoice).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http
        .get(&invoice)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .ends_with("total,,3,,115.97,USD\r\n")
    );

    // The demo's config takes web images from token holders only, up to 8 MiB.
    let image = url("/api/products/p-100/image");
    let upload = |content_type: &'static str, body: Vec<u8>| {
        http.put(&image)
            .header("authorization", &bearer)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // Uploading needs the token; reading the catalogue, images included, does not.
    let response = http
        .put(&image)
        .header("content-type", "image/png")
        .body(b"PNG".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = upload("image/svg+xml", b"<svg/>".to_vec()).await.unwrap();
    assert_eq!(response.status(), 415);
    // 8 MiB is twice [server] max_body's default.
    let response = upload("image/webp", vec![0; 8 * 1024 * 1024])
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = upload("image/webp", b"RIFF....WEBP".to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = http.get(&image).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "image/webp");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"RIFF....WEBP");
}

/// Runs `gatehouse demo` with `args` until it exits, and returns how and its stderr.
fn run_demo_to_exit(args: &[&str]) -> (ExitStatus, String) {
    run_to_exit(Command::new(BIN).arg("demo").args(args))
}

#[tokio::test]
async fn the_demo_starts_while_the_serve_admin_port_is_taken() {
    // Held by this test, or else by whatever already holds it: taken either way.
    let _held = TcpListener::bind(SERVE_ADMIN_LISTEN);
    let demo = start(&["--listen", "127.0.0.1:0"]);
    assert_ne!(demo.admin, format!("http://{SERVE_ADMIN_LISTEN}"));
    let response = client()
        .get(format!("{}/healthz", demo.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn a_taken_admin_listen_address_names_the_flag_that_moves_it() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap().to_string();
    let (status, stderr) =
        run_demo_to_exit(&["--listen", "127.0.0.1:0", "--admin-listen", &address]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("--admin-listen"), "{stderr}");
}

/// The README's live order feed: a WebSocket on `/api/orders:follow` with the printed token as
/// a subprotocol, a filter, the orders that match it now, an order placed meanwhile arriving as
/// it happens, and the empty frame that ends the call with OK.
#[tokio::test]
async fn the_demo_follows_orders_over_a_websocket() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let demo = start(&["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
    let url = demo.base.replacen("http", "ws", 1) + "/api/orders:follow";
    let mut request = url.into_client_request().unwrap();
    let protocols = format!("gatehouse.v1, bearer.{}", demo.token);
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (mut socket, answer) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(answer.headers()["sec-websocket-protocol"], "gatehouse.v1");

    let filter = r#"{"userId": "123", "status": "ORDER_STATUS_PENDING"}"#;
    socket.send(Message::text(filter)).await.unwrap();
    let current = next_frame(&mut socket).await;
    assert_eq!(current["event"], "ORDER_EVENT_CURRENT", "{current}");
    assert_eq!(current["order"]["orderId"], "o-1003", "{current}");

    // An order placed now arrives on the socket as it happens.
    let placed: Value = client()
        .post(format!("{}/api/orders", demo.base))
        .bearer_auth(&demo.token)
        .header("content-type", "application/json")
        .body(r#"{"lineItems": [{"productId": "p-101", "quantity": 1}]}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = next_frame(&mut socket).await;
    assert_eq!(created["event"], "ORDER_EVENT_CREATED", "{created}");
    assert_eq!(created["order"], placed);

    // The empty frame ends the requests; the call ends with OK.
    socket.send(Message::text("")).await.unwrap();
    let status = next_frame(&mut socket).await;
    assert_eq!(
        status,
        serde_json::json!({"@type": "type.googleapis.com/google.rpc.Status",
                           "code": 0, "message": "", "details": []})
    );
    match futures_util::StreamExt::next(&mut socket).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected the close, got {other:?}"),
    }
}

/// The next text frame of `socket`, as JSON.
async fn next_frame<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match futures_util::StreamExt::next(socket).await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}
