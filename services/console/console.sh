# Sourced by make run and the console's tests. console_build builds the
# console into services/console/dist when it is missing or older than its
# sources (npm ci from the lockfile, the SDK first: the console imports it).
. "$ROOT/shared/sdk/typescript/npm.sh"

CONSOLE=$ROOT/services/console

console_packages() {
    if [ ! -d "$CONSOLE/node_modules" ] || ! cmp -s "$CONSOLE/package-lock.json" "$CONSOLE/node_modules/.package-lock.copy"; then
        echo "==> installing the console's locked packages (npm ci)" >&2
        (cd "$CONSOLE" && npm ci --silent --no-audit --no-fund)
        cp "$CONSOLE/package-lock.json" "$CONSOLE/node_modules/.package-lock.copy"
    fi
}

console_build() {
    typescript_packages
    console_packages
    local built=$CONSOLE/dist/index.html
    if [ -f "$built" ] && [ -z "$(find "$CONSOLE/src" "$CONSOLE/index.html" "$CONSOLE/vite.config.ts" \
        "$CONSOLE/package-lock.json" "$ROOT/shared/sdk/typescript/src" -newer "$built" -print -quit)" ]; then
        return
    fi
    echo "==> building the console (SDK, tsc, vite)" >&2
    (cd "$ROOT/shared/sdk/typescript" && npm run --silent build)
    (cd "$CONSOLE" && npm run --silent build >&2)
}
