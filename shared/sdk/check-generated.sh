#!/usr/bin/env bash
# `make lint`: regenerates the SDKs' code and fails when that changed
# anything, i.e. the committed generated code was stale.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bash "$ROOT/shared/sdk/generate.sh" >/dev/null 2>&1 || bash "$ROOT/shared/sdk/generate.sh"
cd "$ROOT"
if ! git diff --quiet -- shared/sdk || [ -n "$(git ls-files --others --exclude-standard -- shared/sdk)" ]; then
    git status --short -- shared/sdk >&2
    echo "error: the generated SDK code is stale: run 'make sdk' and commit the result" >&2
    exit 1
fi
echo "generated SDK code is current"
