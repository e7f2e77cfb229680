#!/usr/bin/env bash
# `make chaos`: the kill-everything scenario of tests/chaos.rs with
# CHAOS_KILLS kills of each component (default 3; `make test` runs it with 1).
# Bounded: ~1 minute per round of kills on 2 cores, loopback only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
say "chaos: ${CHAOS_KILLS:-3} kill(s) of each of broker, PostgreSQL, Redis, processor, ingest, auth, query under load"
CHAOS_KILLS="${CHAOS_KILLS:-3}" cargo test -p boost-testkit --test chaos -- --nocapture
