//! The config the Kubernetes manifests ship (deploy/gatehouse-configmap.yaml), with the protos
//! they mount beside it (deploy/gatehouse-protos-configmap.yaml, at the paths the Deployment
//! gives them), passes `gatehouse check`, so a change of the config format cannot leave it
//! behind.
//! (`scripts/validate-deploy.sh` checks the manifests themselves against the Kubernetes
//! schemas.)

use std::process::Command;

fn manifest(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `<key>: |` block scalar of a ConfigMap's data, unindented.
fn block(manifest: &str, key: &str) -> String {
    let header = format!("{key}: |");
    let mut lines = manifest.lines().skip_while(|l| l.trim() != header);
    lines
        .next()
        .unwrap_or_else(|| panic!("no {header} block in the ConfigMap"));
    let indent = "    ";
    lines
        .take_while(|l| l.is_empty() || l.starts_with(indent))
        .map(|l| l.strip_prefix(indent).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the Deployment mounts the protos ConfigMap's `key`: `path` under the mount.
fn mounted_path(deployment: &str, key: &str) -> String {
    let mut lines = deployment
        .lines()
        .skip_while(|l| l.trim() != format!("- key: {key}"));
    lines
        .next()
        .unwrap_or_else(|| panic!("{key} is not mounted"));
    let path = lines.next().expect("a path after the key").trim();
    path.strip_prefix("path: ")
        .unwrap_or_else(|| panic!("{path}"))
        .to_string()
}

#[test]
fn the_shipped_config_passes_gatehouse_check() {
    let config = block(&manifest("gatehouse-configmap.yaml"), "gatehouse.toml");
    assert!(config.contains("[rate_limits]"), "{config}");
    // /etc/gatehouse/gatehouse.toml and /etc/gatehouse-protos, as the Deployment mounts them.
    let etc = tempfile::tempdir().unwrap();
    let protos = manifest("gatehouse-protos-configmap.yaml");
    let deployment = manifest("gatehouse-deployment.yaml");
    let key = "inventory.proto";
    let proto = etc
        .path()
        .join("gatehouse-protos")
        .join(mounted_path(&deployment, key));
    std::fs::create_dir_all(proto.parent().unwrap()).unwrap();
    std::fs::write(&proto, block(&protos, key)).unwrap();
    std::fs::create_dir_all(etc.path().join("gatehouse")).unwrap();
    let file = etc.path().join("gatehouse/gatehouse.toml");
    std::fs::write(&file, &config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{config}",
        String::from_utf8_lossy(&output.stderr)
    );
}
