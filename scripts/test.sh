#!/usr/bin/env bash
# The README's test command: installs what the tests need and is missing (Chromium and
# ChromeDriver for the browser test), then runs every test. Extra arguments go to cargo test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-test-tools.sh"
cd "$root"
cargo test "$@"
# The transcoding, JSON, error, streaming and ingress tests again, with the test protos loaded at
# run time instead of compiled in: the dynamic codec must answer exactly as the generated one.
GATEHOUSE_TEST_SCHEMA=runtime cargo test "$@" \
  --test templates --test query --test body --test errors --test streaming --test metadata \
  --test deadlines --test grpc_ingress --test grpc_web --test reflection --test openapi \
  --test aggregate --test security --test limits --test hostile_input --test media \
  --test answers --test identity_fields \
  --test json_output --test websocket --test client_streaming --test typescript_client
