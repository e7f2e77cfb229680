# Shared helpers for the local scripts. Source it; do not run it.
# Paths: BOOST_DATA_DIR (default <repo>/.data) holds private services, logs and
# the env file; BOOST_TOOLS_DIR (default ~/.cache/boost) caches tools such as
# the tansu binary across clones.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=${BOOST_DATA_DIR:-$ROOT/.data}
TOOLS=${BOOST_TOOLS_DIR:-$HOME/.cache/boost}
ENV_FILE=$DATA/env
STARTED_FILE=$DATA/started
TANSU_VERSION=0.6.0
# libsql: durable sqlite storage (the default); dynostore: memory:// storage,
# used by `make bench` to compare.
TANSU_FEATURES=libsql,dynostore

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_port HOST PORT SECONDS
wait_port() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        port_open "$1" "$2" && return 0
        sleep 0.1
    done
    return 1
}

# apt_install PACKAGE...: installs Debian packages, or says how when not root.
apt_install() {
    command -v apt-get >/dev/null || die "$* missing and apt-get unavailable: install $* yourself"
    [ "$(id -u)" -eq 0 ] || die "$* missing: run 'sudo apt-get install -y $*' (or run as root)"
    say "installing $* with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# tansu_patch_id: a short hash of the vendored, patched tansu sources
# (shared/vendor/tansu, tansu-storage and tansu-schema), so a changed patch
# rebuilds.
tansu_patch_id() {
    (cd "$ROOT/shared/vendor" && find tansu tansu-storage tansu-schema -type f -not -path '*/target/*' | LC_ALL=C sort | xargs cat) \
        | sha256sum | cut -c1-12
}

# tansu_bin: prints the path of a tansu binary, building it once per machine
# from shared/vendor/tansu (tansu 0.6.0 with the patched tansu-storage; see
# shared/vendor/README.md). The build directory stays in $TOOLS/tansu-build so
# a changed patch rebuilds only what it touches.
tansu_bin() {
    if [ -n "${BOOST_TANSU_BIN:-}" ] && [ -x "$BOOST_TANSU_BIN" ]; then echo "$BOOST_TANSU_BIN"; return; fi
    local marker="$TOOLS/tansu.features" want
    want="$TANSU_VERSION $TANSU_FEATURES patch-$(tansu_patch_id)"
    if [ -x "$TOOLS/bin/tansu" ] && [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
        echo "$TOOLS/bin/tansu"
        return
    fi
    say "building the patched tansu broker $TANSU_VERSION ($TANSU_FEATURES) into $TOOLS (once per machine, about 15 minutes on 2 cores)"
    cargo install --locked --force --path "$ROOT/shared/vendor/tansu" --features "$TANSU_FEATURES" \
        --root "$TOOLS" --target-dir "$TOOLS/tansu-build" >&2 \
        || die "cargo install tansu failed"
    echo "$want" >"$marker"
    echo "$TOOLS/bin/tansu"
}

# SERVICE_PACKAGES: the crates whose binaries `make run` starts (the five
# services, boost-admin, boost-offsets, boost-retention); the test kit's
# benchmark and test binaries are not built for a run.
SERVICE_PACKAGES=(boost-auth boost-ingest boost-processor boost-query boost-edge)

# build_services: release binaries of SERVICE_PACKAGES into target/release.
build_services() {
    local packages=()
    for package in "${SERVICE_PACKAGES[@]}"; do packages+=(-p "$package"); done
    cargo build --release --manifest-path "$ROOT/Cargo.toml" "${packages[@]}"
}

# ensure_debian_package PACKAGE PURPOSE HINT COMMAND...: installs Debian's
# PACKAGE when one of the COMMANDs is missing (as root; otherwise says how,
# with HINT).
ensure_debian_package() {
    local package=$1 purpose=$2 hint=$3 missing=""
    shift 3
    for command in "$@"; do command -v "$command" >/dev/null || missing=$command; done
    [ -z "$missing" ] && return
    say "installing Debian's $package package ($purpose)"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package" >&2; } \
            || die "apt-get install $package failed"
    else
        die "$missing is missing: run 'sudo apt-get install $package' ($hint)"
    fi
}

# ensure_prometheus: Prometheus and promtool for the observability tests.
ensure_prometheus() {
    ensure_debian_package prometheus "for the observability tests" \
        "or put prometheus and promtool on PATH" prometheus promtool
}

# ensure_chromium: Debian's chromium for the console's browser tests.
ensure_chromium() {
    ensure_debian_package chromium "for the console's browser tests" \
        "or set BOOST_CHROMIUM to a Chromium binary" chromium
}

# record_started KIND PID_OR_DIR: remembers what we started so stop can undo it.
record_started() { echo "$1 $2" >>"$STARTED_FILE"; }

# load_deps: finds or starts PostgreSQL, Redis and the broker (deps.sh) and
# exports their addresses into this shell.
load_deps() {
    "$ROOT/deploy/local/deps.sh"
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
}
