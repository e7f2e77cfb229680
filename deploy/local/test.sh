#!/usr/bin/env bash
# `make test`: makes sure the real dependencies are there, then runs the whole
# suite against them. Tests start their own private brokers and databases.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
cargo test --workspace --all-targets "$@"
say "Python SDK suite (mypy --strict, pytest against a private stack)"
bash "$ROOT/shared/sdk/python/test.sh"
