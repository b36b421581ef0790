//! gatehouse: a REST/JSON gateway in front of gRPC services.
//!
//! The protos under `proto/` are the source of truth: build.rs compiles them into the
//! generated types and clients in [`proto`], and into the tables that make up the compiled-in
//! [`schema::Schema`] (`transcode::compiled`). `gateway::compile` turns a [`config::Config`] and
//! a schema into a [`gateway::Gateway`], which serves the routes of the services the config
//! names, transcoding each request into a gRPC call to the service's backend.
//!
//! Internal services can call the backends directly with the generated clients, for example
//! `gatehouse::proto::users::v1::user_service_client::UserServiceClient`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod aggregate;
pub mod batched;
pub mod clientgen;
pub mod config;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod grpc;
pub mod http_rule;
pub mod ingress;
pub mod listener;
pub mod log_budget;
pub mod media_type;
pub mod openapi;
pub mod reload;
pub mod rest;
pub mod schema;
pub mod security;
pub mod sources;
pub mod stack;
pub mod telemetry;
pub mod tls;
pub mod transcode;
pub mod upstream;
pub mod wkt;

/// Generated code: one module per proto package (`proto::users::v1`, ...), with the messages
/// (prost), their proto3 JSON (pbjson), and tonic clients and servers.
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/gatehouse_proto.rs"));
}

/// The encoded `FileDescriptorSet` of every compiled proto (for reflection and tooling).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
