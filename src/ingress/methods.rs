//! The gRPC methods a config serves, by request path, each with its pool, deadline and policy.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::schema::{MethodSpec, Schema};
use crate::security::RoutePolicy;
use crate::security::ratelimit::RateLimit;
use crate::upstream::{Backend, PoolChannel};

/// Everything a call of one method needs, decided once.
pub struct GrpcMethod {
    pub spec: &'static MethodSpec,
    /// The backend's pool: each call goes to the endpoint it picks then.
    pub channel: PoolChannel,
    /// Deadline when the client sends no `grpc-timeout`: the last `[[routes]]` entry naming the
    /// method that sets one, then the backend's, then `[server] timeout` (as REST routes).
    pub timeout: Duration,
    /// Credential, roles and rate limit of the method (`RoutePolicy::for_method`).
    pub policy: RoutePolicy,
}

/// A request path that names no served method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownMethod {
    Service(String),
    Method { service: String, method: String },
}

impl fmt::Display for UnknownMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownMethod::Service(service) => write!(f, "unknown service {service}"),
            UnknownMethod::Method { service, method } => {
                write!(f, "unknown method {method} for service {service}")
            }
        }
    }
}

/// The served methods, by gRPC request path (`/pkg.Service/Method`).
pub struct MethodTable {
    methods: HashMap<&'static str, GrpcMethod>,
    services: HashSet<&'static str>,
}

impl MethodTable {
    /// Every compiled method of the services the config gives a backend. `limits[i]` is the
    /// rate limit of `[[routes]]` entry `i`; `backend(name)` the pool of that entry.
    pub fn build(
        config: &Config,
        schema: &Schema,
        limits: &[Option<Arc<RateLimit>>],
        backend: impl Fn(&str) -> Option<Backend>,
    ) -> MethodTable {
        let mut methods = HashMap::new();
        let mut services = HashSet::new();
        for &spec in schema.methods() {
            let Some(backend_config) = config.backend_for(spec.service) else {
                continue;
            };
            let Some(backend) = backend(&backend_config.name) else {
                continue;
            };
            let timeout = config
                .routes
                .iter()
                .rev()
                .filter(|r| r.selects_method(spec.service, spec.method))
                .find_map(|r| r.timeout)
                .or(backend_config.timeout)
                .unwrap_or(config.server.timeout);
            services.insert(spec.service);
            methods.insert(
                spec.grpc_path,
                GrpcMethod {
                    spec,
                    channel: backend.channel(),
                    timeout,
                    policy: RoutePolicy::for_method(config, limits, spec.service, spec.method),
                },
            );
        }
        MethodTable { methods, services }
    }

    /// The method at `path`, or which part of it is unknown.
    pub fn find(&self, path: &str) -> Result<&GrpcMethod, UnknownMethod> {
        if let Some(method) = self.methods.get(path) {
            return Ok(method);
        }
        let (service, method) = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .unwrap_or((path, ""));
        if self.services.contains(service) {
            Err(UnknownMethod::Method {
                service: service.to_string(),
                method: method.to_string(),
            })
        } else {
            Err(UnknownMethod::Service(service.to_string()))
        }
    }

    /// Number of served methods.
    pub fn len(&self) -> usize {
        self.methods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }
}
