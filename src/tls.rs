//! TLS on both sides of the gateway: the listener's certificate (`[server.tls]`) and the way
//! `https://` backends are reached (`[backends.tls]`).
//!
//! Every file is read and checked once, at start-up: a missing file, a file without a PEM
//! block of the right kind, or a key that does not belong to its certificate stops the
//! gateway (and `gatehouse check`) with the file's name, instead of failing handshakes later.
//! Both sides use rustls with the *ring* provider. The listener offers HTTP/2 and HTTP/1.1 by
//! ALPN; backends are spoken to over HTTP/2, which ALPN must confirm.

use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

use crate::config::{BackendConfig, BackendTlsConfig, ServerTlsConfig};

/// The ALPN protocols the listener offers, preferred first.
const LISTENER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The listener's rustls config from `[server.tls]`, its files relative to `base_dir`.
///
/// Fails, naming the key and file, when a file cannot be read, holds no certificate or no
/// private key (PKCS#8, PKCS#1 or SEC1), or the key is not the certificate's.
pub fn server_config(tls: &ServerTlsConfig, base_dir: &Path) -> Result<Arc<ServerConfig>, String> {
    let cert = PemFile::read("server.tls.cert_file", &base_dir.join(&tls.cert_file))?;
    let key = PemFile::read("server.tls.key_file", &base_dir.join(&tls.key_file))?;
    let chain = cert.certificates()?;
    let private_key = key.private_key()?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("server.tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| pair_error(&cert, &key, e))?;
    config.alpn_protocols = LISTENER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// How a backend's `https://` endpoints are reached. Without `[backends.tls]`: the public web
/// roots, no client certificate, and the endpoint's own host name (or IP) is verified.
#[derive(Clone, Debug)]
pub struct BackendTls {
    /// Roots, client certificate, and ALPN `h2`.
    config: Arc<ClientConfig>,
    /// Name verified instead of the endpoint's host.
    domain: Option<String>,
}

impl BackendTls {
    /// Reads and checks the files of `backend`'s `[backends.tls]` (relative to `base_dir`) and
    /// the names its `https://` endpoints will be verified against. Errors name the backend,
    /// the key and the file.
    pub fn for_backend(backend: &BackendConfig, base_dir: &Path) -> Result<BackendTls, String> {
        let fail = |e: String| format!("backend {:?}: {e}", backend.name);
        let tls = match &backend.tls {
            Some(config) => BackendTls::load(config, base_dir).map_err(fail)?,
            None => BackendTls::load(&BackendTlsConfig::default(), base_dir).map_err(fail)?,
        };
        if tls.domain.is_none() {
            for endpoint in backend
                .endpoints
                .iter()
                .filter(|e| e.starts_with("https://"))
            {
                let host = endpoint
                    .parse::<http::Uri>()
                    .ok()
                    .and_then(|uri| uri.host().map(str::to_string))
                    .unwrap_or_default();
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if ServerName::try_from(host).is_err() {
                    return Err(fail(format!(
                        "{endpoint:?}: {host:?} cannot be verified as a TLS name; set tls.domain"
                    )));
                }
            }
        }
        Ok(tls)
    }

    fn load(config: &BackendTlsConfig, base_dir: &Path) -> Result<BackendTls, String> {
        let roots = match &config.ca_file {
            Some(path) => {
                let file = PemFile::read("tls.ca_file", &base_dir.join(path))?;
                let mut roots = RootCertStore::empty();
                let (added, _) = roots.add_parsable_certificates(file.certificates()?);
                if added == 0 {
                    return Err(file.fail("no certificate in it can be used as a CA"));
                }
                roots
            }
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots);
        let mut client = match (&config.cert_file, &config.key_file) {
            (Some(cert_path), Some(key_path)) => {
                let cert = PemFile::read("tls.cert_file", &base_dir.join(cert_path))?;
                let key = PemFile::read("tls.key_file", &base_dir.join(key_path))?;
                builder
                    .with_client_auth_cert(cert.certificates()?, key.private_key()?)
                    .map_err(|e| pair_error(&cert, &key, e))?
            }
            // The config check makes these go together.
            _ => builder.with_no_client_auth(),
        };
        client.alpn_protocols = vec![b"h2".to_vec()];
        if let Some(domain) = &config.domain
            && ServerName::try_from(domain.as_str()).is_err()
        {
            return Err(format!(
                "tls.domain: {domain:?} is not a DNS name or an IP address"
            ));
        }
        Ok(BackendTls {
            config: Arc::new(client),
            domain: config.domain.clone(),
        })
    }

    /// The connector for one endpoint and the name it verifies: `domain` if set, else `host`
    /// (the name the endpoint was resolved from), else the endpoint's IP.
    pub fn connector(
        &self,
        host: Option<&str>,
        address: SocketAddr,
    ) -> Result<(TlsConnector, ServerName<'static>), String> {
        let name = match self.domain.as_deref().or(host) {
            Some(name) => ServerName::try_from(name.to_string())
                .map_err(|e| format!("{name:?} cannot be verified as a TLS name: {e}"))?,
            None => ServerName::IpAddress(address.ip().into()),
        };
        Ok((TlsConnector::from(self.config.clone()), name))
    }
}

/// `backend` with the files of its `[backends.tls]` made relative to `base_dir` (the config
/// file's folder), for [`crate::upstream::Backend::new`], which reads them as written.
pub fn rebase(backend: &BackendConfig, base_dir: &Path) -> BackendConfig {
    let mut backend = backend.clone();
    if let Some(tls) = &mut backend.tls {
        for path in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file]
            .into_iter()
            .flatten()
        {
            *path = base_dir.join(&*path);
        }
    }
    backend
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM file read whole, with the config key that named it, for error messages.
struct PemFile {
    key: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl PemFile {
    fn read(key: &'static str, path: &Path) -> Result<PemFile, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("{key}: {}: cannot read: {e}", path.display()))?;
        Ok(PemFile {
            key,
            path: path.to_path_buf(),
            bytes,
        })
    }

    fn fail(&self, reason: impl std::fmt::Display) -> String {
        format!("{}: {}: {reason}", self.key, self.path.display())
    }

    /// Every CERTIFICATE block, in order; at least one.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        let certs = rustls_pemfile::certs(&mut BufReader::new(self.bytes.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.fail(format!("is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(self.fail("has no PEM CERTIFICATE block"));
        }
        Ok(certs)
    }

    /// The first private key block.
    fn private_key(&self) -> Result<PrivateKeyDer<'static>, String> {
        rustls_pemfile::private_key(&mut BufReader::new(self.bytes.as_slice()))
            .map_err(|e| self.fail(format!("is not valid PEM: {e}")))?
            .ok_or_else(|| self.fail("has no PEM private key (PKCS#8, PKCS#1 or SEC1)"))
    }
}

/// Why a certificate and key could not be used together.
fn pair_error(cert: &PemFile, key: &PemFile, error: rustls::Error) -> String {
    match error {
        rustls::Error::InconsistentKeys(_) => key.fail(format!(
            "is not the key of the certificate in {}",
            cert.path.display()
        )),
        rustls::Error::InvalidCertificate(reason) => {
            cert.fail(format!("the certificate cannot be parsed: {reason}"))
        }
        other => key.fail(format!("the key cannot be used: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A fresh temporary directory (removed on drop) to write PEM files into.
    struct Scratch(tempfile::TempDir);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let prefix = format!("gatehouse-tls-{name}-");
            Scratch(tempfile::Builder::new().prefix(&prefix).tempdir().unwrap())
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            std::fs::write(self.path().join(name), text).unwrap();
            PathBuf::from(name)
        }
    }

    /// A self-signed certificate for localhost and its PKCS#8 key, as PEM.
    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server(dir: &Scratch, cert: &str, key: &str) -> Result<Arc<ServerConfig>, String> {
        let tls = ServerTlsConfig {
            cert_file: dir.write("cert.pem", cert),
            key_file: dir.write("key.pem", key),
        };
        server_config(&tls, dir.path())
    }

    #[test]
    fn a_matching_pair_loads_with_alpn() {
        let dir = Scratch::new("ok");
        let (cert, key) = self_signed();
        let config = server(&dir, &cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn loading_errors_name_the_file() {
        let dir = Scratch::new("errors");
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let cases: [(&str, &str, &str, &str); 5] = [
            (
                "not PEM",
                "just some text",
                &key,
                "cert.pem: has no PEM CERTIFICATE block",
            ),
            (
                "key file holds a cert",
                &cert,
                &cert,
                "key.pem: has no PEM private key",
            ),
            ("empty key", &cert, "", "key.pem: has no PEM private key"),
            (
                "another key",
                &cert,
                &other_key,
                "key.pem: is not the key of the certificate in",
            ),
            (
                "broken base64",
                "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
                &key,
                "cert.pem: is not valid PEM",
            ),
        ];
        for (name, cert, key, expected) in cases {
            let error = server(&dir, cert, key).expect_err(name);
            assert!(error.contains(expected), "{name}: {error}");
            assert!(error.starts_with("server.tls."), "{name}: {error}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = Scratch::new("missing");
        let tls = ServerTlsConfig {
            cert_file: "nowhere/cert.pem".into(),
            key_file: "nowhere/key.pem".into(),
        };
        let error = server_config(&tls, dir.path()).unwrap_err();
        assert!(
            error.starts_with("server.tls.cert_file: ")
                && error.contains("nowhere/cert.pem: cannot read"),
            "{error}"
        );
    }

    fn backend(tls: BackendTlsConfig, endpoint: &str) -> BackendConfig {
        let text = format!(
            "[[backends]]\nname = \"users\"\nservices = [\"gatehouse.echo.v1.EchoService\"]\n\
             endpoints = [\"{endpoint}\"]\n"
        );
        let mut config = Config::parse("test.toml", &text).unwrap();
        let mut backend = config.backends.remove(0);
        backend.tls = Some(tls);
        backend
    }

    #[test]
    fn backend_errors_name_the_backend_and_file() {
        let dir = Scratch::new("backend");
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let good = BackendTlsConfig {
            ca_file: Some(dir.write("ca.pem", &cert)),
            cert_file: Some(dir.write("client.pem", &cert)),
            key_file: Some(dir.write("client.key", &key)),
            domain: Some("users.internal".into()),
        };
        let endpoint = "https://10.0.0.1:50051";
        BackendTls::for_backend(&backend(good.clone(), endpoint), dir.path()).unwrap();

        let cases = [
            (
                BackendTlsConfig {
                    ca_file: Some(dir.write("bad-ca.pem", "no PEM here")),
                    ..good.clone()
                },
                "backend \"users\": tls.ca_file: ",
                "bad-ca.pem: has no PEM CERTIFICATE block",
            ),
            (
                BackendTlsConfig {
                    key_file: Some(dir.write("other.key", &other_key)),
                    ..good.clone()
                },
                "backend \"users\": tls.key_file: ",
                "other.key: is not the key of the certificate in",
            ),
            (
                BackendTlsConfig {
                    cert_file: Some("absent.pem".into()),
                    ..good.clone()
                },
                "backend \"users\": tls.cert_file: ",
                "absent.pem: cannot read",
            ),
            (
                BackendTlsConfig {
                    domain: Some("not a name".into()),
                    ..good.clone()
                },
                "backend \"users\": tls.domain: ",
                "is not a DNS name",
            ),
        ];
        for (tls, prefix, rest) in cases {
            let error = BackendTls::for_backend(&backend(tls, endpoint), dir.path()).unwrap_err();
            assert!(error.starts_with(prefix) && error.contains(rest), "{error}");
        }
    }

    #[test]
    fn rebase_joins_relative_paths_only() {
        let tls = BackendTlsConfig {
            ca_file: Some("certs/ca.pem".into()),
            cert_file: Some("/abs/client.pem".into()),
            key_file: None,
            domain: None,
        };
        let rebased = rebase(&backend(tls, "https://10.0.0.1:1"), Path::new("/etc/gw"));
        let tls = rebased.tls.unwrap();
        assert_eq!(tls.ca_file.unwrap(), Path::new("/etc/gw/certs/ca.pem"));
        assert_eq!(tls.cert_file.unwrap(), Path::new("/abs/client.pem"));
    }
}
