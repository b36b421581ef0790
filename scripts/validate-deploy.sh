#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/ without a cluster:
# - every manifest is listed in deploy/kustomization.yaml and holds at least one object;
# - the ConfigMap's gatehouse.toml is TOML, and the Deployment's grace period outlasts the
#   preStop sleep plus [admin] drain_timeout;
# - kubernetes-validate (PyPI, into .tools/pyenv like scripts/install-test-tools.sh) checks each
#   object against the OpenAPI schemas of the Kubernetes versions below, strictly (unknown
#   fields are errors). Its warnings fail too: it only warns about an object whose kind or
#   apiVersion it has no schema for, which is a typo as often as not.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Pinned so that a new release cannot change what passes.
KUBERNETES_VALIDATE_VERSION=1.37.0
# The newest schemas that version ships, and an older release still common on managed clusters,
# so that a field too new for it is caught.
KUBERNETES_VERSIONS=(1.33.0 1.37.0)

pyenv="$root/.tools/pyenv"
installed() {
  local version
  [[ -x "$pyenv/bin/python" ]] &&
    version="$("$pyenv/bin/python" -c \
      'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" &&
    [[ "$version" == "$KUBERNETES_VALIDATE_VERSION" ]]
}
if installed; then
  echo "found kubernetes-validate $KUBERNETES_VALIDATE_VERSION in $pyenv"
else
  echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $pyenv"
  [[ -x "$pyenv/bin/python" ]] || python3 -m venv "$pyenv"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  installed || { echo "kubernetes-validate did not install" >&2; exit 1; }
fi

cd "$root"
shopt -s nullglob
manifests=()
for file in deploy/*.yaml deploy/*.yml; do
  [[ "$(basename "$file")" == kustomization.yaml ]] || manifests+=("$file")
done
[[ ${#manifests[@]} -gt 0 ]] || { echo "no manifests in deploy/" >&2; exit 1; }

# What the schemas cannot see. PyYAML comes with kubernetes-validate; tomllib with Python 3.11.
# Both parts always run, so that one CI log shows every problem.
failed=0
"$pyenv/bin/python" - "${manifests[@]}" <<'PYTHON' || failed=1
import re
import sys
import tomllib
from pathlib import Path

import yaml

errors = []
objects = {}
for name in sys.argv[1:]:
    try:
        docs = [d for d in yaml.safe_load_all(Path(name).read_text()) if d is not None]
    except yaml.YAMLError as e:
        errors.append(f"{name}: not YAML: {e}")
        continue
    if not docs:
        errors.append(f"{name}: holds no object")
    for doc in docs:
        if not isinstance(doc, dict) or not all(doc.get(k) for k in ("apiVersion", "kind")):
            errors.append(f"{name}: an object without apiVersion and kind")
            continue
        if not (doc.get("metadata") or {}).get("name"):
            errors.append(f"{name}: {doc['kind']} without metadata.name")
            continue
        objects[(doc["kind"], doc["metadata"]["name"])] = (name, doc)

kustomization = yaml.safe_load(Path("deploy/kustomization.yaml").read_text()) or {}
listed = set(kustomization.get("resources") or [])
present = {Path(name).name for name in sys.argv[1:]}
for name in sorted(present - listed):
    errors.append(f"deploy/kustomization.yaml: does not list {name}")
for name in sorted(listed - present):
    errors.append(f"deploy/kustomization.yaml: lists {name}, which is not in deploy/")


def seconds(text):
    """A humantime duration such as "20s", "1m30s" or "500ms", in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*(ms|s|m|h)", text)
    if not parts or re.sub(r"[\d\s]+(ms|s|m|h)", "", text).strip():
        raise ValueError(f"{text!r} is not a duration this check reads (use ms, s, m or h)")
    return sum(int(n) * units[u] for n, u in parts)


config = objects.get(("ConfigMap", "gatehouse-config"))
deployment = objects.get(("Deployment", "gatehouse"))
drain = None
if config is None:
    errors.append("no ConfigMap gatehouse-config")
else:
    name, doc = config
    try:
        toml = tomllib.loads((doc.get("data") or {}).get("gatehouse.toml", ""))
        drain = seconds(toml.get("admin", {}).get("drain_timeout", "20s"))
    except (tomllib.TOMLDecodeError, ValueError) as e:
        errors.append(f"{name}: gatehouse.toml: {e}")
if deployment is None:
    errors.append("no Deployment gatehouse")
elif drain is not None:
    name, doc = deployment
    pod = doc["spec"]["template"]["spec"]
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre_stop = (pod["containers"][0].get("lifecycle") or {}).get("preStop") or {}
    command = (pre_stop.get("exec") or {}).get("command") or []
    if command[:1] == ["sleep"] and len(command) == 2:
        sleep = int(command[1])
    else:
        sleep = (pre_stop.get("sleep") or {}).get("seconds", 0)
    if grace <= sleep + drain:
        errors.append(
            f"{name}: terminationGracePeriodSeconds {grace} must exceed the preStop sleep "
            f"({sleep} s) plus [admin] drain_timeout ({drain:g} s), or the kubelet kills "
            "the drain"
        )

for error in errors:
    print(f"ERROR {error}", file=sys.stderr)
if errors:
    sys.exit(1)
print(
    f"{len(objects)} objects in {len(sys.argv) - 1} files, all listed in the kustomization; "
    "gatehouse.toml parses; the grace period outlasts preStop + drain"
)
PYTHON

for version in "${KUBERNETES_VERSIONS[@]}"; do
  status=0
  output="$("$pyenv/bin/kubernetes-validate" --strict --kubernetes-version "$version" \
    "${manifests[@]}" 2>&1)" || status=$?
  printf '%s\n' "$output"
  if [[ $status -ne 0 ]] || grep -q '^WARN' <<<"$output"; then
    failed=1
  fi
done
if [[ $failed -ne 0 ]]; then
  echo "deploy/: the manifests have errors or warnings (above)" >&2
  exit 1
fi
echo "deploy/: ${#manifests[@]} manifests valid for Kubernetes ${KUBERNETES_VERSIONS[*]} (strict)"
