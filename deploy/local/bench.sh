#!/usr/bin/env bash
# `make bench`: release build, real dependencies, then each benchmark.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
cargo build --release -p boost-testkit --bin boost-bench
# Every figure is also appended to target/bench/results.jsonl under this run.
export BENCH_RUN=${BENCH_RUN:-$(date -u +%Y%m%dT%H%M%SZ)}
for bench in ${BENCH:-auth ingest}; do
    say "benchmark: $bench"
    case $bench in
        telemetry)
            # the ingest process it starts per configuration is built beside it
            cargo build --release -p boost-testkit --bin boost-test-ingest
            BOOST_LOG=warn target/release/boost-bench telemetry ;;
        processors)
            # the processor processes it starts are built beside it
            cargo build --release -p boost-testkit --bin boost-test-processor
            BOOST_LOG=warn target/release/boost-bench processors ;;
        memory)
            # the services run as the release binaries `make run` starts
            build_services
            BOOST_LOG=warn target/release/boost-bench memory ;;
        ingest-memory) BOOST_LOG=warn target/release/boost-bench ingest memory ;;
        processor-memory) BOOST_LOG=warn target/release/boost-bench processor memory ;;
        sdk)
            # events/s through each SDK's batcher, each beside bare calls from the same process
            BOOST_LOG=warn target/release/boost-bench client
            cargo build --release -p boost-testkit --bin boost-test-stack
            . "$ROOT/shared/sdk/python/venv.sh"
            python_venv
            BOOST_LOG=warn "$VENV/bin/python" shared/sdk/python/bench.py target/release/boost-test-stack
            . "$ROOT/shared/sdk/typescript/npm.sh"
            typescript_packages
            (cd shared/sdk/typescript && npm run --silent build)
            BOOST_TEST_STACK_BIN=$ROOT/target/release/boost-test-stack node shared/sdk/typescript/dist/bench/sdk.js ;;
        *) BOOST_LOG=warn target/release/boost-bench "$bench" ;;
    esac
done
# The latest run of every bench, drawn (README "Benchmarks" shows a copy: docs/bench.svg).
target/release/boost-bench chart target/bench/results.jsonl target/bench/chart.svg
