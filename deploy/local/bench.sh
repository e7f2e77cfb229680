#!/usr/bin/env bash
# `make bench`: release build, real dependencies, then each benchmark.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
cargo build --release -p boost-testkit --bin boost-bench
for bench in ${BENCH:-auth ingest}; do
    say "benchmark: $bench"
    case $bench in
        ingest-memory) BOOST_LOG=warn target/release/boost-bench ingest memory ;;
        processor-memory) BOOST_LOG=warn target/release/boost-bench processor memory ;;
        *) BOOST_LOG=warn target/release/boost-bench "$bench" ;;
    esac
done
