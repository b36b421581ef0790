//! `.proto` directories compiled at run time by protox (no protoc), at start-up and on reload.
//!
//! Every `.proto` file under a root is compiled, named by its path relative to that root (the
//! name other files import it by). An import is looked up in the roots, in the order given, and
//! then among the built-in files: the googleapis protos gatehouse ships (`google/api/*`,
//! `google/rpc/*`) and the protobuf well-known types, so a user's protos compile without copies
//! of them. A root's own copy of a built-in file wins.
//!
//! A name found under two roots is refused, as protoc refuses a shadowed input: one of the two
//! files would silently not be served. Symbolic links to files are followed, to directories not
//! (a link back up the tree would make the walk endless).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

/// The googleapis files any user proto may import, as the repository ships them under `proto/`.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "google/api/annotations.proto",
        include_str!("../../proto/google/api/annotations.proto"),
    ),
    (
        "google/api/field_behavior.proto",
        include_str!("../../proto/google/api/field_behavior.proto"),
    ),
    (
        "google/api/http.proto",
        include_str!("../../proto/google/api/http.proto"),
    ),
    (
        "google/api/httpbody.proto",
        include_str!("../../proto/google/api/httpbody.proto"),
    ),
    (
        "google/rpc/code.proto",
        include_str!("../../proto/google/rpc/code.proto"),
    ),
    (
        "google/rpc/error_details.proto",
        include_str!("../../proto/google/rpc/error_details.proto"),
    ),
    (
        "google/rpc/status.proto",
        include_str!("../../proto/google/rpc/status.proto"),
    ),
];

/// Compiles every `.proto` file under each of `roots` (searched recursively; file names are
/// relative to their root), resolving imports from the roots first, then from the built-in files.
/// Returns the encoded FileDescriptorSet of those files and everything they import (imports and
/// source info included, so comments are kept and custom options like google.api.http survive).
///
/// Blocking: it reads the file system and compiles; run it on a blocking thread.
///
/// # Errors
/// The first problem found: a root that is missing, unreadable or holds no `.proto` file, a name
/// under two roots, or a file that does not compile (with its path, line and column).
pub fn compile(roots: &[PathBuf]) -> Result<Vec<u8>, ProtoError> {
    if roots.is_empty() {
        return Err(ProtoError::message("no proto directories to compile"));
    }
    let mut names = Vec::new();
    let mut found_in: HashMap<String, &Path> = HashMap::new();
    for root in roots {
        for name in proto_files(root)? {
            if let Some(first) = found_in.insert(name.clone(), root) {
                return Err(ProtoError::message(format!(
                    "{name} is under two proto directories, {} and {}; remove one",
                    first.display(),
                    root.display()
                )));
            }
            names.push(name);
        }
    }

    let mut resolver = ChainFileResolver::new();
    for root in roots {
        resolver.add(Root(IncludeFileResolver::new(root.clone())));
    }
    resolver.add(BuiltIn);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    for name in &names {
        compiler
            .open_file(name)
            .map_err(|error| ProtoError::from_protox(&error, roots))?;
    }
    Ok(compiler.encode_file_descriptor_set())
}

/// A proto that does not compile, with where: Display is `path:line:col: message` (path as the
/// user gave it joined with the file name, i.e. the real file path), or just the message when
/// there is no location (e.g. a root that does not exist, no .proto files under a root, an import
/// that is not found — name it).
#[derive(Debug, Clone)]
pub struct ProtoError {
    /// The file the problem is in: a root joined with the file name, or the bare name of a
    /// built-in file.
    pub file: Option<PathBuf>,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based.
    pub column: Option<usize>,
    /// What is wrong, without the location.
    pub message: String,
}

impl ProtoError {
    fn message(message: impl Into<String>) -> Self {
        ProtoError {
            file: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// protox names the file and says where only in its `Debug` form, `name:line:col: message`,
    /// which picks the primary place of the error; the miette labels carry every place involved
    /// (both definitions of a duplicate name, say), in an order that differs between errors. So
    /// the location is read back from `Debug`, checked against the name and message it must
    /// frame; anything else leaves the location out rather than guessing.
    fn from_protox(error: &protox::Error, roots: &[PathBuf]) -> Self {
        let message = error.to_string();
        let Some(name) = error.file() else {
            return ProtoError::message(message);
        };
        let debug = format!("{error:?}");
        let (line, column) = debug
            .strip_prefix(name)
            .and_then(|rest| rest.strip_suffix(message.as_str()))
            .and_then(parse_line_column)
            .unzip();
        ProtoError {
            file: Some(real_path(name, roots)),
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", file.display(), self.message)
            }
            (Some(file), _, _) => write!(f, "{}: {}", file.display(), self.message),
            (None, _, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ProtoError {}

/// `:12:5: ` (what protox puts between the file name and the message) as `(12, 5)`.
fn parse_line_column(between: &str) -> Option<(usize, usize)> {
    let mut parts = between
        .strip_prefix(':')?
        .trim_end()
        .strip_suffix(':')?
        .split(':');
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((line, column))
}

/// Where the file a compile error names lives: the first root that has it, which is the one the
/// resolver read it from, or else a built-in file known by its name alone.
fn real_path(name: &str, roots: &[PathBuf]) -> PathBuf {
    roots
        .iter()
        .map(|root| root.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The names of the `.proto` files under `root`, relative to it with `/` separators, sorted.
fn proto_files(root: &Path) -> Result<Vec<String>, ProtoError> {
    let shown = root.display();
    match fs::metadata(root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(ProtoError::message(format!(
                "proto directory {shown} is not a directory"
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ProtoError::message(format!(
                "proto directory {shown} does not exist"
            )));
        }
        Err(e) => {
            return Err(ProtoError::message(format!("proto directory {shown}: {e}")));
        }
    }
    let mut names = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    // Folders already walked, by their real path: a symlink back up the tree ends here.
    let mut walked = std::collections::HashSet::new();
    while let Some(dir) = pending.pop() {
        if !walked.insert(fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        let unreadable =
            |e: io::Error| ProtoError::message(format!("reading {}: {e}", dir.display()));
        for entry in fs::read_dir(&dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            // Hidden entries are not protos of the tree: `.git`, and the `..data` and
            // `..<timestamp>` folders a Kubernetes ConfigMap volume keeps its real files in
            // (its visible names are symlinks into them, followed below).
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Symlinks are followed: a mounted ConfigMap is made of them.
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if !path.is_file() || path.extension().is_none_or(|ext| ext != "proto") {
                continue;
            }
            names.push(file_name(root, &path)?);
        }
    }
    if names.is_empty() {
        return Err(ProtoError::message(format!(
            "no .proto files under {shown}"
        )));
    }
    names.sort_unstable();
    Ok(names)
}

/// `root/acme/v1/x.proto` as `acme/v1/x.proto`, the name imports use.
fn file_name(root: &Path, path: &Path) -> Result<String, ProtoError> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
    parts
        .map(|parts| parts.join("/"))
        .ok_or_else(|| ProtoError::message(format!("{}: file name is not UTF-8", path.display())))
}

/// One root. protox's own resolver also maps a path under its include directory to a name,
/// which would turn the name `protos/a.proto` into `a.proto` when the root is `protos`: names
/// here are always relative to their root already, so only opening is passed on.
struct Root(IncludeFileResolver);

impl FileResolver for Root {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0.open_file(name)
    }
}

/// The googleapis files of [`BUILT_IN`], parsed from the embedded text when imported.
struct BuiltIn;

impl FileResolver for BuiltIn {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match BUILT_IN.iter().find(|(built_in, _)| *built_in == name) {
            Some((_, source)) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::{DescriptorPool, Value};

    /// A temporary root holding `files` (name, text).
    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
            fs::write(path, text).expect("write a proto");
        }
        dir
    }

    fn compile_one(dir: &tempfile::TempDir) -> Result<DescriptorPool, ProtoError> {
        let encoded = compile(&[dir.path().to_path_buf()])?;
        Ok(DescriptorPool::decode(encoded.as_slice()).expect("the set decodes"))
    }

    const INVENTORY: &str = r#"syntax = "proto3";

package acme.inventory.v1;

import "google/api/annotations.proto";
import "google/api/httpbody.proto";
import "google/protobuf/timestamp.proto";

// Items on the shelves.
service InventoryService {
  // One item by its id.
  rpc GetItem(GetItemRequest) returns (Item) {
    option (google.api.http) = {get: "/v1/items/{id}"};
  }
  // The item's picture.
  rpc GetPicture(GetItemRequest) returns (google.api.HttpBody) {
    option (google.api.http) = {get: "/v1/items/{id}/picture"};
  }
}

message GetItemRequest {
  string id = 1;
}

message Item {
  string id = 1;
  google.protobuf.Timestamp updated = 2;
}
"#;

    #[test]
    fn an_annotated_service_compiles_with_built_in_imports() {
        let dir = root(&[("acme/inventory/v1/inventory.proto", INVENTORY)]);
        let pool = compile_one(&dir).expect("compiles");

        let service = pool
            .get_service_by_name("acme.inventory.v1.InventoryService")
            .expect("the service");
        let file = service.parent_file();
        assert_eq!(file.name(), "acme/inventory/v1/inventory.proto");
        let info = file.file_descriptor_proto().source_code_info.as_ref();
        assert!(
            info.is_some_and(|info| info
                .location
                .iter()
                .any(|l| l.leading_comments() == " Items on the shelves.\n")),
            "comments are kept"
        );

        let http = pool
            .get_extension_by_name("google.api.http")
            .expect("google.api.http is in the set");
        let method = service
            .methods()
            .find(|m| m.name() == "GetItem")
            .expect("GetItem");
        let rule = method.options().get_extension(&http).into_owned();
        let Value::Message(rule) = rule else {
            panic!("google.api.http is not a message: {rule:?}");
        };
        assert_eq!(
            rule.get_field_by_name("get").as_deref(),
            Some(&Value::String("/v1/items/{id}".into()))
        );
        for imported in [
            "google/api/http.proto",
            "google/api/httpbody.proto",
            "google/protobuf/timestamp.proto",
            "google/protobuf/descriptor.proto",
        ] {
            assert!(pool.get_file_by_name(imported).is_some(), "{imported}");
        }
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let text =
            "syntax = \"proto3\";\n\npackage acme.v1;\n\nmessage Item {\n  string id = ;\n}\n";
        let dir = root(&[("acme/v1/item.proto", text)]);
        let error = compile_one(&dir).expect_err("does not compile");
        let path = dir.path().join("acme/v1/item.proto");
        assert_eq!(error.file.as_deref(), Some(path.as_path()));
        assert_eq!((error.line, error.column), (Some(6), Some(15)));
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}:6:15: ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_type_names_the_file_and_the_type() {
        let text =
            "syntax = \"proto3\";\npackage acme.v1;\nmessage Item {\n  Price price = 1;\n}\n";
        let dir = root(&[("item.proto", text)]);
        let error = compile_one(&dir).expect_err("does not compile");
        let path = dir.path().join("item.proto");
        assert_eq!(error.file.as_deref(), Some(path.as_path()));
        assert_eq!(error.line, Some(4), "{error}");
        assert!(error.message.contains("Price"), "{error}");
    }

    #[test]
    fn a_clash_is_placed_at_its_second_half() {
        let text = "syntax = \"proto3\";\npackage acme.v1;\nmessage Item {\n  string id = 1;\n  string name = 1;\n}\n";
        let dir = root(&[("item.proto", text)]);
        let error = compile_one(&dir).expect_err("does not compile");
        assert_eq!(error.line, Some(5), "{error}");
    }

    #[test]
    fn a_missing_import_names_the_import_and_the_importer() {
        let text = "syntax = \"proto3\";\npackage acme.v1;\nimport \"acme/v1/money.proto\";\n";
        let dir = root(&[("acme/v1/item.proto", text)]);
        let error = compile_one(&dir).expect_err("does not compile");
        let path = dir.path().join("acme/v1/item.proto");
        assert_eq!(error.file.as_deref(), Some(path.as_path()));
        assert_eq!(error.line, Some(3), "{error}");
        assert!(error.message.contains("acme/v1/money.proto"), "{error}");
    }

    #[test]
    fn a_root_that_does_not_exist_is_refused() {
        let dir = root(&[]);
        let missing = dir.path().join("nowhere");
        let error = compile(std::slice::from_ref(&missing)).expect_err("refused");
        assert!(error.file.is_none());
        assert_eq!(
            error.to_string(),
            format!("proto directory {} does not exist", missing.display())
        );
    }

    #[test]
    fn a_root_without_protos_is_refused() {
        let dir = root(&[("README.md", "no protos here")]);
        let error = compile_one(&dir).expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!("no .proto files under {}", dir.path().display())
        );
    }

    #[test]
    fn files_of_one_root_import_each_other() {
        let money =
            "syntax = \"proto3\";\npackage acme.v1;\nmessage Money {\n  int64 cents = 1;\n}\n";
        let item = "syntax = \"proto3\";\npackage acme.v1;\nimport \"acme/v1/money.proto\";\nmessage Item {\n  Money price = 1;\n}\n";
        let dir = root(&[("acme/v1/money.proto", money), ("acme/v1/item.proto", item)]);
        let pool = compile_one(&dir).expect("compiles");
        let price = pool
            .get_message_by_name("acme.v1.Item")
            .and_then(|item| item.get_field_by_name("price"))
            .expect("Item.price");
        assert_eq!(
            price.kind().as_message().map(|m| m.full_name().to_owned()),
            Some("acme.v1.Money".to_owned())
        );
    }

    #[test]
    fn an_import_resolves_from_a_later_root() {
        let money =
            "syntax = \"proto3\";\npackage shared.v1;\nmessage Money {\n  int64 cents = 1;\n}\n";
        let item = "syntax = \"proto3\";\npackage acme.v1;\nimport \"shared/v1/money.proto\";\nmessage Item {\n  shared.v1.Money price = 1;\n}\n";
        let own = root(&[("acme/v1/item.proto", item)]);
        let shared = root(&[("shared/v1/money.proto", money)]);
        let encoded =
            compile(&[own.path().to_path_buf(), shared.path().to_path_buf()]).expect("compiles");
        let pool = DescriptorPool::decode(encoded.as_slice()).expect("decodes");
        assert!(pool.get_message_by_name("shared.v1.Money").is_some());
        assert!(pool.get_message_by_name("acme.v1.Item").is_some());
    }

    #[test]
    fn a_name_under_two_roots_is_refused() {
        let text = "syntax = \"proto3\";\npackage acme.v1;\n";
        let first = root(&[("acme/v1/a.proto", text)]);
        let second = root(&[("acme/v1/a.proto", text)]);
        let error = compile(&[first.path().to_path_buf(), second.path().to_path_buf()])
            .expect_err("refused");
        assert!(error.message.contains("acme/v1/a.proto"), "{error}");
    }

    #[test]
    fn a_file_in_a_subdirectory_is_named_relative_to_its_root() {
        let dir = root(&[("acme/inventory/v1/inventory.proto", INVENTORY)]);
        let pool = compile_one(&dir).expect("compiles");
        let names: Vec<String> = pool.files().map(|f| f.name().to_owned()).collect();
        assert!(
            names.contains(&"acme/inventory/v1/inventory.proto".to_owned()),
            "{names:?}"
        );
    }

    #[test]
    fn a_mounted_configmap_is_read_through_its_symlinks_once() {
        // The layout the kubelet writes: the real files in a hidden timestamped folder,
        // `..data` pointing at it, and each visible name a symlink through `..data`.
        let dir = root(&[(
            "..2026_12_07_00_00_00.1/acme/inventory/v1/inventory.proto",
            INVENTORY,
        )]);
        std::os::unix::fs::symlink("..2026_12_07_00_00_00.1", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/acme", dir.path().join("acme")).unwrap();
        // A link back up the tree is walked once.
        std::os::unix::fs::symlink(".", dir.path().join("acme/loop")).unwrap();
        let pool = compile_one(&dir).expect("compiles");
        let names: Vec<String> = pool.files().map(|f| f.name().to_owned()).collect();
        assert!(
            names.contains(&"acme/inventory/v1/inventory.proto".to_owned()),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
    }
}
