#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo, when it is missing:
# - headless Chromium and its WebDriver for tests/browser.rs (Debian packages chromium,
#   chromium-driver);
# - redis-server for tests/shared_limits.rs (Debian package redis-server; the tests start their
#   own servers on free ports);
# - a Python virtual environment in .tools/pyenv (PyPI) with grpcio and grpcio-reflection for
#   tests/python_client.rs (a gRPC client gatehouse did not write), and openapi-spec-validator
#   and schemathesis for tests/openapi_tools.rs;
# - Node.js and npm (Debian packages nodejs, npm), and TypeScript's compiler in .tools/node
#   (npm) for tests/typescript_client.rs and tests/browser.rs, which type-check and run the
#   generated TypeScript client.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Pinned so that a new release cannot change what the test proves.
PYTHON_PACKAGES=(grpcio==1.85.3 grpcio-reflection==1.85.1 protobuf==7.36.2
  openapi-spec-validator==0.9.0 schemathesis==4.32.5)
pyenv="$root/.tools/pyenv"
python_ready() {
  [[ -x "$pyenv/bin/python" ]] &&
    "$pyenv/bin/python" -c 'import grpc, grpc_reflection, google.protobuf, openapi_spec_validator, schemathesis' >/dev/null 2>&1
}
if python_ready; then
  echo "found the Python test tools in $pyenv"
else
  echo "installing ${PYTHON_PACKAGES[*]} into $pyenv"
  python3 -m venv "$pyenv"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
  python_ready || { echo "the Python test tools did not install" >&2; exit 1; }
fi

missing=()
for tool in chromium chromedriver redis-server node npm; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "found $tool: $(command -v "$tool")"
  else
    echo "missing $tool"
    missing+=("$tool")
  fi
done

# Pinned like the Python packages; the tests also pass with TypeScript 5.9.
TYPESCRIPT_VERSION=7.0.2
node_tools="$root/.tools/node"
install_typescript() {
  if [[ "$("$node_tools/node_modules/.bin/tsc" --version 2>/dev/null)" == "Version $TYPESCRIPT_VERSION" ]]; then
    echo "found tsc $TYPESCRIPT_VERSION in $node_tools"
    return
  fi
  echo "installing typescript@$TYPESCRIPT_VERSION into $node_tools"
  mkdir -p "$node_tools"
  npm install --prefix "$node_tools" --no-audit --no-fund --silent "typescript@$TYPESCRIPT_VERSION"
  "$node_tools/node_modules/.bin/tsc" --version >/dev/null ||
    { echo "TypeScript did not install" >&2; exit 1; }
}

if [[ ${#missing[@]} -eq 0 ]]; then
  install_typescript
  echo "test tools: nothing else to install"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install ${missing[*]}: apt-get not found (this script knows Debian and Ubuntu)" >&2
  exit 1
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "cannot install ${missing[*]}: not root and sudo not found" >&2
    exit 1
  fi
fi

# The browser and its driver are installed together even if only one is missing:
# chromium-driver must match the browser's version exactly.
packages=()
if [[ " ${missing[*]} " == *" chromium "* || " ${missing[*]} " == *" chromedriver "* ]]; then
  packages+=(chromium chromium-driver)
fi
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
  packages+=(redis-server)
fi
if [[ " ${missing[*]} " == *" node "* || " ${missing[*]} " == *" npm "* ]]; then
  packages+=(nodejs npm)
fi
echo "running: ${as_root[*]:+${as_root[*]} }apt-get update"
"${as_root[@]}" apt-get update
echo "running: ${as_root[*]:+${as_root[*]} }apt-get install -y --no-install-recommends ${packages[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${packages[@]}"

for tool in "${missing[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "installed ${packages[*]} but $tool is still not on PATH" >&2
    exit 1
  fi
done
echo "test tools: installed ${packages[*]}"
install_typescript
