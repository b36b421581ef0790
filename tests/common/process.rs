//! The real `gatehouse serve` binary as a child process, for tests of what only a process has:
//! signals, exit status, the span exporter, the log on stderr.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
/// Bound on every wait, so that a broken process fails the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `gatehouse serve` with a config a test wrote; killed if still running when dropped.
pub struct Gatehouse {
    child: Child,
    pub rest: SocketAddr,
    pub admin: SocketAddr,
    log: PathBuf,
    /// Lines printed after the two address lines.
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Gatehouse {
    /// Writes `config` (which must put both listeners on port 0) to `<name>.toml` in the test
    /// temp dir, starts the binary on it, and reads the addresses it prints. Its stderr goes to
    /// `<name>.log`.
    pub fn start(name: &str, config: &str) -> Gatehouse {
        Gatehouse::start_logging(name, config, "info")
    }

    /// [`Gatehouse::start`] with `RUST_LOG` set to `log_level`.
    pub fn start_logging(name: &str, config: &str, log_level: &str) -> Gatehouse {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let config_file = dir.join(format!("{name}.toml"));
        let log = dir.join(format!("{name}.log"));
        std::fs::write(&config_file, config).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config_file)
            .env("RUST_LOG", log_level)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start gatehouse serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        let mut address = |prefix: &str| {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("gatehouse printed no {prefix:?} line\n{}", log_text()));
            let rest = line
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{line}"));
            let url = rest.split_whitespace().next().unwrap();
            url.trim_start_matches("http://").parse().unwrap()
        };
        let rest = address("gatehouse listening on ");
        let admin = address("admin listening on ");
        // Whatever else it prints (the access log) is kept, and must not fill the pipe.
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let kept = stdout.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Gatehouse {
            child,
            rest,
            admin,
            log,
            stdout,
        }
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit.
    pub async fn exited(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "gatehouse did not exit after SIGTERM\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn readyz(&self, client: &reqwest::Client) -> (u16, Value) {
        let response = client
            .get(format!("http://{}/readyz", self.admin))
            .send()
            .await
            .expect("the admin listener answers during the drain");
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// The Prometheus text its admin listener serves at `/metrics`.
    pub async fn metrics(&self, client: &reqwest::Client) -> String {
        client
            .get(format!("http://{}/metrics", self.admin))
            .send()
            .await
            .expect("the admin listener answers")
            .text()
            .await
            .expect("a /metrics body")
    }

    /// Waits until a TCP connect to the REST port is refused.
    pub async fn refuses_connections(&self) {
        let start = Instant::now();
        loop {
            match tokio::net::TcpStream::connect(self.rest).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                Err(e) => panic!("connect failed otherwise: {e}"),
                Ok(_) => {}
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the REST port still accepts connections"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What it printed on stdout after its address lines, so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that `gatehouse check` refuses `config` (written to `<name>.toml` in the test temp
/// dir) and names `key` in its message.
pub fn check_refuses(name: &str, config: &str, key: &str) {
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let output = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "this passed the check:\n{config}");
    assert!(stderr.contains(key), "{config}\n{stderr}");
}

/// Runs `command` (the gatehouse binary with its arguments) until it exits, with the log off,
/// and returns how it exited and its stderr. One that is still running after [`PATIENCE`]
/// (it started when it should have refused) is killed and fails the test.
pub fn run_to_exit(command: &mut Command) -> (ExitStatus, String) {
    let mut child = command
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gatehouse");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for gatehouse") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still running after {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, reader.join().expect("read stderr"))
}
