//! The generated TypeScript client in tests: written into a directory, type-checked and
//! compiled by TypeScript's own compiler (installed in .tools/node by
//! scripts/install-test-tools.sh), and run by Node.js.

use std::path::{Path, PathBuf};
use std::process::Command;

use gatehouse::config::Config;
use gatehouse::schema::Schema;

/// The options a strict project may turn on: the generated client must compile under each.
pub const STRICT: &[&str] = &[
    "--strict",
    "--exactOptionalPropertyTypes",
    "--noUncheckedIndexedAccess",
    "--noUnusedLocals",
    "--noUnusedParameters",
    "--noImplicitReturns",
    "--noImplicitOverride",
    "--noPropertyAccessFromIndexSignature",
    "--verbatimModuleSyntax",
    "--isolatedModules",
    "--erasableSyntaxOnly",
    "--skipLibCheck",
    "--target",
    "es2022",
    "--module",
    "es2022",
    "--moduleResolution",
    "bundler",
    "--lib",
    "es2022,dom,dom.iterable",
];

/// TypeScript's compiler.
pub fn tsc_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/node/node_modules/.bin/tsc");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-tools.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Writes the client of what `config` serves into `dir/api`.
pub fn write_client(dir: &Path, config: &Config, schema: &Schema) {
    let plans = gatehouse::gateway::check::against_schema(config, schema)
        .unwrap_or_else(|e| panic!("the config compiles: {e}"));
    write_files(
        dir,
        &gatehouse::clientgen::typescript(config, schema, &plans, "a test"),
    );
}

/// Writes generated files into `dir/api`.
pub fn write_files(dir: &Path, files: &[gatehouse::clientgen::GeneratedFile]) {
    let api = dir.join("api");
    std::fs::create_dir_all(&api).expect("make the client's directory");
    for file in files {
        std::fs::write(api.join(file.name), &file.text).expect("write a client file");
    }
}

/// Type-checks `files` (relative to `dir`) with [`STRICT`]; with `out`, also writes the
/// JavaScript there. The compiler's report when it refuses.
pub fn tsc(dir: &Path, files: &[&str], out: Option<&Path>) -> Result<(), String> {
    let mut command = Command::new(tsc_path());
    command
        .current_dir(dir)
        .args(STRICT)
        .arg("--pretty")
        .arg("false");
    match out {
        Some(out) => command.arg("--outDir").arg(out),
        None => command.arg("--noEmit"),
    };
    let output = command.args(files).output().expect("run tsc");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Compiles `script` (a file in `dir` that imports `./api/index.js`) with the client to
/// JavaScript, runs it with Node.js and `args`, and returns what it printed on stdout, parsed
/// as JSON.
pub async fn run_with_node(dir: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let out = dir.join("js");
    if let Err(report) = tsc(dir, &[script], Some(&out)) {
        panic!("{script} does not compile:\n{report}");
    }
    std::fs::write(out.join("package.json"), r#"{"type":"module"}"#).expect("package.json");
    let js = Path::new(script).with_extension("js");
    let output = tokio::process::Command::new("node")
        .current_dir(&out)
        .arg(&js)
        .args(args)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {} failed: {stdout}\n{}",
        js.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("node printed {stdout:?}: {e}"))
}
