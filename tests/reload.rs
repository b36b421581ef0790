//! Hot reload under steady load: a new config (another endpoint list, another rate limit) is
//! swapped in with zero failed requests; an invalid one changes nothing; the watcher picks up a
//! file change by itself.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Fleet;
use gatehouse::config::Config;
use gatehouse::gateway::{Gateway, Handle};

/// The config: the echo service at `endpoint`, Echo limited to `burst` calls (per second, so the
/// test never runs out).
fn config_text(endpoint: &str, burst: u32) -> String {
    format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"gatehouse.echo.v1.EchoService\"]\n\
         endpoints = [\"{endpoint}\"]\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         rate_limit = {{ per_second = {burst}, burst = {burst} }}\n"
    )
}

struct Running {
    handle: Handle,
    base: String,
    path: PathBuf,
}

async fn start(name: &str, text: &str) -> Running {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("reload-{name}.toml"));
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap();
    let gateway = Gateway::new(&config).unwrap();
    let limits = gateway.connection_limits();
    let handle = Handle::new(gateway);
    let router = gatehouse::stack::for_handle(&handle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gatehouse::listener::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    Running { handle, base, path }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The burst the Echo route's limit reports now.
async fn limit(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/v1/echo/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["ratelimit-limit"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_reload_under_load_changes_endpoints_and_limits_without_a_failure() {
    let fleet = Fleet::start(2).await;
    let (old, new) = (&fleet.instances[0], &fleet.instances[1]);
    let gw = start("under-load", &config_text(&old.endpoint(), 1000)).await;
    let http = client();
    assert_eq!(limit(&http, &gw.base).await, "1000");

    // Four clients call steadily while the config changes under them.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, base, stop) = (http.clone(), gw.base.clone(), stop.clone());
        let (failures, calls) = (failures.clone(), calls.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = http.get(format!("{base}/v1/echo/x")).send().await;
                calls.fetch_add(1, Ordering::Relaxed);
                match response {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failures.lock().unwrap().push(r.status().to_string()),
                    Err(e) => failures.lock().unwrap().push(e.to_string()),
                }
            }
        }));
    }
    while old.served() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    std::fs::write(&gw.path, config_text(&new.endpoint(), 2000)).unwrap();
    let replaced = Arc::downgrade(&gw.handle.load());
    let restart = gatehouse::reload::reload(&gw.handle, &gw.path)
        .await
        .expect("the new config is valid");
    assert!(restart.is_empty(), "{restart:?}");
    let served_by_old = old.served();
    while new.served() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(limit(&http, &gw.base).await, "2000");
    // Nothing keeps the old gateway (and its pools) alive once its requests are done.
    assert!(
        replaced.upgrade().is_none(),
        "the replaced gateway is still alive"
    );

    // An invalid config is refused and changes nothing.
    std::fs::write(&gw.path, "[[backends]]\nname = \"echo\"\nnope = 1\n").unwrap();
    let error = gatehouse::reload::reload(&gw.handle, &gw.path)
        .await
        .unwrap_err();
    assert!(error.contains("unknown field `nope`"), "{error}");
    let before = new.served();
    while new.served() < before + 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(limit(&http, &gw.base).await, "2000");

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let failures = failures.lock().unwrap();
    eprintln!(
        "reload under load: {} calls, {} failed; the old endpoint served {} after the swap",
        calls.load(Ordering::Relaxed),
        failures.len(),
        old.served() - served_by_old
    );
    assert!(failures.is_empty(), "{failures:?}");
    // Calls that were in flight on the old gateway finished there; new ones went to the new
    // endpoint only.
    assert!(
        old.served() - served_by_old <= 4,
        "{}",
        old.served() - served_by_old
    );
}

#[tokio::test]
async fn the_watcher_reloads_when_the_file_changes() {
    let fleet = Fleet::start(1).await;
    let endpoint = fleet.instances[0].endpoint();
    let gw = start("watched", &config_text(&endpoint, 10)).await;
    let http = client();
    assert_eq!(limit(&http, &gw.base).await, "10");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(gatehouse::reload::watch(
        gw.handle.clone(),
        gw.path.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    // Let the watcher read the file as it is, then change it.
    tokio::time::sleep(gatehouse::reload::WATCH_INTERVAL * 2).await;
    std::fs::write(&gw.path, config_text(&endpoint, 20)).unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        seen = limit(&http, &gw.base).await;
        if seen == "20" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "20");
    let _ = stop.send(());
    watcher.await.unwrap();
}
