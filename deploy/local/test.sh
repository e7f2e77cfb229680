#!/usr/bin/env bash
# `make test`: makes sure the real dependencies are there, then runs the whole
# suite against them. Tests start their own private brokers and databases.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_prometheus
ensure_chromium
load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
say "checking deploy/observability with promtool"
promtool check config deploy/observability/prometheus.yml >&2
cargo test --workspace --all-targets "$@"
say "SDK suites against private stacks: Python (mypy --strict, pytest) and TypeScript (tsc, node --test over gRPC and gRPC-web)"
cargo build --quiet -p boost-testkit --bin boost-test-stack
bash "$ROOT/shared/sdk/python/test.sh" &
PYTHON_SDK=$!
bash "$ROOT/shared/sdk/typescript/test.sh"
say "console in headless Chromium against a private stack"
bash "$ROOT/services/console/test.sh"
wait "$PYTHON_SDK"
say "deploy/envoy/envoy.yaml against Envoy's API schema, and broken copies of it"
. "$ROOT/shared/sdk/python/venv.sh"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/deploy/envoy"
say "deploy/compose and deploy/kubernetes against their schemas, and broken copies of them"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/deploy/manifests"
say "fuzz targets, 10 s each (make fuzz runs 60 s each)"
FUZZ_SECONDS=10 bash "$ROOT/deploy/local/fuzz.sh"
