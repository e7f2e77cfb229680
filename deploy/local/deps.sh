#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and a Kafka-compatible broker are reachable.
# Uses the machine's own when they answer on their usual ports; otherwise
# installs what is missing and starts private instances under $BOOST_DATA_DIR.
# Writes the addresses to $BOOST_DATA_DIR/env for `make run` and `make test`.
#
# Overrides: BOOST_DATABASE_URL, BOOST_REDIS_URL, BOOST_KAFKA_BROKERS point at
# existing services and skip the search.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mkdir -p "$DATA/logs"

PRIVATE_PG_PORT=55432
PRIVATE_REDIS_PORT=56379
PRIVATE_BROKER_PORT=19092

# --- PostgreSQL -------------------------------------------------------------
pg_bin_dir() {
    if command -v pg_ctl >/dev/null; then dirname "$(command -v pg_ctl)"; return; fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_private_postgres() {
    local bin pgdata=$DATA/postgres
    bin=$(pg_bin_dir)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        apt_install postgresql
        bin=$(pg_bin_dir)
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home postgres
    fi
    if [ ! -f "$pgdata/PG_VERSION" ]; then
        say "initialising a private PostgreSQL in $pgdata"
        mkdir -p "$pgdata"
        [ "$(id -u)" -eq 0 ] && chown postgres "$pgdata"
        chmod 700 "$pgdata"
        as_postgres "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >"$DATA/logs/initdb.log" 2>&1 \
            || die "initdb failed; see $DATA/logs/initdb.log"
    fi
    if ! port_open 127.0.0.1 "$PRIVATE_PG_PORT"; then
        say "starting private PostgreSQL on 127.0.0.1:$PRIVATE_PG_PORT"
        touch "$DATA/logs/postgres.log"
        [ "$(id -u)" -eq 0 ] && chown postgres "$DATA/logs/postgres.log"
        as_postgres "$bin/pg_ctl" -D "$pgdata" -l "$DATA/logs/postgres.log" -w -t 60 \
            -o "-p $PRIVATE_PG_PORT -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null \
            || die "PostgreSQL did not start; see $DATA/logs/postgres.log"
        record_started postgres "$bin/pg_ctl $pgdata"
    fi
    DATABASE_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/boost"
}

machine_postgres_usable() {
    port_open 127.0.0.1 5432 || return 1
    # Only usable without a password (trust), as on a developer machine.
    command -v psql >/dev/null || return 0
    PGCONNECT_TIMEOUT=3 psql -w -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1
}

if [ -n "${BOOST_DATABASE_URL:-}" ]; then
    DATABASE_URL=$BOOST_DATABASE_URL
elif machine_postgres_usable; then
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/boost"
    say "using the machine's PostgreSQL on 127.0.0.1:5432"
else
    start_private_postgres
fi

# --- Redis ------------------------------------------------------------------
# The test kit starts private redis-servers, so the binary must exist even
# when a Redis already answers.
command -v redis-server >/dev/null || apt_install redis-server
if [ -n "${BOOST_REDIS_URL:-}" ]; then
    REDIS_URL=$BOOST_REDIS_URL
elif port_open 127.0.0.1 6379; then
    REDIS_URL="redis://127.0.0.1:6379"
    say "using the machine's Redis on 127.0.0.1:6379"
else
    if ! port_open 127.0.0.1 "$PRIVATE_REDIS_PORT"; then
        say "starting private Redis on 127.0.0.1:$PRIVATE_REDIS_PORT"
        mkdir -p "$DATA/redis"
        redis-server --port "$PRIVATE_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$DATA/redis" \
            --save "" --appendonly no --pidfile "$DATA/redis/redis.pid" --logfile "$DATA/logs/redis.log"
        wait_port 127.0.0.1 "$PRIVATE_REDIS_PORT" 10 || die "Redis did not start; see $DATA/logs/redis.log"
        record_started redis "$DATA/redis/redis.pid"
    fi
    REDIS_URL="redis://127.0.0.1:$PRIVATE_REDIS_PORT"
fi

# --- Kafka-compatible broker -------------------------------------------------
TANSU=$(tansu_bin)
if [ -n "${BOOST_KAFKA_BROKERS:-}" ]; then
    BROKERS=$BOOST_KAFKA_BROKERS
elif port_open 127.0.0.1 9092; then
    BROKERS="127.0.0.1:9092"
    say "using the machine's Kafka-compatible broker on 127.0.0.1:9092"
else
    if ! port_open 127.0.0.1 "$PRIVATE_BROKER_PORT"; then
        say "starting private tansu broker on 127.0.0.1:$PRIVATE_BROKER_PORT (sqlite storage in $DATA/tansu)"
        mkdir -p "$DATA/tansu"
        # Each data directory is its own cluster: stored offsets are keyed by
        # the cluster id, so after `make clean-data` a kept PostgreSQL never
        # reads the old log's offsets against the new one.
        [ -s "$DATA/tansu/cluster-id" ] || echo "boost-local-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$DATA/tansu/cluster-id"
        # sqlite:// paths are relative to the working directory. The broker runs
        # in its own session (a Ctrl-C elsewhere must not cut a write short) and
        # records its own pid, since setsid may fork. Every descriptor of the
        # background job points at the log: one left on this script's stdout
        # would keep a pipe open (`make deps | tail` would never end).
        (cd "$DATA/tansu" && exec setsid bash -c 'echo $$ >tansu.pid; exec "$@"' tansu "$TANSU" broker \
            --listener-url "tcp://127.0.0.1:$PRIVATE_BROKER_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$PRIVATE_BROKER_PORT" \
            --cluster-id "$(cat "$DATA/tansu/cluster-id")" \
            --storage-engine "sqlite://tansu.db") </dev/null >"$DATA/logs/tansu.log" 2>&1 &
        wait_port 127.0.0.1 "$PRIVATE_BROKER_PORT" 20 || die "tansu did not start; see $DATA/logs/tansu.log"
        record_started tansu "$DATA/tansu/tansu.pid"
    fi
    BROKERS="127.0.0.1:$PRIVATE_BROKER_PORT"
fi

cat >"$ENV_FILE" <<ENV
BOOST_DATABASE_URL=$DATABASE_URL
BOOST_REDIS_URL=$REDIS_URL
BOOST_KAFKA_BROKERS=$BROKERS
BOOST_TANSU_BIN=$TANSU
ENV
say "dependencies ready (written to $ENV_FILE)"
