#!/usr/bin/env bash
# Counts the instructions the gateway process executes per request, with callgrind, for
#   - REST `GET /api/users/123` (IN_FLIGHT keep-alive HTTP/1.1 connections), and
#   - native gRPC `users.v1.UserService/GetUser` for user "123" sent to the gateway's port
#     (`content-type: application/grpc`, IN_FLIGHT concurrent streams on one HTTP/2 connection).
# Instruction counts do not depend on the machine's load, so a before/after comparison of two
# builds holds on a busy machine where timings would not.
#
# Usage: scripts/callgrind.sh [GATEHOUSE_BINARY]
#        (default: target/release/gatehouse, which it does not build: a fat-LTO release build
#        takes many minutes, and the binary to measure is the caller's choice)
# Environment: WARM_UP (default 200) requests before the window, COUNT (default 2000) in it,
# IN_FLIGHT (default 8) requests at a time. Keep all three the same for figures to compare.
#
# How: the users demo backend (examples/demo_backend.rs, a debug build) runs in its own process,
# not under valgrind. For each kind of request a fresh gateway starts under callgrind with
# instrumentation off (so start-up and warm-up run at near full speed) and a minimal config: the
# users backend only, no auth, no rate limits, no health checks, access log off, both listeners
# on free ports. The gateway is pinned to one CPU (taskset), as in benches/e2e, so its runtime
# has one worker thread whatever the machine: with two, how valgrind interleaved them changed
# the count by up to 0.6 % between runs (pinned: 0.2 %), and each request cost about 3k
# instructions more.
#
# examples/callgrind_client.rs opens its connections and sends WARM_UP requests, IN_FLIGHT at a
# time; then instrumentation is switched on and the counters zeroed (`callgrind_control -i on`,
# `-z`), the client sends COUNT requests on the same connections, and the counters are dumped
# (`-d`) before it closes them. Instructions per request = total Ir of that dump / COUNT.
# Connection setup and teardown are outside the window; the gateway's timers (the config file
# watch, metrics upkeep) are inside it, but cost about 5k instructions per idle second, a
# hundredth of a percent of a window.
#
# Why 8 in flight: it reproduces the README's REST figure (75.7k at 5a9af2f, here 75.7–75.8k).
# One at a time, each request also pays alone for waking the runtime and polling the sockets,
# which concurrent requests share: 85.0k REST and 104.4k gRPC at the same commit; 16 in flight
# gives 74.8k REST. The README's 93.8k per gRPC call is not reproduced: 8 calls on one HTTP/2
# connection also share its reads and writes (90.0k); on 8 connections of one call each, 94.2k.
#
# The dumps stay in target/callgrind/ for callgrind_annotate (a release build has no debug info:
# functions by name, without lines). Installs valgrind and taskset (Debian packages valgrind,
# util-linux) when missing. Respects CARGO_TARGET_DIR. Stops every process it started, also on
# failure or Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
gatehouse="$(realpath "${1:-$target/release/gatehouse}")"
warm_up="${WARM_UP:-200}"
count="${COUNT:-2000}"
in_flight="${IN_FLIGHT:-8}"

if [[ ! -x "$gatehouse" ]]; then
  echo "no gatehouse binary at $gatehouse (build one: cargo build --release --bin gatehouse)" >&2
  exit 1
fi

# Debian package → a command it provides.
declare -A wanted=([valgrind]=callgrind_control [util-linux]=taskset)
missing=()
for package in "${!wanted[@]}"; do
  command -v "${wanted[$package]}" >/dev/null 2>&1 || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "cannot install ${missing[*]}: not root and sudo not found" >&2; exit 1; }
    as_root=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || { echo "cannot install ${missing[*]}: apt-get not found" >&2; exit 1; }
  echo "installing ${missing[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The first CPU this script may use: the gateway's.
cpu="$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//')"

# The backend and the client: debug builds are enough, neither is measured.
echo "building examples demo_backend and callgrind_client (debug)" >&2
(cd "$root" && nice -n 5 cargo build --quiet --example demo_backend --example callgrind_client)
examples="$target/debug/examples"

work="$(mktemp -d)"
out="$target/callgrind"
mkdir -p "$out"
# The processes this script started and has not stopped yet: backend, gateway, client.
backend_pid="" gateway_pid="" client_pid=""
# Whether process $1 still runs: a child that exited stays a zombie (state Z) until `wait`.
running() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}
# SIGTERM, then SIGKILL for whatever has not exited 10 s later (valgrind can be slow to finish).
stop() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 100); do
      running "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local pids=($client_pid $gateway_pid $backend_pid)
  if [[ ${#pids[@]} -gt 0 ]]; then stop "${pids[@]}"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $3 seconds for "$2<address>" to appear in file $1, then prints the address.
wait_for_addr() {
  local file="$1" prefix="$2" seconds="$3" addr
  for _ in $(seq $((seconds * 10))); do
    addr="$(sed -n "s|.*$prefix\\([0-9.:]*\\).*|\\1|p" "$file" 2>/dev/null | head -n 1)"
    if [[ -n "$addr" ]]; then
      echo "$addr"
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listening after ${seconds}s; $file says:" >&2
  cat "$file" >&2
  return 1
}

"$examples/demo_backend" users 127.0.0.1:0 >"$work/backend.out" 2>&1 &
backend_pid=$!
backend="$(wait_for_addr "$work/backend.out" "listening on http://" 60)"

cat >"$work/gatehouse.toml" <<EOF
[server]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[telemetry]
access_log = "off"

[[backends]]
name = "users"
services = ["users.v1.UserService"]
endpoints = ["http://$backend"]
EOF

# control OPTION...: callgrind_control on the gateway, quiet unless it fails.
control() {
  callgrind_control "$@" "$gateway_pid" >"$work/control.log" 2>&1 ||
    { echo "callgrind_control $* failed:" >&2; cat "$work/control.log" >&2; return 1; }
}

# measure KIND: sets `result` to the instructions per request of one fresh gateway. (Not a
# command substitution: in a subshell the cleanup above would not run on failure.)
measure() {
  local kind="$1" addr line dump total
  dump="$out/$kind.callgrind"
  rm -f "$dump" "$dump".*
  taskset -c "$cpu" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dump" \
    "$gatehouse" serve --config "$work/gatehouse.toml" \
    >"$work/$kind.gateway.out" 2>"$work/$kind.gateway.log" &
  gateway_pid=$!
  addr="$(wait_for_addr "$work/$kind.gateway.out" "gatehouse listening on http://" 180)"

  coproc client {
    exec "$examples/callgrind_client" "$kind" "$addr" "$in_flight" "$warm_up" "$count" \
      2>"$work/$kind.client.log"
  }
  client_pid="$client_PID"
  # Each read waits for the client's line; an empty read means it failed.
  read -r line <&"${client[0]}" || true
  [[ "$line" == warm ]] || { echo "$kind client: $(cat "$work/$kind.client.log")" >&2; return 1; }
  control -i on
  control -z
  echo go >&"${client[1]}"
  read -r line <&"${client[0]}" || true
  [[ "$line" == "sent $count" ]] || { echo "$kind client: $(cat "$work/$kind.client.log")" >&2; return 1; }
  control -d
  echo done >&"${client[1]}"
  stop "$client_pid" "$gateway_pid"
  client_pid="" gateway_pid=""

  # The first dump after -z holds the window; its `totals:` line is the sum of every thread.
  total="$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dump.1")"
  [[ -n "$total" ]] || { echo "no totals in $dump.1" >&2; return 1; }
  echo "$kind: $total instructions in $count requests ($in_flight in flight, after $warm_up)," \
    "dump $dump.1" >&2
  result=$(((total + count / 2) / count))
}

echo "gateway: $gatehouse" >&2
measure rest
rest="$result"
measure grpc
grpc="$result"
echo "REST GET /api/users/123: $rest instructions per request"
echo "gRPC ingress GetUser: $grpc instructions per call"
