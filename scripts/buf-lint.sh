#!/usr/bin/env bash
# Lints proto/ with buf (rules in buf.yaml). buf comes from the npm package
# @bufbuild/buf, installed once into .tools/buf so nothing global is touched.
set -euo pipefail

BUF_VERSION="1.75.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/buf"
buf="$prefix/node_modules/.bin/buf"

if [[ ! -x "$buf" ]] || [[ "$("$buf" --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  echo "installing @bufbuild/buf@$BUF_VERSION into .tools/buf" >&2
  mkdir -p "$prefix"
  npm install --no-save --no-audit --no-fund --silent \
    --prefix "$prefix" "@bufbuild/buf@$BUF_VERSION" >&2
fi

cd "$root"
"$buf" lint "$@"
echo "buf lint: ok" >&2
