//! Headless Chromium driven over W3C WebDriver: chromedriver on a loopback port, spoken to with
//! plain JSON over HTTP. Needs the Debian packages `chromium` and `chromium-driver`
//! (`scripts/install-test-tools.sh`).
//!
//! ```ignore
//! let browser = Browser::start().await;
//! browser.goto("http://127.0.0.1:8080/").await;
//! let text = browser.wait_for("return document.title", Duration::from_secs(5)).await;
//! ```

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use serde_json::{Value, json};

use super::http1;

const NOT_INSTALLED: &str = "Chromium is not installed: run scripts/install-test-tools.sh";

/// How long chromedriver has to start listening.
const DRIVER_START: Duration = Duration::from_secs(20);
/// The longest any one WebDriver command may take (starting Chromium is the slow one).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long ending the session may take, Chromium quitting included.
const DELETE_TIMEOUT: Duration = Duration::from_secs(12);
/// How often `wait_for` runs its script again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A headless Chromium session. Dropping it ends the session, stops chromedriver and every
/// process it started, and deletes the profile.
pub struct Browser {
    client: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    // Dropped after `Browser::drop` has ended the session.
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session in a fresh profile.
    /// Panics when Chromium or chromedriver is missing, or when either fails to start.
    pub async fn start() -> Browser {
        let (Some(chromedriver), Some(chromium)) =
            (find_on_path("chromedriver"), find_on_path("chromium"))
        else {
            panic!("{NOT_INSTALLED}");
        };
        let driver = Driver::spawn(&chromedriver).await;
        let client = reqwest::Client::builder()
            // chromedriver is on loopback, whatever the environment's proxy says.
            .no_proxy()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .expect("HTTP client");

        let profile = driver.dir.path().join("profile");
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [
                            "--headless=new",
                            // Containers rarely allow the user namespaces the sandbox needs.
                            "--no-sandbox",
                            "--disable-gpu",
                            // /dev/shm is small in containers; a full one crashes the tab.
                            "--disable-dev-shm-usage",
                            "--disable-quic",
                            "--no-first-run",
                            // Nothing but the test's own requests leaves the browser.
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let url = format!("{}/session", driver.base);
        let reply = match send(client.post(&url).json(&capabilities)).await {
            Ok(reply) => reply,
            Err(e) => panic!(
                "chromedriver could not start {}: {e}\nchromedriver log:\n{}",
                chromium.display(),
                driver.log_tail()
            ),
        };
        let Some(id) = reply["sessionId"].as_str() else {
            panic!("POST {url}: no sessionId in {reply}");
        };
        Browser {
            session: format!("{}/session/{id}", driver.base),
            client,
            driver,
        }
    }

    /// Navigates to `url` and returns once the page has loaded (its scripts may still be
    /// waiting for responses).
    pub async fn goto(&self, url: &str) {
        let endpoint = format!("{}/url", self.session);
        if let Err(e) = send(self.client.post(&endpoint).json(&json!({"url": url}))).await {
            panic!("navigate to {url}: {e}");
        }
    }

    /// Runs `script` as the body of a function in the page and returns what it returns
    /// (`return document.title`). Panics when the script throws.
    pub async fn execute(&self, script: &str) -> Value {
        self.try_execute(script)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` every 100 ms until it returns something other than null, `""`, `[]` or
    /// `{}`, and returns that. A script that throws counts as not there yet. Panics after
    /// `limit` with the last result.
    pub async fn wait_for(&self, script: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let last = self.try_execute(script).await;
            match &last {
                Ok(value) if !is_empty(value) => return value.clone(),
                _ if Instant::now() >= deadline => {
                    panic!("after {limit:?} the script still gives {last:?}\n{script}")
                }
                _ => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let endpoint = format!("{}/screenshot", self.session);
        let value = send(self.client.get(&endpoint))
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("WebDriver screenshots are base64")
    }

    async fn try_execute(&self, script: &str) -> Result<Value, String> {
        let endpoint = format!("{}/execute/sync", self.session);
        let body = json!({"script": script, "args": []});
        send(self.client.post(&endpoint).json(&body)).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver quit Chromium; whatever is left after that is
        // killed with chromedriver.
        let path = self
            .session
            .strip_prefix(&self.driver.base)
            .unwrap_or(&self.session);
        delete_blocking(self.driver.addr, path);
    }
}

/// Sends a WebDriver command and returns its `value`, or the WebDriver error as text.
async fn send(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let mut body: Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {status}, body is not JSON: {e}"))?;
    let value = body["value"].take();
    match value.get("error").and_then(Value::as_str) {
        Some(error) => Err(format!(
            "{error}: {}",
            value["message"].as_str().unwrap_or_default()
        )),
        None => Ok(value),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A chromedriver process. Chromium and its helpers are its descendants; they stay in the
/// test's process group, so Ctrl-C on `cargo test` stops them too.
struct Driver {
    child: Child,
    addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    base: String,
    /// Holds the browser profile and chromedriver's log.
    dir: tempfile::TempDir,
}

impl Driver {
    async fn spawn(chromedriver: &Path) -> Driver {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-chromedriver")
            .tempdir()
            .expect("a temporary directory for chromedriver");
        let log = dir.path().join("chromedriver.log");
        let addr = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={}", addr.port()))
            .arg(format!("--log-path={}", log.display()))
            // Its banner would land in the middle of the test output.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{NOT_INSTALLED} ({}: {e})", chromedriver.display()));
        let mut driver = Driver {
            child,
            addr,
            base: format!("http://{addr}"),
            dir,
        };
        driver.wait_ready().await;
        driver
    }

    /// Polls `GET /status` until chromedriver says it is ready.
    async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let url = format!("{}/status", self.base);
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited at start ({status})\n{}",
                    self.log_tail()
                );
            }
            if let Ok(value) = send(client.get(&url)).await
                && value["ready"] == true
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "chromedriver is not ready on {url} after {DRIVER_START:?}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of chromedriver's log, for failure messages.
    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Listed while chromedriver still runs: once it dies, what it started is reparented
        // and no longer found under it. The shell's `kill` signals other processes without
        // `unsafe` or a new crate (and without procps, which slim images lack).
        let descendants = descendants(self.child.id());
        if !descendants.is_empty() {
            let _ = Command::new("sh")
                .args(["-c", "kill -KILL \"$@\"", "sh"])
                .args(descendants.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The processes below `root`, from `/proc` (none where there is no `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`, where comm may hold spaces and parentheses.
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?.parse::<u32>().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut next = 0;
    while let Some(&parent) = found.get(next) {
        found.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(pid, _)| pid),
        );
        next += 1;
    }
    found.split_off(1)
}

/// `DELETE <path>` to chromedriver, from `Drop`, which cannot await: the request runs on a
/// runtime of its own, on a thread of its own since `Drop` may run inside the test's runtime.
/// Best effort: any failure is ignored, the processes are killed afterwards anyway.
fn delete_blocking(addr: SocketAddr, path: &str) {
    let Ok(request) = hyper::Request::delete(path).body(Empty::<Bytes>::new()) else {
        return;
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            // chromedriver answers once Chromium has quit. The timeout is made inside
            // `block_on`: its timer needs the runtime to be current.
            let _ = runtime.block_on(async {
                tokio::time::timeout(DELETE_TIMEOUT, http1::send(addr, request)).await
            });
        });
    });
}

/// A loopback address with a port nobody listens on right now.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address")
}

/// The first executable `name` on `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
