//! The gRPC methods a config serves, by request path, each with its pool, deadline and policy.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::schema::MethodSpec;
use crate::security::RoutePolicy;
use crate::security::identity_fields::IdentityFields;
use crate::telemetry::metrics::SharedString;
use crate::upstream::PoolChannel;

/// Everything a call of one method needs, decided once.
pub struct GrpcMethod {
    pub spec: Arc<MethodSpec>,
    /// The request path, as the `route` label of metrics and logs.
    pub label: SharedString,
    /// The backend's pool: each call goes to the endpoint it picks then.
    pub channel: PoolChannel,
    /// Deadline when the client sends no `grpc-timeout` (the method's settings, as for REST).
    pub timeout: Duration,
    /// Credential, roles and rate limit of the method.
    pub policy: RoutePolicy,
    /// The request fields the caller's credential sets; the request message is then read
    /// whole (at most `max_message` bytes) and checked before the backend is called. A
    /// client-streaming method with pins is refused (UNIMPLEMENTED): REST pins its messages.
    pub identity_fields: Option<Arc<IdentityFields>>,
    pub max_message: usize,
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
    methods: HashMap<String, GrpcMethod>,
    services: HashSet<String>,
}

impl MethodTable {
    /// The table of `methods`, by request path.
    pub fn new(methods: impl IntoIterator<Item = GrpcMethod>) -> MethodTable {
        let mut table = MethodTable {
            methods: HashMap::new(),
            services: HashSet::new(),
        };
        for method in methods {
            table.services.insert(method.spec.service.clone());
            table.methods.insert(method.spec.grpc_path.clone(), method);
        }
        table
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
