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
#
# PROFILE_PHASE=telemetry samples instead the ingest process of the
# telemetry benchmark's first round with PROFILE_TELEMETRY ("tracing,
# sampling 0.01" by default; any row's name) from its Track phase on, stops
# the benchmark, and prints the share of CPU time in tracing code (tracing,
# tracing-subscriber, OpenTelemetry, Boost's trace context and telemetry).
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
    telemetry) after="round 1/3: ${PROFILE_TELEMETRY:-tracing, sampling 0.01}" ;;
    *) die "PROFILE_PHASE is batch, track or telemetry, not $phase" ;;
esac
bench_name=ingest
[ "$phase" = telemetry ] && bench_name=telemetry
bin=${BENCH_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -p boost-testkit --bin boost-bench --bin boost-test-ingest
    bin=target/release/boost-bench
fi
out_dir=target/bench
mkdir -p "$out_dir"
svg=${PROFILE_SVG:-$out_dir/ingest-$phase-profile.svg}
table=$out_dir/profile-bench.txt
# The telemetry bench names its rows on stderr, the ingest bench on stdout.
BENCH_RESULTS=$out_dir/profile-results.jsonl BOOST_LOG=warn "$bin" "$bench_name" >"$table" 2>&1 &
bench=$!
say "waiting for the $phase phase to start"
until grep -qF "$after" "$table"; do
    kill -0 "$bench" 2>/dev/null || die "boost-bench $bench_name ended early: see $table"
    sleep 0.2
done
target=$bench
if [ "$phase" = telemetry ]; then
    # The row's own ingest process, once it serves (its health check).
    sleep 2
    target=$(pgrep -n -P "$bench" -f boost-test-ingest) || die "no ingest process under boost-bench"
fi
say "sampling pid $target for ${PROFILE_SECONDS:-15} s of the $phase phase"
perf record -F "${PROFILE_HZ:-199}" --call-graph dwarf -p "$target" -o "$out_dir/perf.data" \
    -- sleep "${PROFILE_SECONDS:-15}" 2>&1 | tail -n 1 >&2
if [ "$phase" = telemetry ]; then
    kill "$bench" 2>/dev/null || true
    pkill -P "$bench" 2>/dev/null || true
fi
wait "$bench" || true
say "folding the stacks (a minute or two)"
folded=$out_dir/ingest-$phase.folded
perf script -i "$out_dir/perf.data" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" >"$folded"
"$TOOLS/bin/inferno-flamegraph" --title "boost-bench $bench_name, $phase phase ($bin)" <"$folded" >"$svg"
if [ "$phase" = telemetry ]; then
    # Frames of tracing code; the head-sampling wrapper and `Instrumented`
    # sit on every request's stack and are left out of the match.
    awk '{ n = $NF; $NF = ""; total += n
           s = $0; gsub(/HeadSampling[^;]*|TaskLocalFuture[^;]*|Instrumented[^;]*|in_current_trace[^;]*/, "", s)
           if (s ~ /tracing_subscriber|tracing_core|tracing::span|opentelemetry|trace_context|boost_server::telemetry/) hit += n }
         END { if (total) printf "==> %.1f %% of the sampled CPU time in tracing code\n", 100 * hit / total }' "$folded" >&2
else
    grep -E 'IngestBatch x|Track, |accepted' "$table" | head -n 4 >&2
fi
say "flame graph: $svg"
