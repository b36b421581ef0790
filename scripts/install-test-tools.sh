#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo, when it is missing. Today that is headless
# Chromium and its WebDriver for tests/browser.rs (Debian packages chromium, chromium-driver).
# Safe to run again: it installs nothing that is already on PATH.
set -euo pipefail

missing=()
for tool in chromium chromedriver; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "found $tool: $(command -v "$tool")"
  else
    echo "missing $tool"
    missing+=("$tool")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "test tools: nothing to install"
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

# Both packages are installed together even if only one is missing: chromium-driver must match
# the browser's version exactly.
packages=(chromium chromium-driver)
echo "running: ${as_root[*]:+${as_root[*]} }apt-get update"
"${as_root[@]}" apt-get update
echo "running: ${as_root[*]:+${as_root[*]} }apt-get install -y --no-install-recommends ${packages[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${packages[@]}"

for tool in chromium chromedriver; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "installed ${packages[*]} but $tool is still not on PATH" >&2
    exit 1
  fi
done
echo "test tools: installed $(chromium --version 2>/dev/null), $(chromedriver --version)"
