//! A backend's pool: its endpoints, each with a few HTTP/2 connections, and the choice of one
//! connection for each call.
//!
//! The choice is power-of-two-choices on calls in flight: two eligible endpoints are drawn at
//! random and the one with fewer calls in flight wins; within it, the connection with fewest
//! calls in flight. The endpoint list is an `ArcSwap` snapshot and every counter is an atomic,
//! so choosing takes no lock; discovery replaces the snapshot when endpoints change.
//!
//! An endpoint is eligible while it is healthy (active checks, when configured), not ejected
//! (passive outlier detection) and not backing off after a failed connect. When every healthy
//! endpoint is ejected, ejection is ignored (the panic threshold: outlier detection never
//! empties a pool); when no endpoint is healthy and reachable, the call fails fast.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::connection::{Connection, Dial};

use crate::config::{BackendConfig, HealthConfig, OutlierConfig};
use crate::telemetry::metrics::{self, EndpointLabels, EndpointStates, InFlight, SharedString};
use crate::tls::BackendTls;

/// First wait before connecting again to an endpoint whose connect failed; it doubles with
/// each failure in a row up to `RECONNECT_BACKOFF_MAX`.
pub const RECONNECT_BACKOFF_BASE: Duration = Duration::from_millis(100);
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One address to call: an IP and port, the `host:port` it was resolved from, if any (sent
/// as the HTTP/2 `:authority`, and its host is the name TLS verifies), and whether it is
/// reached over TLS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub address: SocketAddr,
    pub authority: Option<String>,
    pub tls: bool,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.authority {
            Some(name) => write!(f, "{name} ({})", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

/// One HTTP/2 connection (made on first use, and again when it has ended).
pub(crate) struct ConnectionSlot {
    pub(crate) http2: Connection,
    in_flight: AtomicUsize,
}

/// One endpoint of a pool and what the pool knows about it.
pub struct PoolEndpoint {
    pub target: Target,
    /// Its backend and address as metric labels.
    pub(crate) labels: EndpointLabels,
    pub(crate) connections: Box<[ConnectionSlot]>,
    in_flight: AtomicUsize,
    /// Failures in a row (transport failures and UNAVAILABLE answers).
    failures: AtomicU32,
    /// Times ejected; each ejection lasts longer.
    ejections: AtomicU32,
    /// Pool clock (ms) until which the endpoint is ejected; 0 when it is not.
    ejected_until: AtomicU64,
    /// Pool clock (ms) before which no new connect is attempted.
    backoff_until: AtomicU64,
    /// Connect failures in a row, for the backoff.
    connect_failures: AtomicU32,
    /// The active health check's verdict (true when there are no active checks).
    healthy: AtomicBool,
    checks_passed: AtomicU32,
    checks_failed: AtomicU32,
    /// Calls answered by this endpoint (any status), for tests and metrics.
    answered: AtomicU64,
}

impl PoolEndpoint {
    /// Fails only when the endpoint's TLS name cannot be verified, which `BackendTls`
    /// checked at start-up.
    fn new(
        target: Target,
        config: &BackendConfig,
        tls: &BackendTls,
        backend: &SharedString,
    ) -> Result<PoolEndpoint, String> {
        let authority: Option<http::uri::Authority> = match &target.authority {
            Some(name) => name.parse().ok(),
            None => None,
        };
        let authority = match authority {
            Some(authority) => authority,
            None => target
                .address
                .to_string()
                .parse()
                .map_err(|e| format!("{}: {e}", target.address))?,
        };
        let tls = match target.tls {
            // A resolved endpoint is verified against the name it was resolved from, not
            // the IP it connects to.
            true => {
                let host = target.authority.as_ref().map(|_| authority.host());
                Some(tls.connector(host, target.address)?)
            }
            false => None,
        };
        let scheme = match target.tls {
            true => http::uri::Scheme::HTTPS,
            false => http::uri::Scheme::HTTP,
        };
        let connections = (0..config.connections_per_endpoint)
            .map(|_| ConnectionSlot {
                http2: Connection::lazy(Dial {
                    address: target.address,
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                    connect_timeout: config.connect_timeout,
                    tls: tls.clone(),
                }),
                in_flight: AtomicUsize::new(0),
            })
            .collect();
        Ok(PoolEndpoint {
            labels: EndpointLabels::new(backend, target.address),
            target,
            connections,
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            backoff_until: AtomicU64::new(0),
            connect_failures: AtomicU32::new(0),
            healthy: AtomicBool::new(true),
            checks_passed: AtomicU32::new(0),
            checks_failed: AtomicU32::new(0),
            answered: AtomicU64::new(0),
        })
    }

    /// Calls in flight on this endpoint now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Relaxed)
    }

    /// Whether the last active checks found it healthy.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Relaxed)
    }

    /// Calls this endpoint answered.
    pub fn answered(&self) -> u64 {
        self.answered.load(Relaxed)
    }
}

/// How a call on a leased connection ended, as far as the endpoint's health goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointReport {
    /// The endpoint answered (any status but UNAVAILABLE).
    Answered,
    /// The connection could not be made; nothing was sent.
    ConnectFailed,
    /// The request was refused before processing (REFUSED_STREAM): it was not served, but the
    /// endpoint is up.
    Refused,
    /// The connection failed while the call was on it, or the endpoint answered UNAVAILABLE.
    Failed,
    /// The call ended without a verdict on the endpoint (deadline, client gone).
    Abandoned,
}

/// Why no connection could be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoEndpoint {
    /// When one may be available again.
    pub retry_after: Duration,
}

/// A chosen connection; counts as in flight until dropped.
pub(crate) struct Lease {
    pub(crate) endpoint: Arc<PoolEndpoint>,
    connection: usize,
    _in_flight: InFlight,
}

impl Lease {
    pub(crate) fn connection(&self) -> &Connection {
        &self.endpoint.connections[self.connection].http2
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.endpoint.in_flight.fetch_sub(1, Relaxed);
        self.endpoint.connections[self.connection]
            .in_flight
            .fetch_sub(1, Relaxed);
    }
}

/// A backend's endpoints.
pub struct Pool {
    name: String,
    /// `name` as a metric label.
    label: SharedString,
    config: BackendConfig,
    /// How `https://` endpoints are reached.
    tls: BackendTls,
    endpoints: ArcSwap<Vec<Arc<PoolEndpoint>>>,
    /// Zero of the pool clock.
    epoch: Instant,
}

impl Pool {
    /// An empty pool; `set_targets` fills it. Reads the `[backends.tls]` files (paths as
    /// written: relative to the working directory) and fails, naming the backend and file,
    /// when one cannot be used.
    pub fn new(config: &BackendConfig) -> Result<Pool, String> {
        Ok(Pool {
            name: config.name.clone(),
            label: metrics::shared(config.name.as_str()),
            config: config.clone(),
            tls: BackendTls::for_backend(config, Path::new(""))?,
            endpoints: ArcSwap::from_pointee(Vec::new()),
            epoch: Instant::now(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn health_config(&self) -> Option<&HealthConfig> {
        self.config.health.as_ref()
    }

    /// The endpoints now in the pool.
    pub fn endpoints(&self) -> Arc<Vec<Arc<PoolEndpoint>>> {
        self.endpoints.load_full()
    }

    /// Whether `endpoint` takes calls now: healthy, not ejected and not backing off after a
    /// failed connect. Lives on the pool because ejection and backoff are kept on its clock.
    pub fn is_available(&self, endpoint: &PoolEndpoint) -> bool {
        let now = self.now();
        endpoint.healthy.load(Relaxed)
            && endpoint.ejected_until.load(Relaxed) <= now
            && endpoint.backoff_until.load(Relaxed) <= now
    }

    /// Replaces the endpoint set. Endpoints that stay keep their connections and state; new
    /// ones connect on first use; calls in flight on removed ones finish.
    pub fn set_targets(&self, targets: &[Target]) {
        let current = self.endpoints.load();
        let unchanged = current.len() == targets.len()
            && current.iter().zip(targets).all(|(e, t)| e.target == *t);
        if unchanged {
            return;
        }
        let next: Vec<Arc<PoolEndpoint>> = targets
            .iter()
            .filter_map(|target| {
                if let Some(kept) = current.iter().find(|e| e.target == *target) {
                    return Some(kept.clone());
                }
                match PoolEndpoint::new(target.clone(), &self.config, &self.tls, &self.label) {
                    Ok(endpoint) => {
                        tracing::info!(backend = %self.name, endpoint = %target, "endpoint added");
                        Some(Arc::new(endpoint))
                    }
                    Err(error) => {
                        tracing::error!(
                            backend = %self.name,
                            endpoint = %target,
                            %error,
                            "endpoint left out"
                        );
                        None
                    }
                }
            })
            .collect();
        for gone in current.iter().filter(|e| !targets.contains(&e.target)) {
            tracing::info!(backend = %self.name, endpoint = %gone.target, "endpoint removed");
        }
        self.endpoints.store(Arc::new(next));
        self.publish_health();
    }

    /// Sets `gatehouse_pool_endpoints` for this backend from the endpoints' state now. Called
    /// when endpoints change, after each round of health checks (or every few seconds without
    /// them) and on ejections, so an ejection that ran out shows within that period.
    pub fn publish_health(&self) {
        let now = self.now();
        let mut states = EndpointStates::default();
        for endpoint in self.endpoints.load().iter() {
            if !endpoint.healthy.load(Relaxed) {
                states.unhealthy += 1;
            } else if endpoint.ejected_until.load(Relaxed) > now {
                states.ejected += 1;
            } else {
                states.healthy += 1;
            }
        }
        metrics::set_pool_endpoints(&self.label, states);
    }

    /// Milliseconds on the pool clock; never 0, which means "not set".
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    fn until(&self, after: Duration) -> u64 {
        self.now()
            .saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
    }

    /// Chooses a connection for one attempt, avoiding the endpoints in `tried` when another
    /// is eligible.
    pub(crate) fn pick(&self, tried: &[Arc<PoolEndpoint>]) -> Result<Lease, NoEndpoint> {
        let endpoints = self.endpoints.load();
        let now = self.now();
        let usable =
            |e: &PoolEndpoint| e.healthy.load(Relaxed) && e.backoff_until.load(Relaxed) <= now;
        let untried = |e: &Arc<PoolEndpoint>| !tried.iter().any(|t| Arc::ptr_eq(t, e));
        let not_ejected = |e: &PoolEndpoint| e.ejected_until.load(Relaxed) <= now;
        // Most to least preferred; the first rule that leaves a candidate decides.
        let rules: [&Eligible<'_>; 3] = [
            &|e| usable(e) && not_ejected(e) && untried(e),
            &|e| usable(e) && untried(e),
            &|e| usable(e),
        ];
        for rule in rules {
            if let Some(endpoint) = power_of_two(&endpoints, rule) {
                return Ok(self.lease(endpoint.clone()));
            }
        }
        Err(NoEndpoint {
            retry_after: self.next_available(&endpoints, now),
        })
    }

    fn lease(&self, endpoint: Arc<PoolEndpoint>) -> Lease {
        let connections = &endpoint.connections;
        let start = fastrand::usize(..connections.len());
        let connection = (0..connections.len())
            .map(|i| (start + i) % connections.len())
            .min_by_key(|&i| connections[i].in_flight.load(Relaxed))
            .unwrap_or(0);
        endpoint.in_flight.fetch_add(1, Relaxed);
        connections[connection].in_flight.fetch_add(1, Relaxed);
        Lease {
            _in_flight: InFlight::upstream(&endpoint.labels.backend),
            endpoint,
            connection,
        }
    }

    /// How long until some endpoint may take calls again.
    fn next_available(&self, endpoints: &[Arc<PoolEndpoint>], now: u64) -> Duration {
        let soonest = endpoints
            .iter()
            .filter(|e| e.healthy.load(Relaxed))
            .map(|e| e.backoff_until.load(Relaxed))
            .min();
        match soonest {
            Some(at) => Duration::from_millis(at.saturating_sub(now)),
            // Nothing healthy (or nothing resolved): the next health check or resolution.
            None => self
                .config
                .health
                .as_ref()
                .map_or(self.config.dns_refresh, |h| h.interval),
        }
    }

    /// Records how a call on `lease` ended.
    pub(crate) fn report(&self, lease: &Lease, outcome: EndpointReport) {
        let endpoint = &lease.endpoint;
        match outcome {
            EndpointReport::Answered | EndpointReport::Refused => {
                endpoint.answered.fetch_add(1, Relaxed);
                reset(&endpoint.failures);
                reset(&endpoint.connect_failures);
                if outcome == EndpointReport::Answered {
                    self.forget_old_ejections(endpoint);
                }
            }
            EndpointReport::ConnectFailed => {
                let n = endpoint.connect_failures.fetch_add(1, Relaxed) + 1;
                endpoint
                    .backoff_until
                    .store(self.until(reconnect_backoff(n)), Relaxed);
                self.count_failure(endpoint);
            }
            EndpointReport::Failed => self.count_failure(endpoint),
            EndpointReport::Abandoned => {}
        }
    }

    fn count_failure(&self, endpoint: &Arc<PoolEndpoint>) {
        let outlier = &self.config.outlier;
        let failures = endpoint.failures.fetch_add(1, Relaxed) + 1;
        if outlier.consecutive_failures == 0 || failures < outlier.consecutive_failures {
            return;
        }
        self.eject(endpoint, outlier);
    }

    /// Ejects `endpoint` unless it already is, or the pool's ejection cap is reached.
    fn eject(&self, endpoint: &Arc<PoolEndpoint>, outlier: &OutlierConfig) {
        let now = self.now();
        if endpoint.ejected_until.load(Relaxed) > now {
            return;
        }
        let endpoints = self.endpoints.load();
        let total = endpoints.len();
        let ejected = endpoints
            .iter()
            .filter(|e| e.ejected_until.load(Relaxed) > now)
            .count();
        let cap = (total * outlier.max_ejected_percent as usize / 100)
            .max(1)
            .min(total.saturating_sub(1));
        if ejected >= cap {
            return;
        }
        let times = endpoint.ejections.fetch_add(1, Relaxed) + 1;
        let length = outlier
            .base_ejection_time
            .saturating_mul(times)
            .min(outlier.max_ejection_time);
        endpoint.ejected_until.store(self.until(length), Relaxed);
        endpoint.failures.store(0, Relaxed);
        tracing::warn!(
            backend = %self.name,
            endpoint = %endpoint.target,
            ejection = times,
            seconds = length.as_secs_f64(),
            "endpoint ejected after failures in a row"
        );
        metrics::record_ejection(&endpoint.labels);
        self.publish_health();
    }

    /// An endpoint that has worked for the longest ejection time since its last ejection
    /// starts again from the base ejection time.
    fn forget_old_ejections(&self, endpoint: &PoolEndpoint) {
        let until = endpoint.ejected_until.load(Relaxed);
        if until == 0 {
            return;
        }
        let quiet =
            u64::try_from(self.config.outlier.max_ejection_time.as_millis()).unwrap_or(u64::MAX);
        if self.now() > until.saturating_add(quiet) {
            endpoint.ejections.store(0, Relaxed);
            endpoint.ejected_until.store(0, Relaxed);
        }
    }

    /// Records one active health check.
    pub(crate) fn record_check(
        &self,
        endpoint: &PoolEndpoint,
        passed: bool,
        health: &HealthConfig,
    ) {
        if passed {
            endpoint.checks_failed.store(0, Relaxed);
            let passed = endpoint.checks_passed.fetch_add(1, Relaxed) + 1;
            // A passed check means the endpoint accepts connections and serves: end its
            // ejection and backoff now rather than waiting them out.
            endpoint.ejected_until.store(0, Relaxed);
            endpoint.backoff_until.store(0, Relaxed);
            reset(&endpoint.connect_failures);
            if !endpoint.healthy.load(Relaxed) && passed >= health.healthy_threshold {
                endpoint.healthy.store(true, Relaxed);
                tracing::info!(backend = %self.name, endpoint = %endpoint.target, "endpoint healthy");
            }
        } else {
            endpoint.checks_passed.store(0, Relaxed);
            let failed = endpoint.checks_failed.fetch_add(1, Relaxed) + 1;
            if endpoint.healthy.load(Relaxed) && failed >= health.unhealthy_threshold {
                endpoint.healthy.store(false, Relaxed);
                tracing::warn!(backend = %self.name, endpoint = %endpoint.target, "endpoint unhealthy");
            }
        }
    }
}

/// Stores 0 unless it already is (saves a write to a shared cache line on the hot path).
fn reset(counter: &AtomicU32) {
    if counter.load(Relaxed) != 0 {
        counter.store(0, Relaxed);
    }
}

/// The wait after the `n`th connect failure in a row: doubling from the base, capped, with
/// ±20 % jitter so a pool's connections do not retry in step.
fn reconnect_backoff(n: u32) -> Duration {
    let doubled = RECONNECT_BACKOFF_BASE.saturating_mul(1 << n.saturating_sub(1).min(16));
    doubled
        .min(RECONNECT_BACKOFF_MAX)
        .mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// Whether an endpoint may take the next attempt.
type Eligible<'a> = dyn Fn(&Arc<PoolEndpoint>) -> bool + 'a;

/// Power of two choices among the endpoints `eligible` accepts: two drawn at random, the one
/// with fewer calls in flight wins. Two passes over the list, no allocation.
fn power_of_two<'a>(
    endpoints: &'a [Arc<PoolEndpoint>],
    eligible: &Eligible<'_>,
) -> Option<&'a Arc<PoolEndpoint>> {
    let count = endpoints.iter().filter(|e| eligible(e)).count();
    let nth = |n: usize| endpoints.iter().filter(|e| eligible(e)).nth(n);
    match count {
        0 => None,
        1 => nth(0),
        _ => {
            let first = fastrand::usize(..count);
            let second = (first + 1 + fastrand::usize(..count - 1)) % count;
            let (a, b) = (nth(first)?, nth(second)?);
            Some(if b.in_flight() < a.in_flight() { b } else { a })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        for n in 1..40 {
            let wait = reconnect_backoff(n);
            let nominal = RECONNECT_BACKOFF_BASE
                .saturating_mul(1 << (n - 1).min(16))
                .min(RECONNECT_BACKOFF_MAX);
            assert!(
                wait >= nominal.mul_f64(0.8) && wait <= nominal.mul_f64(1.2),
                "{n}: {wait:?}"
            );
        }
    }
}
