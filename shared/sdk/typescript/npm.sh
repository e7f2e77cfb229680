# Sourced by the SDK scripts: typescript_packages installs the TypeScript
# SDK's locked npm packages (npm ci) when missing or when the lock changed.
typescript_packages() {
    local dir=$ROOT/shared/sdk/typescript
    command -v npm >/dev/null || { echo "error: the TypeScript SDK needs Node >= 20 with npm (Debian: apt-get install nodejs npm)" >&2; return 1; }
    if [ ! -d "$dir/node_modules" ] || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.copy"; then
        echo "==> installing the TypeScript SDK's locked packages (npm ci)" >&2
        (cd "$dir" && npm ci --silent --no-audit --no-fund)
        cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.copy"
    fi
}
