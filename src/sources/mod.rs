//! Where a schema comes from at run time: `.proto` files compiled at start-up
//! (`[schema] protos`), descriptor set files (`[schema] descriptor_sets`), and the reflection
//! services of backends with `reflection = true`, merged with the compiled-in protos into the
//! one [`Schema`] the compile step takes. Their services get the dynamic codec
//! (`transcode::dynamic`), made once per binding here.

pub mod protos;
pub mod reflection;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost_reflect::DescriptorPool;

use crate::config::{Config, ConfigError};
use crate::schema::rules;
use crate::schema::{MethodCodec, MethodKind, MethodSpec, RouteSpec, Schema, ServiceSpec};
use crate::transcode::dynamic::DynamicCodec;

/// How long a backend's reflection service may take to describe its services.
pub const REFLECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema `config` describes: the protos compiled into the binary (unless `[schema]
/// compiled_in = false`), `[schema] protos` and `descriptor_sets`, and the reflection services
/// of backends with `reflection = true`. A source that cannot be read, a proto that does not
/// compile (with its file, line and column) and a service two sources define are errors
/// naming the key.
pub async fn load(config: &Config) -> Result<Schema, ConfigError> {
    let compiled = config
        .schema
        .compiled_in
        .then(crate::transcode::compiled::schema);
    let fail = |key: String, reason: String| ConfigError {
        file: config.file.clone(),
        key,
        reason,
    };
    let mut parts: Vec<Schema> = Vec::new();
    let roots: Vec<PathBuf> = config
        .schema
        .protos
        .iter()
        .map(|p| config.base_dir.join(p))
        .collect();
    if !roots.is_empty() {
        // protox works synchronously and may take a while on a large tree: off the runtime's
        // threads, which may be serving.
        let compiled_protos = tokio::task::spawn_blocking(move || protos::compile(&roots))
            .await
            .map_err(|e| fail("schema.protos".into(), e.to_string()))?
            .map_err(|e| fail("schema.protos".into(), e.to_string()))?;
        let part = from_descriptors(Bytes::from(compiled_protos), "[schema] protos", None)
            .map_err(|e| fail("schema.protos".into(), e))?;
        parts.push(part);
    }
    for (i, file) in config.schema.descriptor_sets.iter().enumerate() {
        let key = format!("schema.descriptor_sets[{i}]");
        let path = config.base_dir.join(file);
        let bytes = std::fs::read(&path)
            .map_err(|e| fail(key.clone(), format!("{}: cannot read: {e}", path.display())))?;
        let source = format!("descriptor set {}", file.display());
        let part = from_descriptors(Bytes::from(bytes), &source, None)
            .map_err(|e| fail(key.clone(), format!("{}: {e}", path.display())))?;
        parts.push(part);
    }
    for (i, backend) in config.backends.iter().enumerate() {
        if !backend.reflection {
            continue;
        }
        let key = format!("backends[{i}].reflection");
        let encoded = reflect(config, backend)
            .await
            .map_err(|e| fail(key.clone(), e))?;
        let source = format!("the reflection service of backend {:?}", backend.name);
        let part = from_descriptors(Bytes::from(encoded), &source, Some(&backend.services))
            .map_err(|e| fail(key.clone(), e))?;
        parts.push(part);
    }
    let mut all: Vec<&Schema> = compiled.into_iter().collect();
    all.extend(parts.iter());
    Schema::merge(&all).map_err(|e| fail("schema".into(), e))
}

/// Asks `backend`'s endpoints, through a pool of its own, for the descriptors of its services.
async fn reflect(
    config: &Config,
    backend: &crate::config::BackendConfig,
) -> Result<Vec<u8>, String> {
    let pool = crate::upstream::Backend::new(&crate::tls::rebase(backend, &config.base_dir))?;
    match tokio::time::timeout(
        REFLECTION_TIMEOUT,
        reflection::fetch(pool.channel(), &backend.services),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(format!(
            "its reflection service did not describe {} within {REFLECTION_TIMEOUT:?}",
            backend.services.join(", ")
        )),
    }
}

/// A schema of the services in the encoded `FileDescriptorSet` `encoded` (only those named in
/// `only`, when given), each binding with a dynamic codec.
pub fn from_descriptors(
    encoded: Bytes,
    source: &str,
    only: Option<&[String]>,
) -> Result<Schema, String> {
    let pool =
        DescriptorPool::decode(encoded.clone()).map_err(|e| format!("reading descriptors: {e}"))?;
    if let Some(names) = only {
        for name in names {
            if pool.get_service_by_name(name).is_none() {
                return Err(format!(
                    "service {name} is not among the descriptors it gave"
                ));
            }
        }
    }
    let services: Vec<_> = pool
        .services()
        .filter(|s| only.is_none_or(|names| names.iter().any(|n| n == s.full_name())))
        .collect();
    let rules = rules::collect_services(&pool, services.iter().cloned())?;

    // One codec per (method, body, response_body), shared by the bindings that agree.
    let mut codecs: HashMap<CodecKey, Arc<dyn MethodCodec>> = HashMap::new();
    let mut codec = |method: &prost_reflect::MethodDescriptor,
                     body: Option<&str>,
                     response_body: Option<&str>|
     -> Result<Arc<dyn MethodCodec>, String> {
        let key = (
            method.full_name().to_string(),
            body.map(str::to_string),
            response_body.map(str::to_string),
        );
        if let Some(codec) = codecs.get(&key) {
            return Ok(codec.clone());
        }
        let made: Arc<dyn MethodCodec> = Arc::new(
            DynamicCodec::new(method, body, response_body)
                .map_err(|e| format!("{}: {e}", method.full_name()))?,
        );
        codecs.insert(key, made.clone());
        Ok(made)
    };

    let mut bindings = Vec::with_capacity(rules.len());
    for rule in &rules {
        let method = &rule.method;
        bindings.push(RouteSpec {
            http_method: rule.http_method.clone(),
            template: rule.template_text.clone(),
            service: method.parent_service().full_name().to_string(),
            method: method.name().to_string(),
            grpc_path: grpc_path(method),
            body: rule.body.clone(),
            response_body: rule.response_body.clone(),
            body_field_names: rule.body_field_names(),
            proto_file: method.parent_file().name().to_string(),
            kind: MethodKind::of(method),
            idempotent: rules::is_idempotent(method),
            implicit: rule.implicit,
            codec: codec(method, rule.body.as_deref(), rule.response_body.as_deref())?,
        });
    }
    let mut methods = Vec::new();
    for service in &services {
        for method in service.methods() {
            methods.push(MethodSpec {
                service: service.full_name().to_string(),
                method: method.name().to_string(),
                grpc_path: grpc_path(&method),
                input: method.input().full_name().to_string(),
                output: method.output().full_name().to_string(),
                kind: MethodKind::of(&method),
                idempotent: rules::is_idempotent(&method),
                codec: codec(&method, None, None)?,
            });
        }
    }
    let specs = services.iter().map(|s| ServiceSpec {
        name: s.full_name().to_string(),
        proto_file: s.parent_file().name().to_string(),
        methods: s.methods().map(|m| m.name().to_string()).collect(),
        source: source.to_string(),
    });
    Schema::new(source, bindings, methods, specs, encoded)
}

/// A method's full name, `body` and `response_body`: bindings that agree share a codec.
type CodecKey = (String, Option<String>, Option<String>);

fn grpc_path(method: &prost_reflect::MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoded set of one folder holding `files` (name, text).
    fn compiled(files: &[(&str, &str)]) -> Bytes {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Bytes::from(protos::compile(&[dir.path().to_path_buf()]).unwrap())
    }

    const SHOP: &str = "syntax = \"proto3\";\npackage shop.v1;\nimport \"common/v1/money.proto\";\n\
                        service Shop { rpc Buy(common.v1.Money) returns (common.v1.Money); }\n";
    const TILLS: &str = "syntax = \"proto3\";\npackage tills.v1;\nimport \"common/v1/money.proto\";\n\
                         service Tills { rpc Count(common.v1.Money) returns (common.v1.Money); }\n";

    fn money(fields: &str) -> String {
        format!("syntax = \"proto3\";\npackage common.v1;\nmessage Money {{ {fields} }}\n")
    }

    #[test]
    fn sources_sharing_a_file_merge_and_a_file_that_differs_is_refused_naming_both() {
        let cents = money("int64 cents = 1;");
        let shop = compiled(&[("shop.proto", SHOP), ("common/v1/money.proto", &cents)]);
        let tills = compiled(&[("tills.proto", TILLS), ("common/v1/money.proto", &cents)]);
        let a = from_descriptors(shop.clone(), "descriptor set shop.binpb", None).unwrap();
        let b = from_descriptors(tills, "descriptor set tills.binpb", None).unwrap();
        let merged = Schema::merge(&[&a, &b]).expect("one money.proto, twice");
        assert!(merged.service("shop.v1.Shop").is_some());
        assert!(merged.service("tills.v1.Tills").is_some());
        let files: Vec<_> = merged
            .descriptors()
            .files()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(
            files
                .iter()
                .filter(|f| *f == "common/v1/money.proto")
                .count(),
            1,
            "{files:?}"
        );

        let other = money("int64 cents = 1;\n  string currency = 2;");
        let tills = compiled(&[("tills.proto", TILLS), ("common/v1/money.proto", &other)]);
        let b = from_descriptors(tills, "descriptor set tills.binpb", None).unwrap();
        let error = Schema::merge(&[&a, &b]).err().expect("two money.protos");
        assert!(
            error.contains("common/v1/money.proto differs between"),
            "{error}"
        );
        assert!(
            error.contains("shop.binpb") && error.contains("tills.binpb"),
            "{error}"
        );
    }

    #[test]
    fn only_the_named_services_are_taken_and_a_missing_one_is_named() {
        let cents = money("int64 cents = 1;");
        let both = compiled(&[
            ("shop.proto", SHOP),
            ("tills.proto", TILLS),
            ("common/v1/money.proto", &cents),
        ]);
        let only = ["shop.v1.Shop".to_string()];
        let schema = from_descriptors(both.clone(), "reflection", Some(&only)).unwrap();
        assert!(schema.service("shop.v1.Shop").is_some());
        assert!(schema.service("tills.v1.Tills").is_none());
        assert_eq!(
            schema.bindings().len(),
            1,
            "the implicit POST binding of Buy"
        );
        assert_eq!(schema.bindings()[0].template, "/shop.v1.Shop/Buy");

        let missing = ["shop.v1.Gone".to_string()];
        let error = from_descriptors(both, "reflection", Some(&missing))
            .err()
            .expect("not there");
        assert!(error.contains("shop.v1.Gone"), "{error}");
    }
}
