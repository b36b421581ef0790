//! Where a pool's endpoints come from: `http://<ip>:<port>` endpoints are used as written;
//! `http://<hostname>:<port>` endpoints are resolved, every address becomes an endpoint, and
//! the name is resolved again every `dns_refresh` (a Kubernetes headless Service or several A
//! records spread calls over every address, and follow them as they change). `https://`
//! endpoints are the same, reached over TLS; a resolved one keeps its name for the TLS check.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::pool::{Pool, Target};

/// Resolves `host` and `port` to addresses. The system resolver by default; tests give their
/// own to change the answer while the pool runs.
pub type Resolver = Arc<
    dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The operating system's resolver (getaddrinfo: /etc/hosts, then DNS).
pub fn system_resolver() -> Resolver {
    Arc::new(|host, port| {
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), port)).await?;
            Ok(addresses.collect())
        })
    })
}

/// One configured endpoint; `tls` when it is `https://`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Address { address: SocketAddr, tls: bool },
    Name { host: String, port: u16, tls: bool },
}

impl Source {
    /// Reads an `http://host:port` or `https://host:port` endpoint (the config has checked
    /// its shape).
    pub fn parse(endpoint: &str) -> Result<Source, String> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("{endpoint:?} is not a URI: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{endpoint:?} must start with http:// or https://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{endpoint:?} has no host"))?;
        let port = authority
            .port_u16()
            .ok_or_else(|| format!("{endpoint:?} has no port"))?;
        let host = authority.host();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        Ok(match literal.parse::<IpAddr>() {
            Ok(ip) => Source::Address {
                address: SocketAddr::new(ip, port),
                tls,
            },
            Err(_) => Source::Name {
                host: host.to_string(),
                port,
                tls,
            },
        })
    }
}

/// Keeps `pool`'s endpoints equal to what `sources` resolve to. Fills the pool once before
/// returning when every source is an address; otherwise resolves in a task that ends with the
/// pool. `resolved` turns true after the first resolution.
pub(crate) fn start(
    pool: &Arc<Pool>,
    sources: Vec<Source>,
    resolver: Resolver,
    refresh: Duration,
) -> watch::Receiver<bool> {
    let names = sources.iter().any(|s| matches!(s, Source::Name { .. }));
    if !names {
        let targets: Vec<Target> = sources
            .iter()
            .filter_map(|s| match s {
                Source::Address { address, tls } => Some(Target {
                    address: *address,
                    authority: None,
                    tls: *tls,
                }),
                Source::Name { .. } => None,
            })
            .collect();
        pool.set_targets(&targets);
        return watch::channel(true).1;
    }
    let (done, resolved) = watch::channel(false);
    tokio::spawn(refresh_loop(
        Arc::downgrade(pool),
        sources,
        resolver,
        refresh,
        done,
    ));
    resolved
}

async fn refresh_loop(
    pool: Weak<Pool>,
    sources: Vec<Source>,
    resolver: Resolver,
    refresh: Duration,
    done: watch::Sender<bool>,
) {
    // The last good answer per name: a failed lookup keeps it rather than emptying the pool.
    let mut last_good: HashMap<(String, u16), Vec<SocketAddr>> = HashMap::new();
    loop {
        let mut targets = Vec::new();
        for source in &sources {
            match source {
                Source::Address { address, tls } => targets.push(Target {
                    address: *address,
                    authority: None,
                    tls: *tls,
                }),
                Source::Name { host, port, tls } => {
                    let key = (host.clone(), *port);
                    match resolver(host.clone(), *port).await {
                        Ok(mut addresses) if !addresses.is_empty() => {
                            addresses.sort();
                            addresses.dedup();
                            last_good.insert(key.clone(), addresses);
                        }
                        Ok(_) => tracing::warn!(%host, "DNS answered no address; keeping the last"),
                        Err(error) => {
                            tracing::warn!(%host, %error, "DNS lookup failed; keeping the last answer");
                        }
                    }
                    let authority = format!("{host}:{port}");
                    for address in last_good.get(&key).into_iter().flatten() {
                        targets.push(Target {
                            address: *address,
                            authority: Some(authority.clone()),
                            tls: *tls,
                        });
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        targets.retain(|t| seen.insert(t.clone()));
        let Some(pool) = pool.upgrade() else { return };
        pool.set_targets(&targets);
        drop(pool);
        done.send_replace(true);
        tokio::time::sleep(refresh).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert_eq!(
            Source::parse("http://127.0.0.1:50051").unwrap(),
            Source::Address {
                address: "127.0.0.1:50051".parse().unwrap(),
                tls: false
            }
        );
        assert_eq!(
            Source::parse("http://[::1]:7").unwrap(),
            Source::Address {
                address: "[::1]:7".parse().unwrap(),
                tls: false
            }
        );
        assert_eq!(
            Source::parse("http://users.internal:50051").unwrap(),
            Source::Name {
                host: "users.internal".into(),
                port: 50051,
                tls: false
            }
        );
    }

    #[test]
    fn https_keeps_the_scheme() {
        assert_eq!(
            Source::parse("https://10.1.2.3:443").unwrap(),
            Source::Address {
                address: "10.1.2.3:443".parse().unwrap(),
                tls: true
            }
        );
        assert_eq!(
            Source::parse("https://users.internal:50051").unwrap(),
            Source::Name {
                host: "users.internal".into(),
                port: 50051,
                tls: true
            }
        );
        assert!(Source::parse("ftp://users.internal:21").is_err());
    }
}
