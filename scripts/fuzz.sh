#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ (cargo-fuzz) for SECONDS each (default 30) and prints,
# per target, libFuzzer's final line: executions, coverage, exec/s. Installs cargo-fuzz into
# .tools/cargo when it is missing. Exits non-zero if any target crashes; the crashing input is
# then in fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/ to keep it: each run
# starts with those inputs).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets are built optimized with debug assertions and overflow checks (cargo-fuzz default),
# so an arithmetic overflow is a crash too.
#
# Only a stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take the nightly-only flags
# cargo-fuzz passes. AddressSanitizer is used unless FUZZ_SANITIZER says otherwise
# (FUZZ_SANITIZER=none for a plain build). fuzz/corpus/<target>/ holds the seeds and is only
# read; what a run discovers goes to fuzz/target/corpus/<target>/ and is kept between runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-30}"
shift $(( $# > 0 ? 1 : 0 ))
sanitizer="${FUZZ_SANITIZER:-address}"

export PATH="$root/.tools/cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz into .tools/cargo"
  cargo install --locked --root "$root/.tools/cargo" --version 0.13.2 cargo-fuzz
fi

cd "$root"
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# One build for every target, so the time budget below is all fuzzing.
cargo fuzz build --sanitizer "$sanitizer"

failed=()
for target in "${targets[@]}"; do
  echo "=== $target (${seconds}s, sanitizer $sanitizer)"
  work="fuzz/target/corpus/$target"
  mkdir -p "$work" "fuzz/corpus/$target"
  log="fuzz/target/$target.log"
  # Inputs that once failed are run again first, with the seeds.
  corpora=("fuzz/corpus/$target")
  if [[ -d "fuzz/regressions/$target" ]]; then
    corpora+=("fuzz/regressions/$target")
  fi
  if cargo fuzz run --sanitizer "$sanitizer" "$target" "$work" "${corpora[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    # Seeds loaded, then the final line: executions, edges covered (cov), features (ft).
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" || tail -n 5 "$log"
  else
    failed+=("$target")
    grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 || true
    grep -E -A 12 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$log" | head -n 30 || tail -n 30 "$log"
    grep -E 'Test unit written to' "$log" || true
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashed: ${failed[*]} (logs in fuzz/target/<target>.log)"
  exit 1
fi
echo "no crash in: ${targets[*]}"
