//! CORS as a browser enforces it: a page in headless Chromium, served from another origin than
//! the gateway, calls the REST API with `fetch` and a bearer token. The allowed origin reads
//! answers and errors alike, preflights included; any other origin reads nothing.
//!
//! Needs Chromium and chromedriver (`scripts/install-test-tools.sh`).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Browser, TestGateway};
use gatehouse::demo::DemoIssuer;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "gatehouse-test";
/// How long a page has to make its calls and write the results.
const PAGE_LIMIT: Duration = Duration::from_secs(30);

/// What the page on an allowed origin calls: with a token, without one, and a preflighted POST.
const ALLOWED_ORIGIN_CALLS: &str = r#"
  const bearer = {Authorization: "Bearer " + token};
  return {
    withToken: await call("/v1/echo/hello", {headers: bearer}),
    withoutToken: await call("/v1/echo/hello"),
    preflighted: await call("/v1/echo", {
      method: "POST",
      headers: {...bearer, "Content-Type": "application/json"},
      body: JSON.stringify({stringField: "posted"}),
    }),
  };
"#;

/// What the page on another origin calls. A `no-cors` request gets an opaque answer, which
/// shows the gateway is reachable from the page; the CORS calls must then fail as CORS does.
const OTHER_ORIGIN_CALLS: &str = r#"
  const refusal = async (path, init) => {
    try {
      const response = await fetch(gw + path, init);
      return "read HTTP " + response.status;
    } catch (e) {
      return e.name + ": " + e.message;
    }
  };
  return {
    reachable: (await fetch(gw + "/v1/echo/hello", {mode: "no-cors"})).type,
    simple: await refusal("/v1/echo/hello"),
    preflighted: await refusal("/v1/echo/hello", {
      headers: {Authorization: "Bearer " + token},
    }),
  };
"#;

#[tokio::test]
async fn allowed_origin_reads_answers_and_errors() {
    let page_listener = bind_loopback().await;
    let page_origin = origin_of(&page_listener);
    let issuer = Issuer::generate();
    let gw = TestGateway::builder()
        .config(&issuer.config(&[&page_origin]))
        .start()
        .await;
    let html = page(&gw.url(""), &issuer.token(), ALLOWED_ORIGIN_CALLS);
    let _page = PageServer::serve(page_listener, html);

    let results = run_page(&page_origin).await;

    let ok = &results["withToken"];
    assert_eq!(ok["status"], 200, "GET with a token: {ok}");
    assert_eq!(ok["body"]["stringField"], "hello", "GET with a token: {ok}");

    let refused = &results["withoutToken"];
    assert_eq!(refused["status"], 401, "GET without a token: {refused}");
    assert_eq!(
        refused["body"]["code"], 16,
        "the page reads the error body: {refused}"
    );
    assert!(
        refused["wwwAuthenticate"]
            .as_str()
            .is_some_and(|challenge| challenge.starts_with("Bearer ")),
        "the page reads the challenge: {refused}"
    );

    let posted = &results["preflighted"];
    assert_eq!(posted["status"], 200, "preflighted POST: {posted}");
    assert_eq!(
        posted["body"]["stringField"], "posted",
        "preflighted POST: {posted}"
    );
}

#[tokio::test]
async fn other_origin_reads_nothing() {
    // The allowed origin differs from the page's by the port alone.
    let allowed = bind_loopback().await;
    let page_listener = bind_loopback().await;
    let page_origin = origin_of(&page_listener);
    let issuer = Issuer::generate();
    let gw = TestGateway::builder()
        .config(&issuer.config(&[&origin_of(&allowed)]))
        .start()
        .await;
    let html = page(&gw.url(""), &issuer.token(), OTHER_ORIGIN_CALLS);
    let _page = PageServer::serve(page_listener, html);

    let results = run_page(&page_origin).await;

    assert_eq!(results["reachable"], "opaque", "{results}");
    assert_eq!(results["simple"], "TypeError: Failed to fetch", "{results}");
    assert_eq!(
        results["preflighted"], "TypeError: Failed to fetch",
        "{results}"
    );
}

/// What the page calls over a WebSocket: a bidi echo on `/v1/chat/{string_field}`, the token in
/// the subprotocol (a browser cannot set `Authorization` on a WebSocket), two messages, the
/// empty frame that ends its side, then every frame until the gateway closes.
const WEBSOCKET_CALLS: &str = r#"
  const chat = (protocols) => new Promise((resolve) => {
    const socket = new WebSocket(gw.replace("http", "ws") + "/v1/chat/room-7", protocols);
    const frames = [];
    socket.onopen = () => {
      socket.send(JSON.stringify({int32Field: 1}));
      socket.send(JSON.stringify({int32Field: 2}));
      socket.send("");
    };
    socket.onmessage = (event) => frames.push(JSON.parse(event.data));
    socket.onclose = (event) => resolve({
      protocol: socket.protocol, frames, code: event.code, reason: event.reason,
    });
  });
  return {
    withToken: await chat(["gatehouse.v1", "bearer." + token]),
    withoutToken: await chat(["gatehouse.v1"]),
  };
"#;

#[tokio::test]
async fn a_page_on_another_origin_streams_both_ways_over_a_websocket() {
    let page_listener = bind_loopback().await;
    let page_origin = origin_of(&page_listener);
    let issuer = Issuer::generate();
    let gw = TestGateway::builder()
        .config(&issuer.config(&[&page_origin]))
        .start()
        .await;
    let html = page(&gw.url(""), &issuer.token(), WEBSOCKET_CALLS);
    let _page = PageServer::serve(page_listener, html);

    let results = run_page(&page_origin).await;

    let chat = &results["withToken"];
    // The server selects the protocol, never the token.
    assert_eq!(chat["protocol"], "gatehouse.v1", "{chat}");
    let frames = chat["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 3, "two echoes and the status: {chat}");
    for (i, frame) in frames[..2].iter().enumerate() {
        assert_eq!(frame["stringField"], "room-7", "{chat}");
        assert_eq!(frame["int32Field"], i + 1, "{chat}");
    }
    assert_eq!(
        frames[2],
        serde_json::json!({
            "@type": "type.googleapis.com/google.rpc.Status",
            "code": 0, "message": "", "details": [],
        })
    );
    assert_eq!(chat["code"], 1000, "{chat}");

    // Without the token the handshake is refused with 401, which a page sees as a failed
    // WebSocket: no frame, close code 1006.
    let refused = &results["withoutToken"];
    assert_eq!(refused["frames"], serde_json::json!([]), "{refused}");
    assert_eq!(refused["code"], 1006, "{refused}");
}

/// The generated TypeScript client of the demo, compiled by TypeScript and loaded as ES modules
/// by a page on another origin than the gateway: a unary call, one that fills the path, the
/// query and the body, an int64 round trip, a server stream read to the end, errors with their
/// code and details, raw bytes, an aggregate, and a call both ways over a WebSocket.
#[tokio::test]
async fn the_generated_client_calls_the_demo_from_another_origin() {
    let demo = DemoGateway::start().await;
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-browser-client")
        .tempdir()
        .unwrap();
    common::typescript::write_client(
        dir.path(),
        &demo.config,
        gatehouse::transcode::compiled::schema(),
    );
    let script = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/typescript/browser_calls.ts"),
    )
    .unwrap();
    std::fs::write(dir.path().join("calls.ts"), script).unwrap();
    let js = dir.path().join("js");
    if let Err(report) = common::typescript::tsc(dir.path(), &["calls.ts"], Some(&js)) {
        panic!("the page's script does not compile:\n{report}");
    }
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>generated client</title></head>\n\
         <body data-gateway=\"{}\" data-token=\"{}\"><pre id=\"out\"></pre>\n\
         <script type=\"module\" src=\"/js/calls.js\"></script></body></html>\n",
        demo.base,
        demo.token()
    );
    let mut files = vec![(
        "/".to_string(),
        "text/html; charset=utf-8",
        page.into_bytes(),
    )];
    for name in ["calls.js", "api/index.js", "api/runtime.js"] {
        let text = std::fs::read(js.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        files.push((format!("/js/{name}"), "text/javascript", text));
    }
    let page_listener = bind_loopback().await;
    let page_origin = origin_of(&page_listener);
    let _files = PageServer::serve_files(page_listener, files);

    let results = run_page(&page_origin).await;

    assert_eq!(results["product"], "Mechanical keyboard", "{results}");
    assert_eq!(
        results["updated"],
        serde_json::json!({ "userId": "123", "displayName": "Ada King", "email": "ada@example.com" }),
        "{results}"
    );
    let int64 = &results["int64"];
    assert_eq!(int64["type"], "string", "{int64}");
    assert_eq!(int64["paid"], int64["total"], "{int64}");
    assert!(
        int64["total"]
            .as_str()
            .is_some_and(|t| t.parse::<i64>().unwrap() > 0),
        "{int64}"
    );
    let stream = &results["stream"];
    assert_eq!(stream["streamed"], stream["listed"], "{stream}");
    assert!(
        stream["streamed"].as_array().unwrap().len() >= 2,
        "{stream}"
    );
    let not_found = &results["notFound"];
    assert_eq!(not_found["status"], 404, "{not_found}");
    assert_eq!(not_found["code"], 5, "{not_found}");
    assert_eq!(not_found["codeName"], "NOT_FOUND", "{not_found}");
    let refused = &results["refused"];
    assert_eq!(refused["status"], 403, "{refused}");
    assert_eq!(refused["code"], 7, "{refused}");
    assert_eq!(
        refused["details"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo",
        "{refused}"
    );
    assert_eq!(
        refused["details"][0]["reason"], refused["reason"],
        "{refused}"
    );
    assert!(refused["reason"].is_string(), "{refused}");
    assert!(
        results["invoice"]["type"]
            .as_str()
            .unwrap()
            .starts_with("text/csv"),
        "{results}"
    );
    assert_eq!(
        results["dashboard"]["keys"],
        serde_json::json!(["errors", "user"])
    );
    assert_eq!(results["dashboard"]["email"], "ada@example.com");
    assert_eq!(results["follow"], stream["streamed"], "{results}");
}

/// examples/web, compiled as its README section says, against the demo from another origin:
/// the public product list loads, and with the demo's token the dashboard and the live order
/// feed (a WebSocket) show the user's orders.
#[tokio::test]
async fn the_example_page_shows_the_demo() {
    let demo = DemoGateway::start().await;
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/web");
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-example-web")
        .tempdir()
        .unwrap();
    let js = dir.path().join("js");
    let compiled = std::process::Command::new(common::typescript::tsc_path())
        .arg("-p")
        .arg(&web)
        .arg("--outDir")
        .arg(&js)
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "examples/web: {}",
        String::from_utf8_lossy(&compiled.stdout)
    );
    let mut files = vec![(
        "/".to_string(),
        "text/html; charset=utf-8",
        std::fs::read(web.join("index.html")).unwrap(),
    )];
    for name in ["main.js", "api/index.js", "api/runtime.js"] {
        let text = std::fs::read(js.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        files.push((format!("/js/{name}"), "text/javascript", text));
    }
    let page_listener = bind_loopback().await;
    let page_origin = origin_of(&page_listener);
    let _files = PageServer::serve_files(page_listener, files);

    let browser = Browser::start().await;
    browser
        .goto(&format!("{page_origin}/?gateway={}", demo.base))
        .await;
    let products = browser
        .wait_for(
            "const items = [...document.querySelectorAll('#products li')].map(li => li.textContent);\
             return items.length ? items : null;",
            PAGE_LIMIT,
        )
        .await;
    assert!(
        products[0]
            .as_str()
            .unwrap()
            .starts_with("p-100: Mechanical keyboard ("),
        "{products}"
    );
    let token = Value::from(demo.token());
    browser
        .execute(&format!(
            "const input = document.getElementById('token');\
             input.value = {token};\
             input.dispatchEvent(new Event('change'));\
             document.getElementById('load').click();\
             return true;"
        ))
        .await;
    let dashboard = browser
        .wait_for(
            "return document.getElementById('dashboard').textContent || \
               document.getElementById('error').textContent || null;",
            PAGE_LIMIT,
        )
        .await;
    let dashboard: Value = serde_json::from_str(dashboard.as_str().unwrap())
        .unwrap_or_else(|e| panic!("the dashboard shows {dashboard}: {e}"));
    assert_eq!(dashboard["user"]["userId"], "123", "{dashboard}");
    assert!(
        !dashboard["orders"].as_array().unwrap().is_empty(),
        "{dashboard}"
    );
    let live = browser
        .wait_for(
            "const items = [...document.querySelectorAll('#live li')].map(li => li.textContent);\
             return items.length ? items : null;",
            PAGE_LIMIT,
        )
        .await;
    assert!(
        live[0]
            .as_str()
            .unwrap()
            .starts_with("ORDER_EVENT_CURRENT: "),
        "{live}"
    );
}

/// Opens `origin` in a fresh headless Chromium and returns the results its script wrote.
async fn run_page(origin: &str) -> Value {
    let browser = Browser::start().await;
    browser.goto(&format!("{origin}/")).await;
    let out = browser
        .wait_for(
            "return document.getElementById('out').textContent",
            PAGE_LIMIT,
        )
        .await;
    let out = out.as_str().unwrap_or_default();
    if let Some(error) = out.strip_prefix("error:") {
        panic!("the page's script failed: {error}");
    }
    serde_json::from_str(out).unwrap_or_else(|e| panic!("the page wrote {out:?}: {e}"))
}

/// An HTML page whose script runs `calls` (the body of an async function that may use `gw`,
/// `token` and `call`) and writes what it returns, as JSON, into `<pre id="out">`; or, when it
/// throws, `error:` and the message.
fn page(gateway: &str, token: &str, calls: &str) -> String {
    let gateway = Value::from(gateway);
    let token = Value::from(token);
    format!(
        r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>gatehouse browser test</title></head>
<body>
<pre id="out"></pre>
<script>
const gw = {gateway};
const token = {token};

// One call: its status, its body (parsed when it is JSON) and the challenge if readable.
async function call(path, init) {{
  const response = await fetch(gw + path, init);
  const text = await response.text();
  let body;
  try {{ body = JSON.parse(text); }} catch (_) {{ body = text; }}
  return {{
    status: response.status,
    body,
    wwwAuthenticate: response.headers.get("WWW-Authenticate"),
  }};
}}

async function calls() {{
{calls}
}}

const out = document.getElementById("out");
calls().then(
  results => {{ out.textContent = JSON.stringify(results); }},
  error => {{ out.textContent = "error:" + error.message; }},
);
</script>
</body>
</html>
"#
    )
}

/// A fresh issuer whose public keys the gateway reads from a file.
struct Issuer {
    issuer: DemoIssuer,
    jwks_file: PathBuf,
    _dir: TempDir,
}

impl Issuer {
    fn generate() -> Issuer {
        let issuer = DemoIssuer::generate(ISSUER, AUDIENCE).expect("demo issuer");
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-browser-jwks")
            .tempdir()
            .expect("a temporary directory for the JWKS");
        let jwks_file = dir.path().join("jwks.json");
        std::fs::write(&jwks_file, issuer.jwks_json()).expect("write the JWKS");
        Issuer {
            issuer,
            jwks_file,
            _dir: dir,
        }
    }

    /// Config for every route to need a token of this issuer, and for `origins` to call.
    fn config(&self, origins: &[&str]) -> String {
        // A JSON array of strings is a TOML array too.
        let origins = Value::from(origins.to_vec());
        format!(
            "[auth]\ndefault = \"authenticated\"\n\n\
             [[auth.jwt]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\n\
             jwks_file = \"{}\"\n\n\
             [server.cors]\norigins = {origins}\n",
            self.jwks_file.display()
        )
    }

    fn token(&self) -> String {
        self.issuer
            .token("alice", &["reader"], Duration::from_secs(600))
    }
}

async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port")
}

/// `http://127.0.0.1:<port>`: a page served there is another origin than the gateway.
fn origin_of(listener: &TcpListener) -> String {
    format!("http://{}", listener.local_addr().expect("local address"))
}

/// Answers every request with one HTML page, until dropped.
struct PageServer(tokio::task::JoinHandle<()>);

impl PageServer {
    fn serve(listener: TcpListener, html: String) -> PageServer {
        let response: Arc<[u8]> = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{html}",
            html.len()
        )
        .into_bytes()
        .into();
        PageServer(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, response.clone()));
            }
        }))
    }
}

impl PageServer {
    /// Answers each of `files` (path, content type, body) at its path, and 404 elsewhere.
    fn serve_files(
        listener: TcpListener,
        files: Vec<(String, &'static str, Vec<u8>)>,
    ) -> PageServer {
        let responses: Arc<Vec<(String, Arc<[u8]>)>> = Arc::new(
            files
                .into_iter()
                .map(|(path, content_type, body)| {
                    let mut response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    response.extend_from_slice(&body);
                    (path, response.into())
                })
                .collect(),
        );
        PageServer(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let responses = responses.clone();
                tokio::spawn(answer_path(stream, responses));
            }
        }))
    }
}

/// One request head, or `None` when the connection ends (or sends too much) before it does.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(None);
        }
        head.extend_from_slice(&buffer[..n]);
    }
    Ok(Some(head))
}

/// Reads one request head and answers with the file at its path.
async fn answer_path(mut stream: TcpStream, files: Arc<Vec<(String, Arc<[u8]>)>>) {
    let exchange = async {
        let Some(head) = read_head(&mut stream).await? else {
            return Ok(());
        };
        let head = String::from_utf8_lossy(&head);
        let path = head.split(' ').nth(1).unwrap_or("/");
        let path = path.split('?').next().unwrap_or(path);
        let not_found: Arc<[u8]> = Arc::from(
            &b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
        );
        let response = files
            .iter()
            .find(|(p, _)| p == path)
            .map_or(not_found, |(_, r)| r.clone());
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    let _: Result<std::io::Result<()>, _> =
        tokio::time::timeout(Duration::from_secs(10), exchange).await;
}

/// The demo's backends and gateway, on loopback ports, with the demo's config and issuer.
struct DemoGateway {
    base: String,
    config: gatehouse::config::Config,
    issuer: DemoIssuer,
    _backends: Vec<gatehouse::demo::RunningBackend>,
    _dir: TempDir,
}

impl DemoGateway {
    async fn start() -> DemoGateway {
        let backends = gatehouse::demo::spawn_all(gatehouse::demo::DemoStore::seeded())
            .await
            .unwrap();
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-demo")
            .tempdir()
            .unwrap();
        let issuer = gatehouse::demo::demo_issuer().unwrap();
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, issuer.jwks_json()).unwrap();
        let mut config = gatehouse::demo::demo_config(&backends, &jwks);
        config.telemetry.access_log = gatehouse::config::AccessLog::Off;
        let gateway = gatehouse::gateway::Gateway::new(&config).unwrap();
        let listener = bind_loopback().await;
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(gatehouse::listener::serve_gateway(
            listener,
            gateway,
            std::future::pending(),
        ));
        DemoGateway {
            base,
            config,
            issuer,
            _backends: backends,
            _dir: dir,
        }
    }

    /// The token `gatehouse demo` prints: user 123, a customer.
    fn token(&self) -> String {
        gatehouse::demo::demo_token(&self.issuer)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads one request head and writes `response`. Chromium may open a connection it never
/// uses, so one that stays silent is dropped after a while.
async fn answer(mut stream: TcpStream, response: Arc<[u8]>) {
    let exchange = async {
        if read_head(&mut stream).await?.is_none() {
            return Ok(());
        }
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    let _: Result<std::io::Result<()>, _> =
        tokio::time::timeout(Duration::from_secs(10), exchange).await;
}

/// Finds Swagger UI's operations and types into its React inputs, for the scripts below:
/// `operation("GET", "/api/users/{user_id}")` is that operation's block; `type(input, text)`
/// sets a value the way typing does (React reads `input` events, not the `value` property),
/// and then presses Enter: parameter fields pass their value on only after a pause in typing
/// or at Enter, and "Execute" must not be clicked before.
const SWAGGER_UI_HELPERS: &str = r#"
  const operation = (method, path) => [...document.querySelectorAll(".opblock")].find(o =>
    o.querySelector(".opblock-summary-method")?.textContent.trim() === method &&
    o.querySelector(".opblock-summary-path")?.dataset.path === path);
  const type = (input, text) => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, text);
    input.dispatchEvent(new Event("input", {bubbles: true}));
    input.dispatchEvent(new Event("change", {bubbles: true}));
    input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  };
"#;

/// Swagger UI at the demo's `/docs`, in Chromium: it lists the operations of the OpenAPI
/// document the gateway serves; the demo token, entered once in the Authorize dialog, is sent
/// by "Try it out", so `GET /api/users/{user_id}` (which refuses a call without a token)
/// answers the user. A screenshot of the answer is kept at target/artifacts/docs.png (the path
/// is printed).
#[tokio::test]
async fn swagger_ui_authorizes_and_tries_an_operation() {
    let demo = DemoGateway::start().await;
    let base = demo.base.clone();
    let user = format!("{base}/api/users/123");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let refused = client.get(&user).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the operation tried needs the token");

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/docs")).await;
    // Swagger UI renders every operation at once, when the document has loaded.
    let operations = browser
        .wait_for(
            "return [...document.querySelectorAll('.opblock')].map(o =>\
               o.querySelector('.opblock-summary-method').textContent.trim() + ' ' +\
               o.querySelector('.opblock-summary-path').dataset.path);",
            Duration::from_secs(30),
        )
        .await;
    let operations: Vec<&str> = operations
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    for wanted in [
        "GET /api/users/{user_id}",
        "POST /api/orders",
        "GET /api/products:batchGet",
        "GET /api/user-dashboard/{user_id}",
    ] {
        assert!(
            operations.contains(&wanted),
            "{wanted} not in {operations:?}"
        );
    }

    // Authorize once: the dialog lists the document's `bearer` scheme.
    browser
        .execute("document.querySelector('.auth-wrapper .btn.authorize').click(); return true;")
        .await;
    let token = gatehouse::demo::demo_token(&demo.issuer);
    browser
        .wait_for(
            &format!(
                "{SWAGGER_UI_HELPERS}\
                 const input = document.querySelector('.modal-ux #auth-bearer-value');\
                 if (!input) return null;\
                 type(input, {token:?});\
                 input.closest('form').querySelector('.btn.modal-btn.auth.authorize').click();\
                 return true;"
            ),
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_for(
            "const done = [...document.querySelectorAll('.modal-ux h6')]\
               .some(h => h.textContent === 'Authorized');\
             if (!done) return null;\
             document.querySelector('.modal-ux .btn-done').click();\
             return true;",
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_for(
            "return document.querySelector('.modal-ux') ? null : true;",
            Duration::from_secs(10),
        )
        .await;

    // Try GET /api/users/{user_id}: open it, "Try it out", fill the path, "Execute".
    let find =
        format!("{SWAGGER_UI_HELPERS} const op = operation('GET', '/api/users/{{user_id}}');");
    browser
        .execute(&format!(
            "{find} op.querySelector('.opblock-summary-control').click(); return true;"
        ))
        .await;
    browser
        .wait_for(
            &format!(
                "{find} const button = op.querySelector('.try-out__btn');\
                 if (!button) return null;\
                 button.click();\
                 return true;"
            ),
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_for(
            &format!(
                "{find} const input = op.querySelector('tr[data-param-name=\"user_id\"] input');\
                 const execute = op.querySelector('.btn.execute');\
                 if (!input || !execute) return null;\
                 type(input, '123');\
                 execute.click();\
                 return true;"
            ),
            Duration::from_secs(10),
        )
        .await;
    let answer = browser
        .wait_for(
            &format!(
                "{find} const live = op.querySelector('.live-responses-table .response');\
                 if (!live) return null;\
                 return {{\
                   status: live.querySelector('.response-col_status').textContent.trim(),\
                   body: live.querySelector('.response-col_description pre')?.textContent,\
                   curl: op.querySelector('.curl-command')?.textContent,\
                 }};"
            ),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(answer["status"], "200", "{answer:#}");
    let body = answer["body"].as_str().unwrap_or_default();
    assert!(body.contains("Ada Lovelace"), "{answer:#}");
    let curl = answer["curl"].as_str().unwrap_or_default();
    assert!(
        curl.contains(&format!("Authorization: Bearer {token}")),
        "{answer:#}"
    );
    browser
        .execute(&format!(
            "{find} op.querySelector('.live-responses-table').scrollIntoView({{block: 'center'}});\
             return true;"
        ))
        .await;

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let path = artifacts.join("docs.png");
    std::fs::write(&path, png).unwrap();
    println!("screenshot of Swagger UI at /docs: {}", path.display());
}
