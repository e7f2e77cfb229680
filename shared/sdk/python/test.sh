#!/usr/bin/env bash
# The Python SDK's suite: mypy --strict over the hand-written package, then
# pytest against a private stack the fixtures start (boost-test-stack).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ROOT/shared/sdk/python/venv.sh"
python_venv
cd "$ROOT/shared/sdk/python"
"$VENV/bin/mypy"
cargo build --quiet -p boost-testkit --bin boost-test-stack --manifest-path "$ROOT/Cargo.toml"
"$VENV/bin/pytest" -q "$@"
