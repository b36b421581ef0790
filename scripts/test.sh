#!/usr/bin/env bash
# The README's test command: installs what the tests need and is missing (Chromium and
# ChromeDriver for the browser test), then runs every test. Extra arguments go to cargo test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-test-tools.sh"
cd "$root"
cargo test "$@"
