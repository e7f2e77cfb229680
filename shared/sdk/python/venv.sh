# Sourced by the SDK scripts: python_venv makes shared/sdk/python/.venv from
# the pinned requirements (once, and again when the lock file changes).
VENV=$ROOT/shared/sdk/python/.venv
python_venv() {
    local lock=$ROOT/shared/sdk/python/requirements-dev.lock
    local python=${BOOST_PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "error: the Python SDK needs Python >= 3.10 ($python is older or missing; set BOOST_PYTHON)" >&2
        return 1
    fi
    if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$lock" "$VENV/.lock"; then
        echo "==> installing the Python SDK's pinned dev requirements into $VENV" >&2
        "$python" -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$lock"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$ROOT/shared/sdk/python"
        cp "$lock" "$VENV/.lock"
    fi
}
