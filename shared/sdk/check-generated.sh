#!/usr/bin/env bash
# `make lint`: regenerates the SDKs' code and fails when that changed
# anything, i.e. the committed generated code was stale.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bash "$ROOT/shared/sdk/generate.sh" >/dev/null 2>&1 || bash "$ROOT/shared/sdk/generate.sh"
cd "$ROOT"
GENERATED=(shared/sdk/typescript/src/gen)
for area in common ingest query auth processor; do GENERATED+=("shared/sdk/python/src/boost/$area"); done
if ! git diff --quiet HEAD -- "${GENERATED[@]}" || [ -n "$(git ls-files --others --exclude-standard -- "${GENERATED[@]}")" ]; then
    git status --short -- "${GENERATED[@]}" >&2
    echo "error: the generated SDK code is stale: run 'make sdk' and commit the result" >&2
    exit 1
fi
echo "generated SDK code is current"
