#!/usr/bin/env bash
# The TypeScript SDK's suite: tsc (strict), then node --test against a
# private stack the suite starts (boost-test-stack), over gRPC and gRPC-web.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ROOT/shared/sdk/typescript/npm.sh"
typescript_packages
cargo build --quiet -p boost-testkit --bin boost-test-stack --manifest-path "$ROOT/Cargo.toml"
cd "$ROOT/shared/sdk/typescript"
npm test --silent
