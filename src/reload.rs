//! Hot reload: SIGHUP, or a change of the config file or of a proto or descriptor set it reads,
//! rebuilds the whole gateway: the schema from its sources (protos compiled again, descriptor
//! sets read again, backends' reflection services asked again), then routes and their
//! policies, rate limits, keys, backends and their endpoints, aggregates. A gateway that builds
//! is swapped in atomically; requests in flight finish on the old one. One that does not is
//! refused with the messages `gatehouse check` gives (a proto error with its file, line and
//! column), logged and counted, and the old one keeps serving.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::gateway::{self, Handle};

/// How often the config file is looked at for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a changed file must stay unchanged before it is read.
const SETTLE: Duration = Duration::from_millis(250);

/// Rebuilds the gateway from `path` and puts it in service. On success, the keys that changed
/// but only take effect after a restart (the listeners' own settings); on failure, why.
pub async fn reload(handle: &Handle, path: &Path) -> Result<Vec<&'static str>, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let schema = crate::sources::load(&config)
        .await
        .map_err(|e| e.to_string())?;
    let gateway = gateway::compile(&config, &schema).map_err(|e| e.to_string())?;
    let restart = restart_needed(handle.load().config(), &config);
    handle.replace(gateway);
    Ok(restart)
}

/// Keys read once when the listeners start: a new value needs a restart.
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.server, &new.server);
    let pairs: [(&'static str, String, String); 15] = [
        ("server.listen", a.listen.to_string(), b.listen.to_string()),
        ("server.tls", format!("{:?}", a.tls), format!("{:?}", b.tls)),
        (
            "server.header_read_timeout",
            format!("{:?}", a.header_read_timeout),
            format!("{:?}", b.header_read_timeout),
        ),
        (
            "server.max_headers",
            a.max_headers.to_string(),
            b.max_headers.to_string(),
        ),
        (
            "server.max_header_bytes",
            a.max_header_bytes.to_string(),
            b.max_header_bytes.to_string(),
        ),
        (
            "server.max_concurrent_requests",
            a.max_concurrent_requests.to_string(),
            b.max_concurrent_requests.to_string(),
        ),
        (
            "server.cors",
            format!("{:?}", a.cors),
            format!("{:?}", b.cors),
        ),
        ("server.grpc", a.grpc.to_string(), b.grpc.to_string()),
        (
            "server.openapi",
            a.openapi.to_string(),
            b.openapi.to_string(),
        ),
        (
            "admin.listen",
            old.admin.listen.to_string(),
            new.admin.listen.to_string(),
        ),
        (
            "admin.drain_timeout",
            format!("{:?}", old.admin.drain_timeout),
            format!("{:?}", new.admin.drain_timeout),
        ),
        (
            "telemetry.access_log",
            format!("{:?}", old.telemetry.access_log),
            format!("{:?}", new.telemetry.access_log),
        ),
        (
            "telemetry.otlp_endpoint",
            old.telemetry.otlp_endpoint.clone(),
            new.telemetry.otlp_endpoint.clone(),
        ),
        (
            "telemetry.otlp_service_name",
            old.telemetry.otlp_service_name.clone(),
            new.telemetry.otlp_service_name.clone(),
        ),
        (
            "telemetry.otlp_sample_ratio",
            old.telemetry.otlp_sample_ratio.to_string(),
            new.telemetry.otlp_sample_ratio.to_string(),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, before, after)| before != after)
        .map(|(key, _, _)| key)
        .collect()
}

/// Reloads `path` into `handle` on SIGHUP and whenever the content of the file, or of a proto
/// or descriptor set its `[schema]` names, changes, until `stop` completes.
pub async fn watch(handle: Handle, path: PathBuf, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; reloading on file changes only");
            None
        }
    };
    let mut seen = fingerprint_off_thread(&path).await;
    let mut ticks = tokio::time::interval(WATCH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let signalled = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        let reason = tokio::select! {
            () = &mut stop => return,
            _ = signalled => "SIGHUP",
            _ = ticks.tick() => {
                let now = fingerprint_off_thread(&path).await;
                if now == seen {
                    continue;
                }
                // A file being written (truncated, then filled) must not be read half-way:
                // reload only once its content has stayed the same for a moment.
                tokio::time::sleep(SETTLE).await;
                if fingerprint_off_thread(&path).await != now {
                    continue;
                }
                seen = now;
                "the config file or a file of its schema changed"
            }
        };
        apply(&handle, &path, reason).await;
    }
}

/// One reload, logged and counted.
pub async fn apply(handle: &Handle, path: &Path, reason: &str) {
    match reload(handle, path).await {
        Ok(restart) => {
            metrics::counter!("gatehouse_config_reloads_total", "result" => "ok").increment(1);
            tracing::info!(file = %path.display(), %reason, "config reloaded");
            if !restart.is_empty() {
                tracing::warn!(
                    keys = %restart.join(", "),
                    "these settings changed but take effect only after a restart"
                );
            }
        }
        Err(error) => {
            metrics::counter!("gatehouse_config_reloads_total", "result" => "error").increment(1);
            tracing::error!(%reason, %error, "config reload refused; the running config stays");
        }
    }
}

/// [`fingerprint`] on a blocking thread: a proto tree may be large, and the runtime's threads
/// are serving.
async fn fingerprint_off_thread(path: &Path) -> Option<[u8; 32]> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || fingerprint(&path))
        .await
        .ok()
        .flatten()
}

/// What the config file and the schema files it names hold now (one SHA-256 of their names and
/// contents), or `None` when the config cannot be read.
fn fingerprint(path: &Path) -> Option<[u8; 32]> {
    let text = std::fs::read(path).ok()?;
    let mut digest = Sha256::new();
    digest.update(&text);
    // A config that does not parse is still watched: its fix is a change too.
    if let Ok(config) = Config::load(path) {
        for root in config.schema.paths(&config.base_dir) {
            for file in files_under(&root) {
                digest.update(file.as_os_str().as_encoded_bytes());
                digest.update(std::fs::read(&file).unwrap_or_default());
            }
        }
    }
    Some(digest.finalize().into())
}

/// Most files and folders looked at below one schema path (a symlink loop ends here).
const MAX_WATCHED: usize = 20_000;

/// `root` itself when it is a file; otherwise every file below it, sorted.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    let mut visited = 0;
    while let Some(folder) = folders.pop() {
        visited += 1;
        if visited + files.len() > MAX_WATCHED {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&folder) else {
            files.push(folder);
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_settings_need_a_restart_and_the_rest_does_not() {
        let old = Config::parse("t.toml", "").unwrap();
        let new = Config::parse(
            "t.toml",
            "[server]\nlisten = \"127.0.0.1:9\"\ntimeout = \"3s\"\nmax_body = \"1KiB\"\n",
        )
        .unwrap();
        assert_eq!(restart_needed(&old, &new), ["server.listen"]);
        assert!(restart_needed(&old, &old).is_empty());
    }
}
