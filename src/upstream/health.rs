//! Active health checks: every `interval`, each endpoint of a pool is asked
//! grpc.health.v1.Health/Check on one of its own connections. SERVING within `timeout` passes;
//! anything else (NOT_SERVING, an error status, no answer) fails. `unhealthy_threshold`
//! failures in a row take an endpoint out of the pool, `healthy_threshold` passes bring it back.
//! After each round the pool publishes its endpoint states (`gatehouse_pool_endpoints`); a
//! pool without active checks publishes them every `PUBLISH_INTERVAL`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::join_all;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::pool::{Pool, PoolEndpoint};
use crate::config::HealthConfig;

/// How often a pool without active checks publishes its endpoint states, so that ejections
/// that ran out show.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(5);

/// Checks `pool`'s endpoints until the pool is dropped.
pub(crate) fn start(pool: &Arc<Pool>) {
    match pool.health_config().cloned() {
        Some(health) => tokio::spawn(check_loop(Arc::downgrade(pool), health)),
        None => tokio::spawn(publish_loop(Arc::downgrade(pool))),
    };
}

async fn publish_loop(pool: Weak<Pool>) {
    let mut ticks = tokio::time::interval(PUBLISH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.publish_health();
    }
}

async fn check_loop(pool: Weak<Pool>, health: HealthConfig) {
    let mut ticks = tokio::time::interval(health.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let endpoints = pool.endpoints();
        let verdicts = join_all(endpoints.iter().map(|e| check(e, &health))).await;
        for (endpoint, passed) in endpoints.iter().zip(verdicts) {
            pool.record_check(endpoint, passed, &health);
        }
        pool.publish_health();
    }
}

async fn check(endpoint: &PoolEndpoint, health: &HealthConfig) -> bool {
    let Some(connection) = endpoint.connections.first() else {
        return false;
    };
    let mut client = HealthClient::new(connection.http2.clone());
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: health.service.clone(),
    });
    request.set_timeout(health.timeout);
    match tokio::time::timeout(health.timeout, client.check(request)).await {
        Ok(Ok(response)) => response.get_ref().status() == ServingStatus::Serving,
        _ => false,
    }
}
