#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target in shared/fuzz for FUZZ_SECONDS
# (default 60) each, one after another, and prints executions and findings
# per target. Fails when a target finds an input that crashes it; the input
# is kept in shared/fuzz/artifacts/<target>/ (replay it with
# `cargo fuzz run --fuzz-dir shared/fuzz <target> <file>`).
#
# cargo-fuzz needs nightly-only compiler flags; this machine has one stable
# toolchain, so the build runs with RUSTC_BOOTSTRAP=1 (the flags it unlocks
# are libFuzzer's coverage instrumentation). No sanitizer: Boost forbids
# unsafe code, so AddressSanitizer would look for what cannot happen.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
seconds="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1
say "building the fuzz targets (release, coverage-instrumented)"
cargo fuzz build --fuzz-dir shared/fuzz --sanitizer none -O
summary=""
failed=0
for target in $(cargo fuzz list --fuzz-dir shared/fuzz); do
  say "fuzzing $target for ${seconds}s"
  corpus="target/fuzz-corpus/$target"
  mkdir -p "$corpus"
  log="target/fuzz-corpus/$target.log"
  if cargo fuzz run --fuzz-dir shared/fuzz --sanitizer none -O "$target" "$corpus" \
      -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    found=0
  else
    found=1
    failed=1
    tail -30 "$log" >&2
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  summary+=$(printf '%-18s %12s executions  %s finding(s)' "$target" "$runs" "$found")$'\n'
done
say "fuzz summary (${seconds}s per target)"
printf '%s' "$summary"
exit "$failed"
