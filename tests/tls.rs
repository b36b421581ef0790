//! TLS over real sockets, with a CA and certificates made for each test: the listener serves
//! HTTPS (REST over HTTP/2 and HTTP/1.1 by ALPN, and gRPC), bounds the handshake and keeps
//! its 408; `https://` backends are verified against the configured CA and name (a resolved
//! endpoint's host name, not its IP) and get the client certificate when they require one;
//! every file problem stops start-up with the file's name.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{ECHO_SERVICE, Echo, EchoServer, expect_error, json_ok};
use gatehouse::config::Config;
use gatehouse::gateway::Gateway;
use gatehouse::listener::serve_gateway as serve;
use gatehouse::proto::gatehouse::echo::v1::Kitchen;
use gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient;
use gatehouse::upstream::{Backend, Resolver};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_rustls::rustls;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A test CA, and the certificates it issues, as PEM files in one directory (which is also
/// where the gateway's config file goes, so the config names them by relative path).
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA, written to `ca.pem`.
    fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-tls")
            .tempdir()
            .expect("a temporary directory for the PKI");
        let ca = new_ca("gatehouse test CA");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write ca.pem");
        Pki { dir, ca }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn ca(&self) -> Certificate {
        Certificate::from_pem(self.ca_pem())
    }

    /// A certificate for `names` (DNS names or IP addresses) for `usage`, signed by the CA and
    /// written to `<file>.pem` and `<file>.key`.
    fn issue(&self, file: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("certificate names");
        params
            .distinguished_name
            .push(DnType::CommonName, file.to_string());
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key pair");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("sign the certificate");
        let (cert, key) = (cert.pem(), key.serialize_pem());
        std::fs::write(self.path(&format!("{file}.pem")), &cert).expect("write certificate");
        std::fs::write(self.path(&format!("{file}.key")), &key).expect("write key");
        Identity::from_pem(cert, key)
    }

    /// The gateway's server certificate, for `localhost` and `127.0.0.1`.
    fn gateway_cert(&self) {
        self.issue(
            "gateway",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
    }

    /// A CA that signed nothing here, written to `file`.
    fn write_foreign_ca(&self, file: &str) {
        std::fs::write(self.path(file), new_ca("someone else's CA").pem()).expect("write CA");
    }

    /// Writes `toml` as `gatehouse.toml` and builds a gateway from it, as `gatehouse serve` would.
    fn gateway(&self, toml: &str) -> Result<Gateway, String> {
        let file = self.path("gatehouse.toml");
        std::fs::write(&file, toml).expect("write the config");
        let config = Config::load(&file).map_err(|e| e.to_string())?;
        // Start-up errors name the config file first; the rest is what each test checks.
        Gateway::new(&config).map_err(|e| {
            let text = e.to_string();
            let named = format!("{}: ", file.display());
            assert!(text.starts_with(&named), "{text}");
            text[named.len()..].to_string()
        })
    }

    /// Builds the gateway and serves it on a loopback port.
    async fn start(&self, toml: &str) -> RunningGateway {
        let gateway = self
            .gateway(toml)
            .unwrap_or_else(|e| panic!("gateway builds: {e}\n{toml}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the gateway");
        let addr = listener.local_addr().expect("gateway address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            serve(listener, gateway, async {
                let _ = stopped.await;
            })
            .await
            .expect("gateway serves");
        });
        RunningGateway { addr, _stop: stop }
    }

    /// An HTTPS client that trusts only this CA.
    fn client(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.ca_pem().as_bytes()).expect("CA for reqwest");
        reqwest::Client::builder()
            .no_proxy()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

struct RunningGateway {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// `[server.tls]` with the gateway certificate, `server` keys added to `[server]`, and a
/// plain echo backend at `echo`.
fn tls_listener_config(server: &str, echo: SocketAddr) -> String {
    format!(
        "[server]\n{server}\n\
         [server.tls]\ncert_file = \"gateway.pem\"\nkey_file = \"gateway.key\"\n\n\
         [[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"http://{echo}\"]\n"
    )
}

/// A plain listener in front of the echo backend at `https://<echo>`, with `tls` as its
/// `[backends.tls]` table.
fn tls_backend_config(echo: SocketAddr, tls: &str) -> String {
    format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"https://{echo}\"]\nconnect_timeout = \"2s\"\n\n[backends.tls]\n{tls}\n"
    )
}

async fn echo_tls(pki: &Pki, names: &[&str], client_ca: Option<Certificate>) -> EchoServer {
    let identity = pki.issue("backend", names, ExtendedKeyUsagePurpose::ServerAuth);
    Echo::spawn_tls(identity, client_ca).await
}

async fn get_echo(client: &reqwest::Client, base: &str) -> reqwest::Response {
    client
        .get(format!("{base}/v1/echo/hello"))
        .send()
        .await
        .expect("the gateway answers")
}

#[tokio::test]
async fn https_serves_http2_and_http1_by_alpn() {
    let pki = Pki::new();
    pki.gateway_cert();
    let echo = Echo::spawn().await;
    let gw = pki.start(&tls_listener_config("", echo.addr)).await;

    // By name (resolved to the gateway) and by IP: the certificate holds both.
    let by_name = pki.client().resolve("localhost", gw.addr).build().unwrap();
    let base = format!("https://localhost:{}", gw.addr.port());
    let response = get_echo(&by_name, &base).await;
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(json_ok(response).await["stringField"], "hello");

    let http1 = pki.client().http1_only().build().unwrap();
    let response = get_echo(&http1, &format!("https://{}", gw.addr)).await;
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(json_ok(response).await["stringField"], "hello");
}

#[tokio::test]
async fn plain_http_on_the_tls_port_fails_and_the_gateway_keeps_serving() {
    let pki = Pki::new();
    pki.gateway_cert();
    let echo = Echo::spawn().await;
    let gw = pki.start(&tls_listener_config("", echo.addr)).await;

    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let prior_knowledge = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for client in [&plain, &prior_knowledge] {
        let answer = client
            .get(format!("http://{}/v1/echo/hello", gw.addr))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(answer.is_err(), "plain HTTP got an answer: {answer:?}");
    }

    // A client that trusts nobody fails its handshake; the gateway is unaffected.
    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("https://{}/v1/echo/hello", gw.addr))
            .send()
            .await
            .is_err()
    );

    let client = pki.client().build().unwrap();
    let response = get_echo(&client, &format!("https://{}", gw.addr)).await;
    assert_eq!(json_ok(response).await["stringField"], "hello");
}

#[tokio::test]
async fn a_client_that_never_handshakes_is_closed() {
    let pki = Pki::new();
    pki.gateway_cert();
    let echo = Echo::spawn().await;
    let gw = pki
        .start(&tls_listener_config(
            "header_read_timeout = \"200ms\"",
            echo.addr,
        ))
        .await;
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buffer = [0u8; 64];
    // Bounded only so a regression fails instead of hanging.
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer))
        .await
        .expect("the gateway closes a connection that never starts its handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn a_tls_client_too_slow_with_its_headers_gets_408() {
    let pki = Pki::new();
    pki.gateway_cert();
    let echo = Echo::spawn().await;
    let gw = pki
        .start(&tls_listener_config(
            "header_read_timeout = \"200ms\"",
            echo.addr,
        ))
        .await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.ca.der().clone())
        .expect("CA in the root store");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(b"GET /v1/echo/x HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The gateway closes after its answer; how the TLS session ends does not matter here.
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"HEADER_TIMEOUT\""), "{answer}");
}

#[tokio::test]
async fn a_tls_backend_is_verified_against_the_ca_and_domain() {
    let pki = Pki::new();
    // The backend's certificate names no IP: the gateway must check "localhost".
    let echo = echo_tls(&pki, &["localhost"], None).await;
    let gw = pki
        .start(&tls_backend_config(
            echo.addr,
            "ca_file = \"ca.pem\"\ndomain = \"localhost\"",
        ))
        .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", gw.addr);
    assert_eq!(
        json_ok(get_echo(&client, &base).await).await["stringField"],
        "hello"
    );

    // Without `domain`, the IP is checked, and the certificate does not name it.
    let by_ip = pki
        .start(&tls_backend_config(echo.addr, "ca_file = \"ca.pem\""))
        .await;
    let base = format!("http://{}", by_ip.addr);
    expect_error(
        get_echo(&client, &base).await,
        503,
        14,
        "UPSTREAM_UNAVAILABLE",
    )
    .await;
}

#[tokio::test]
async fn a_backend_signed_by_another_ca_is_refused() {
    let pki = Pki::new();
    pki.write_foreign_ca("other-ca.pem");
    let echo = echo_tls(&pki, &["localhost"], None).await;
    let gw = pki
        .start(&tls_backend_config(
            echo.addr,
            "ca_file = \"other-ca.pem\"\ndomain = \"localhost\"",
        ))
        .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", gw.addr);
    expect_error(
        get_echo(&client, &base).await,
        503,
        14,
        "UPSTREAM_UNAVAILABLE",
    )
    .await;
}

/// Calls that wait for a connection share one attempt: when it fails, they fail with it
/// instead of each trying again in turn (each waiting up to the connect timeout).
#[tokio::test]
async fn calls_waiting_for_a_connect_that_fails_fail_with_it() {
    let pki = Pki::new();
    // Takes TCP connections, and drops each after a while without a TLS word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                drop(socket);
            });
        }
    });
    let gw = pki
        .start(&tls_backend_config(backend, "domain = \"localhost\""))
        .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", gw.addr);
    let calls = (0..8).map(|_| get_echo(&client, &base));
    for response in futures_util::future::join_all(calls).await {
        expect_error(response, 503, 14, "UPSTREAM_UNAVAILABLE").await;
    }
    // One attempt per connection of the endpoint.
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        gatehouse::config::DEFAULT_CONNECTIONS_PER_ENDPOINT
    );
}

#[tokio::test]
async fn a_backend_requiring_mutual_tls_gets_the_client_certificate() {
    let pki = Pki::new();
    pki.issue(
        "client",
        &["gatehouse.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let echo = echo_tls(&pki, &["localhost"], Some(pki.ca())).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let without = pki
        .start(&tls_backend_config(
            echo.addr,
            "ca_file = \"ca.pem\"\ndomain = \"localhost\"",
        ))
        .await;
    let base = format!("http://{}", without.addr);
    expect_error(
        get_echo(&client, &base).await,
        503,
        14,
        "UPSTREAM_UNAVAILABLE",
    )
    .await;

    let with = pki
        .start(&tls_backend_config(
            echo.addr,
            "ca_file = \"ca.pem\"\ndomain = \"localhost\"\n\
             cert_file = \"client.pem\"\nkey_file = \"client.key\"",
        ))
        .await;
    let base = format!("http://{}", with.addr);
    assert_eq!(
        json_ok(get_echo(&client, &base).await).await["stringField"],
        "hello"
    );
}

#[tokio::test]
async fn a_resolved_backend_is_verified_against_its_host_name() {
    let pki = Pki::new();
    let echo = echo_tls(&pki, &["echo.test"], None).await;
    let toml = format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"https://echo.test:{}\"]\n\n[backends.tls]\nca_file = {:?}\n",
        echo.addr.port(),
        pki.path("ca.pem"),
    );
    let config = Config::parse("t.toml", &toml).unwrap();
    let address = echo.addr;
    let resolver: Resolver = Arc::new(move |host, port| {
        Box::pin(async move {
            assert_eq!((host.as_str(), port), ("echo.test", address.port()));
            Ok(vec![address])
        })
    });
    let backend = Backend::with_resolver(&config.backends[0], resolver).expect("backend builds");
    let reply = EchoServiceClient::new(backend.channel())
        .echo(Kitchen {
            string_field: "resolved".into(),
            ..Default::default()
        })
        .await
        .expect("the call goes through TLS to echo.test");
    assert_eq!(reply.into_inner().string_field, "resolved");
}

#[tokio::test]
async fn unusable_files_stop_start_up_with_their_name() {
    let pki = Pki::new();
    pki.gateway_cert();
    pki.issue("other", &["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let echo = "127.0.0.1:1".parse().unwrap();

    let mismatched = tls_listener_config("", echo).replace("gateway.key", "other.key");
    let error = pki
        .gateway(&mismatched)
        .err()
        .expect("a key for another cert");
    assert!(
        error.starts_with("server.tls.key_file: ")
            && error.contains("other.key: is not the key of the certificate in"),
        "{error}"
    );

    let missing = tls_backend_config(echo, "ca_file = \"nowhere.pem\"");
    let error = pki.gateway(&missing).err().expect("a missing CA file");
    assert!(
        error.starts_with("backend \"echo\": tls.ca_file: ") && error.contains("nowhere.pem"),
        "{error}"
    );

    let not_a_key = tls_backend_config(echo, "cert_file = \"client.pem\"\nkey_file = \"ca.pem\"");
    pki.issue("client", &["x.test"], ExtendedKeyUsagePurpose::ClientAuth);
    let error = pki
        .gateway(&not_a_key)
        .err()
        .expect("a key file without a key");
    assert!(
        error.starts_with("backend \"echo\": tls.key_file: ")
            && error.contains("ca.pem: has no PEM private key"),
        "{error}"
    );
}

#[tokio::test]
async fn grpc_clients_call_through_the_tls_port() {
    let pki = Pki::new();
    pki.gateway_cert();
    let echo = Echo::spawn().await;
    let gw = pki.start(&tls_listener_config("", echo.addr)).await;
    let tls = ClientTlsConfig::new()
        .ca_certificate(pki.ca())
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{}", gw.addr))
        .unwrap()
        .tls_config(tls)
        .expect("client TLS config")
        .connect()
        .await
        .expect("TLS connection to the gateway");
    let reply = EchoServiceClient::new(channel)
        .echo(Kitchen {
            string_field: "over tls".into(),
            ..Default::default()
        })
        .await
        .expect("the gRPC call goes through");
    assert_eq!(reply.into_inner().string_field, "over tls");
}

#[tokio::test]
async fn a_websocket_opens_over_tls() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let pki = Pki::new();
    pki.gateway_cert();
    let echo = Echo::spawn().await;
    let gw = pki.start(&tls_listener_config("", echo.addr)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.ca.der().clone())
        .expect("CA in the root store");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let port = gw.addr.port();
    let mut request = format!("wss://localhost:{port}/v1/chat/secure")
        .into_client_request()
        .unwrap();
    let protocol = "gatehouse.v1".parse().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol);
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("WebSocket handshake over TLS");
    socket.send(Message::text("{}")).await.unwrap();
    let Some(Ok(Message::Text(reply))) = socket.next().await else {
        panic!("no reply");
    };
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["stringField"], "secure");
}
