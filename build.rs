//! Build script: every `.proto` under `proto/` becomes Rust code, with no system `protoc`.
//!
//! 1. protox compiles the files into one encoded `FileDescriptorSet` (the bytes keep custom
//!    options such as `google.api.http`, which `prost_types` would drop).
//! 2. tonic-prost-build generates the messages, clients and servers.
//! 3. pbjson-build generates the proto3 JSON serde code; two rewrites then bring its output to
//!    the proto3 JSON spec (`codegen::open_enums`, `codegen::proto_floats`).
//! 4. `src/codegen` reads the `google.api.http` rules and generates the route table, the typed
//!    field setters the transcoder uses for path and query values, and the module tree.
//!
//! A rule that cannot be served (bad template, variable bound to a missing field, two rules of
//! one service for the same HTTP method and path) stops the build with a message naming the
//! file, method and rule. Rules of different services may share a path: a config that serves
//! both is refused when the gateway is built.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;

#[allow(dead_code, unused_imports)]
#[path = "src/http_rule/mod.rs"]
mod http_rule;

#[path = "src/schema/rules.rs"]
mod rules;

#[path = "src/codegen/mod.rs"]
mod codegen;

const PROTO_ROOT: &str = "proto";

/// Rust paths for the protobuf well-known types. `Timestamp` and `FieldMask` have types of
/// their own (`src/wkt.rs`) because pbjson-types writes their JSON forms wrongly.
const EXTERN_PATHS: &[(&str, &str)] = &[
    (".google.protobuf", "::pbjson_types"),
    (".google.protobuf.Timestamp", "crate::wkt::Timestamp"),
    (".google.protobuf.FieldMask", "crate::wkt::FieldMask"),
];

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=src/codegen");
    println!("cargo:rerun-if-changed=src/http_rule");
    println!("cargo:rerun-if-changed=src/schema/rules.rs");
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);

    let files = proto_files(Path::new(PROTO_ROOT))?;
    let mut compiler = protox::Compiler::new([PROTO_ROOT]).map_err(|e| e.to_string())?;
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(&files)
        .map_err(|e| format!("compiling protos: {e}"))?;
    let encoded = compiler.encode_file_descriptor_set();
    fs::write(out_dir.join("descriptors.bin"), &encoded).map_err(|e| e.to_string())?;

    let fds = prost_types::FileDescriptorSet::decode(encoded.as_slice())
        .map_err(|e| format!("decoding descriptors: {e}"))?;
    let mut tonic = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_well_known_types(true)
        .emit_rerun_if_changed(false);
    for (proto, rust) in EXTERN_PATHS {
        tonic = tonic.extern_path(proto, rust);
    }
    tonic
        .compile_fds(fds)
        .map_err(|e| format!("generating code: {e}"))?;

    let pool = prost_reflect::DescriptorPool::decode(encoded.as_slice())
        .map_err(|e| format!("reading descriptors: {e}"))?;
    let packages = codegen::generated_packages(&pool);
    let mut pbjson = pbjson_build::Builder::new();
    pbjson
        .register_descriptors(&encoded)
        .map_err(|e| e.to_string())?;
    for (proto, rust) in EXTERN_PATHS {
        pbjson.extern_path(*proto, *rust);
    }
    let prefixes: Vec<String> = packages.iter().map(|p| format!(".{p}")).collect();
    pbjson
        .build(&prefixes)
        .map_err(|e| format!("generating serde code: {e}"))?;

    for package in &packages {
        let path = out_dir.join(format!("{package}.serde.rs"));
        if let Ok(text) = fs::read_to_string(&path) {
            let text = codegen::proto_floats(&codegen::open_enums(&text), &pool, package);
            fs::write(&path, text).map_err(|e| e.to_string())?;
        }
    }

    let generated = codegen::generate(&pool, &packages, &out_dir)?;
    fs::write(out_dir.join("gatehouse_proto.rs"), generated.modules).map_err(|e| e.to_string())?;
    fs::write(out_dir.join("gatehouse_routes.rs"), generated.routes).map_err(|e| e.to_string())?;
    Ok(())
}

/// Every `.proto` below `root`, as paths relative to it, sorted so the output is stable.
fn proto_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                walk(&path, root, out)?;
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                let relative = path.strip_prefix(root).map_err(|e| e.to_string())?;
                out.push(relative.to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    files.sort();
    Ok(files)
}
