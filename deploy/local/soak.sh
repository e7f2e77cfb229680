#!/usr/bin/env bash
# `make soak`: tests/soak.rs for SOAK_MINUTES (default 30), one sample a
# minute: RSS and open files per service, database connections, Track
# latency, at half the capacity the run measures first. Fails on growth
# beyond the bounds stated in tests/soak.rs (and the README).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
say "soak: ${SOAK_MINUTES:-30} minutes at half the measured capacity"
SOAK_MINUTES="${SOAK_MINUTES:-30}" cargo test -p boost-testkit --test soak -- --nocapture
