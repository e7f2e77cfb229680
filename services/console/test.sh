#!/usr/bin/env bash
# The console's browser suite: builds the console, then drives it in headless
# Chromium (Debian's chromium; installed by make test when missing) against a
# private stack the suite starts (boost-test-stack). Screenshots land in
# services/console/test-results/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/services/console/console.sh"
console_build
# The SDK's compiled test fixture starts the stack (one way to do it).
(cd "$ROOT/shared/sdk/typescript" && npm run --silent build)
cargo build --quiet -p boost-testkit --bin boost-test-stack --manifest-path "$ROOT/Cargo.toml"
command -v "${BOOST_CHROMIUM:-chromium}" >/dev/null || { echo "error: chromium is missing: apt-get install chromium (make test installs it)" >&2; exit 1; }
cd "$CONSOLE"
npm test --silent
