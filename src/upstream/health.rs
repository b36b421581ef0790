//! Active health checks: every `interval`, each endpoint of a pool is asked
//! grpc.health.v1.Health/Check on one of its own connections. SERVING within `timeout` passes;
//! anything else (NOT_SERVING, an error status, no answer) fails. `unhealthy_threshold`
//! failures in a row take an endpoint out of the pool, `healthy_threshold` passes bring it back.

use std::sync::{Arc, Weak};

use futures_util::future::join_all;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::pool::{Pool, PoolEndpoint};
use crate::config::HealthConfig;

/// Checks `pool`'s endpoints until the pool is dropped.
pub(crate) fn start(pool: &Arc<Pool>) {
    if let Some(health) = pool.health_config().cloned() {
        tokio::spawn(check_loop(Arc::downgrade(pool), health));
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
    }
}

async fn check(endpoint: &PoolEndpoint, health: &HealthConfig) -> bool {
    let Some(connection) = endpoint.connections.first() else {
        return false;
    };
    let mut client = HealthClient::new(connection.channel.clone());
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: health.service.clone(),
    });
    request.set_timeout(health.timeout);
    match tokio::time::timeout(health.timeout, client.check(request)).await {
        Ok(Ok(response)) => response.get_ref().status() == ServingStatus::Serving,
        _ => false,
    }
}
