#!/usr/bin/env bash
# `make bench`: release build, real dependencies, then each benchmark.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$ROOT/deploy/local/deps.sh"
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
cargo build --release -p boost-testkit --bin boost-bench
for bench in ${BENCH:-auth}; do
    say "benchmark: $bench"
    BOOST_LOG=warn target/release/boost-bench "$bench"
done
