//! The schema: every service, method and HTTP binding the gateway could serve, with their
//! codecs and descriptors, as one value.
//!
//! A [`Schema`] is made from a source (the tables build.rs compiled from `proto/`, see
//! `transcode::compiled`, or descriptors read at run time, see `crate::sources`), several are
//! merged into one, and that is handed to the compile step with a config. It owns what it
//! holds, so nothing above it reaches for a global table. Which of its services are served is
//! the config's business.

mod codec;
pub mod rules;
mod spec;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use prost_reflect::DescriptorPool;

pub use codec::{MethodCodec, RequestBody, RequestParts};
pub use spec::{MethodKind, MethodSpec, RouteSpec, ServiceSpec};

/// Services, methods, bindings and descriptors: what a config can choose to serve. Cloning
/// shares what it holds.
#[derive(Clone)]
pub struct Schema {
    bindings: Vec<Arc<RouteSpec>>,
    methods: Vec<Arc<MethodSpec>>,
    services: Vec<Arc<ServiceSpec>>,
    descriptors: DescriptorPool,
    /// The encoded `FileDescriptorSet` of `descriptors`, as reflection serves it (custom
    /// options such as `google.api.http` included).
    encoded_descriptors: bytes::Bytes,
    /// Where it came from, for messages (see [`ServiceSpec::source`]).
    source: String,
}

impl Schema {
    /// A schema of these bindings, methods and services from `source`, described by the
    /// encoded `FileDescriptorSet` `encoded`; fails when the set does not decode.
    pub fn new(
        source: &str,
        bindings: impl IntoIterator<Item = RouteSpec>,
        methods: impl IntoIterator<Item = MethodSpec>,
        services: impl IntoIterator<Item = ServiceSpec>,
        encoded: bytes::Bytes,
    ) -> Result<Schema, String> {
        let descriptors = DescriptorPool::decode(encoded.clone())
            .map_err(|e| format!("{source}: reading descriptors: {e}"))?;
        Ok(Schema {
            bindings: bindings.into_iter().map(Arc::new).collect(),
            methods: methods.into_iter().map(Arc::new).collect(),
            services: services.into_iter().map(Arc::new).collect(),
            descriptors,
            encoded_descriptors: encoded,
            source: source.to_string(),
        })
    }

    /// One schema of the services of every part. A service two parts define is refused, naming
    /// both; so is a file two parts hold with different contents, except the shared
    /// `google/...` files (well-known types, google.api, google.rpc), of which the first is kept.
    pub fn merge(parts: &[&Schema]) -> Result<Schema, String> {
        if let [only] = parts {
            return Ok((*only).clone());
        }
        let mut owner: HashMap<&str, &ServiceSpec> = HashMap::new();
        for part in parts {
            for service in &part.services {
                if let Some(first) = owner.insert(&service.name, service) {
                    return Err(format!(
                        "service {} is defined twice: {} ({}) and {} ({})",
                        service.name,
                        first.source,
                        first.proto_file,
                        service.source,
                        service.proto_file
                    ));
                }
            }
        }
        let mut files: Vec<Bytes> = Vec::new();
        let mut seen: HashMap<String, (Bytes, &str)> = HashMap::new();
        for part in parts {
            let set = RawFileSet::decode(part.encoded_descriptors.clone())
                .map_err(|e| format!("{}: reading descriptors: {e}", part.source))?;
            for file in set.file {
                let name = RawFileName::decode(file.clone())
                    .map_err(|e| format!("{}: reading descriptors: {e}", part.source))?
                    .name;
                match seen.get(&name) {
                    None => {
                        seen.insert(name, (file.clone(), &part.source));
                        files.push(file);
                    }
                    Some((kept, _)) if *kept == file || name.starts_with("google/") => {}
                    Some((_, first)) => {
                        return Err(format!(
                            "{name} differs between {first} and {}: give each file one definition",
                            part.source
                        ));
                    }
                }
            }
        }
        let source = parts
            .iter()
            .map(|p| p.source.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let encoded = Bytes::from(RawFileSet { file: files }.encode_to_vec());
        let descriptors = DescriptorPool::decode(encoded.clone())
            .map_err(|e| format!("the descriptors of {source} do not fit together: {e}"))?;
        Ok(Schema {
            bindings: parts.iter().flat_map(|p| p.bindings.clone()).collect(),
            methods: parts.iter().flat_map(|p| p.methods.clone()).collect(),
            services: parts.iter().flat_map(|p| p.services.clone()).collect(),
            descriptors,
            encoded_descriptors: encoded,
            source,
        })
    }

    /// Every HTTP binding, in proto order.
    pub fn bindings(&self) -> &[Arc<RouteSpec>] {
        &self.bindings
    }

    /// Every method, in proto order.
    pub fn methods(&self) -> &[Arc<MethodSpec>] {
        &self.methods
    }

    /// Every service.
    pub fn services(&self) -> &[Arc<ServiceSpec>] {
        &self.services
    }

    /// The method `pkg.Service/Method`.
    pub fn method(&self, qualified: &str) -> Option<&Arc<MethodSpec>> {
        let (service, method) = qualified.split_once('/')?;
        self.methods
            .iter()
            .find(|m| m.service == service && m.method == method)
    }

    /// The service with this full name.
    pub fn service(&self, name: &str) -> Option<&Arc<ServiceSpec>> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The descriptors of every file, with their comments.
    pub fn descriptors(&self) -> &DescriptorPool {
        &self.descriptors
    }

    /// The descriptors as an encoded `FileDescriptorSet`.
    pub fn encoded_descriptors(&self) -> &bytes::Bytes {
        &self.encoded_descriptors
    }

    /// Where it came from: its sources, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A `FileDescriptorSet` with each file left encoded, so that merging sets keeps every byte
/// of them (custom options included).
#[derive(Clone, PartialEq, prost::Message)]
struct RawFileSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file: Vec<Bytes>,
}

/// The name of an encoded `FileDescriptorProto` (field 1); the rest is skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct RawFileName {
    #[prost(string, tag = "1")]
    name: String,
}
