//! `[admin]`: the operators' listener.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// `[admin] listen` when the config does not set it: loopback only. (`gatehouse demo` takes a
/// free port instead, unless `--admin-listen` names one.)
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// How long in-flight requests may take to finish after SIGTERM.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// `[admin]`: `/metrics`, `/healthz` and `/readyz`; nothing here changes state.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin listener. Default `127.0.0.1:9901`.
    pub listen: SocketAddr,
    /// After SIGTERM, how long in-flight requests and streams may take to finish. Default 20 s.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: DEFAULT_ADMIN_LISTEN
                .parse()
                .expect("DEFAULT_ADMIN_LISTEN is an address"),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}
