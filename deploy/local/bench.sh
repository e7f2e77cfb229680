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
        python-sdk)
            cargo build --release -p boost-testkit --bin boost-test-stack
            . "$ROOT/shared/sdk/python/venv.sh"
            python_venv
            BOOST_LOG=warn "$VENV/bin/python" shared/sdk/python/bench.py target/release/boost-test-stack ;;
        *) BOOST_LOG=warn target/release/boost-bench "$bench" ;;
    esac
done
