//! `[schema]`: protos read at run time, beside the ones compiled into the binary.

use std::path::PathBuf;

use serde::Deserialize;

/// `[schema]`: where services come from besides the compiled-in protos (and backends with
/// `reflection = true`). Paths are relative to the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    /// Whether the services compiled into the binary (from its `proto/` folder) are part of
    /// the schema. `false` leaves only the run-time sources, so a service of the same name can
    /// come from them instead. Default true.
    pub compiled_in: bool,
    /// Folders of `.proto` files, compiled at start-up and on reload; imports are resolved
    /// from these folders, then from the built-in google/api, google/rpc and well-known types.
    pub protos: Vec<PathBuf>,
    /// Encoded `FileDescriptorSet` files with their imports (`buf build -o api.binpb`,
    /// `protoc --include_imports -o api.binpb`).
    pub descriptor_sets: Vec<PathBuf>,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        SchemaConfig {
            compiled_in: true,
            protos: Vec::new(),
            descriptor_sets: Vec::new(),
        }
    }
}

impl SchemaConfig {
    /// Every file or folder this section names, as paths a process can open.
    pub fn paths(&self, base_dir: &std::path::Path) -> Vec<PathBuf> {
        self.protos
            .iter()
            .chain(&self.descriptor_sets)
            .map(|p| base_dir.join(p))
            .collect()
    }
}
