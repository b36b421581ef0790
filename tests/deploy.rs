//! The config the Kubernetes manifests ship (deploy/gatehouse-configmap.yaml) passes
//! `gatehouse check`, so a change of the config format cannot leave it behind.
//! (`scripts/validate-deploy.sh` checks the manifests themselves against the Kubernetes
//! schemas.)

use std::process::Command;

/// The `gatehouse.toml: |` block scalar of the ConfigMap, unindented.
fn shipped_config() -> String {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/gatehouse-configmap.yaml"
    ))
    .expect("deploy/gatehouse-configmap.yaml");
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != "gatehouse.toml: |");
    lines
        .next()
        .expect("a gatehouse.toml block in the ConfigMap");
    let indent = "    ";
    lines
        .take_while(|l| l.is_empty() || l.starts_with(indent))
        .map(|l| l.strip_prefix(indent).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_shipped_config_passes_gatehouse_check() {
    let config = shipped_config();
    assert!(config.contains("[rate_limits]"), "{config}");
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy-gatehouse.toml");
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
