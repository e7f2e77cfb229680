#!/usr/bin/env bash
# `make profile`: a CPU flame graph of the whole in-process stack (ingest,
# auth, the processor and the load generator; PostgreSQL, Redis and tansu
# are other processes) during one phase of the ingest benchmark:
# PROFILE_PHASE=batch (IngestBatch of 100, 32 callers; the default) or track
# (Track, 512 callers). perf samples the `boost-bench ingest` process at
# PROFILE_HZ (199) for PROFILE_SECONDS (15) from the phase's start; inferno
# folds the stacks and draws PROFILE_SVG
# (target/bench/ingest-<phase>-profile.svg). BENCH_BIN profiles another
# build of boost-bench (an earlier commit's, for a before/after pair). The
# README's profiles are copies in docs/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

INFERNO_VERSION=0.12.8
ensure_debian_package linux-perf "for make profile" "or put perf on PATH" perf
if ! "$TOOLS/bin/inferno-flamegraph" --version 2>/dev/null | grep -q "$INFERNO_VERSION"; then
    say "installing inferno $INFERNO_VERSION into $TOOLS"
    cargo install --locked inferno --version "$INFERNO_VERSION" --root "$TOOLS" >&2
fi
load_deps
trap '"$ROOT/deploy/local/stop-deps.sh"' EXIT

cd "$ROOT"
phase=${PROFILE_PHASE:-batch}
case $phase in
    batch) after='bare rskafka' ;;   # the control's row: IngestBatch starts
    track) after='IngestBatch x' ;;  # IngestBatch's row: Track starts
    *) die "PROFILE_PHASE is batch or track, not $phase" ;;
esac
bin=${BENCH_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -p boost-testkit --bin boost-bench
    bin=target/release/boost-bench
fi
out_dir=target/bench
mkdir -p "$out_dir"
svg=${PROFILE_SVG:-$out_dir/ingest-$phase-profile.svg}
table=$out_dir/profile-bench.txt
BENCH_RESULTS=$out_dir/profile-results.jsonl BOOST_LOG=warn "$bin" ingest >"$table" &
bench=$!
say "waiting for the $phase phase to start"
until grep -q "$after" "$table"; do
    kill -0 "$bench" 2>/dev/null || die "boost-bench ingest ended early: see $table"
    sleep 0.2
done
say "sampling boost-bench for ${PROFILE_SECONDS:-15} s of the $phase phase"
perf record -F "${PROFILE_HZ:-199}" --call-graph dwarf -p "$bench" -o "$out_dir/perf.data" \
    -- sleep "${PROFILE_SECONDS:-15}" 2>&1 | tail -n 1 >&2
wait "$bench"
say "folding the stacks (a minute or two)"
perf script -i "$out_dir/perf.data" 2>/dev/null \
    | "$TOOLS/bin/inferno-collapse-perf" \
    | "$TOOLS/bin/inferno-flamegraph" --title "boost-bench ingest, $phase phase ($bin)" >"$svg"
grep -E 'IngestBatch x|Track, |accepted' "$table" | head -n 4 >&2
say "flame graph: $svg"
