#!/usr/bin/env bash
# Soak check for hot reload (not a test: it prints figures). Starts a demo users backend and
# `gatehouse serve` (release builds), keeps steady load on it with curl, rewrites the config and
# sends SIGHUP 200 times, then reports requests, failures, RSS and open file descriptors before
# and after. Usage: scripts/soak-reload.sh [reloads]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reloads="${1:-200}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
cargo build --release --quiet --bin gatehouse --example demo_backend

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
backend_port="$(free_port)"; rest_port="$(free_port)"; admin_port="$(free_port)"

target/release/examples/demo_backend users "127.0.0.1:$backend_port" >"$work/backend.log" 2>&1 &
pids+=($!)

# Written next to the config and renamed over it, as an operator (or a Kubernetes ConfigMap
# volume) replaces a file: the gateway never sees half a file.
write_config() {
  cat >"$work/gatehouse.toml.new" <<TOML
[server]
listen = "127.0.0.1:$rest_port"
[admin]
listen = "127.0.0.1:$admin_port"
[telemetry]
access_log = "off"
[[backends]]
name = "users"
services = ["users.v1.UserService"]
endpoints = ["http://127.0.0.1:$backend_port"]
[[routes]]
method = "users.v1.UserService/*"
rate_limit = { per_second = 100000, burst = $1 }
TOML
  mv "$work/gatehouse.toml.new" "$work/gatehouse.toml"
}
write_config 100000
RUST_LOG=warn target/release/gatehouse serve --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 &
gateway=$!
pids+=($gateway)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$rest_port/api/users/123" >/dev/null 2>&1 && break
  sleep 0.1
done

measure() {
  local rss fds
  rss="$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")"
  fds="$(ls "/proc/$gateway/fd" | wc -l)"
  echo "$rss $fds"
}

# Steady load: four curl loops, each counting answers and failures (kept with their bodies).
load() {
  local ok=0 failed=0 code
  while [[ ! -f "$work/stop" ]]; do
    code="$(curl -s -o "$work/body.$1" -w '%{http_code}' "http://127.0.0.1:$rest_port/api/users/123" || true)"
    if [[ "$code" == 200 ]]; then
      ok=$((ok + 1))
    else
      failed=$((failed + 1))
      echo "HTTP ${code:-none}: $(head -c 300 "$work/body.$1" 2>/dev/null)" >>"$work/failures"
    fi
  done
  echo "$ok $failed" >"$work/load.$1"
}
for i in 1 2 3 4; do load "$i" & pids+=($!); done

sleep 1
read -r rss_before fds_before < <(measure)
for i in $(seq "$reloads"); do
  write_config $((100000 + i))
  kill -HUP "$gateway"
  sleep 0.05
done
sleep 2
read -r rss_after fds_after < <(measure)
touch "$work/stop"
sleep 1
ok=0; failed=0
for i in 1 2 3 4; do
  while [[ ! -f "$work/load.$i" ]]; do sleep 0.1; done
  read -r o f <"$work/load.$i"; ok=$((ok + o)); failed=$((failed + f))
done
reloaded="$(curl -s "http://127.0.0.1:$admin_port/metrics" | awk '/^gatehouse_config_reloads_total\{result="ok"\}/ {print $2}')"

echo "reloads sent: $reloads, applied (metric): ${reloaded:-?}"
echo "requests under load: $ok ok, $failed failed"
echo "RSS: ${rss_before} KiB before, ${rss_after} KiB after"
echo "open fds: $fds_before before, $fds_after after"
if [[ -s "$work/failures" ]]; then
  echo "failures:"
  sort "$work/failures" | uniq -c
fi
