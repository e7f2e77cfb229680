#!/usr/bin/env bash
# `make sdk`: regenerates every SDK's protobuf and gRPC code from proto/.
# The generated files are committed; `make lint` runs this and fails when
# `git diff` shows they were stale.
#
# TypeScript: buf with protoc-gen-es (buf.gen.yaml), from the SDK's locked
# npm packages. Python: grpcio-tools' bundled protoc (messages, gRPC stubs)
# with the mypy-protobuf plugins (.pyi types), from shared/sdk/python's pinned
# dev requirements.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/shared/sdk/python/venv.sh"
. "$ROOT/shared/sdk/typescript/npm.sh"

BUF=${BUF:-$ROOT/.tools/node_modules/.bin/buf}
[ -x "$BUF" ] || { echo "error: buf is missing at $BUF: run 'make sdk' (it installs buf)" >&2; exit 1; }
typescript_packages
(cd "$ROOT" && "$BUF" generate)
echo "generated TypeScript code into shared/sdk/typescript/src/gen"

PY_OUT=$ROOT/shared/sdk/python/src
python_venv
# Only the generated trees are replaced; the hand-written package stays.
for area in common ingest query auth processor; do rm -rf "$PY_OUT/boost/$area"; done
mapfile -t PROTOS < <(cd "$ROOT/proto" && find boost -name '*.proto' | sort)
(cd "$ROOT/proto" && "$VENV/bin/python" -m grpc_tools.protoc -I . \
    --python_out="$PY_OUT" --grpc_python_out="$PY_OUT" \
    --plugin=protoc-gen-mypy="$VENV/bin/protoc-gen-mypy" --mypy_out="$PY_OUT" \
    --plugin=protoc-gen-mypy_grpc="$VENV/bin/protoc-gen-mypy_grpc" --mypy_grpc_out="$PY_OUT" \
    "${PROTOS[@]}")
# Packages for every generated folder, so type checkers and installers see them.
find "$PY_OUT/boost" -mindepth 1 -type d ! -name __pycache__ -exec touch {}/__init__.py \;
echo "generated Python code for ${#PROTOS[@]} proto files into $PY_OUT/boost"
