#!/usr/bin/env bash
# Stops the private PostgreSQL, Redis and tansu that deps.sh started, and
# nothing else. Their data stays in $BOOST_DATA_DIR for the next start.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
[ -f "$STARTED_FILE" ] || exit 0
while read -r kind a b; do
    case $kind in
        postgres)
            say "stopping private PostgreSQL"
            if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$a" -D "$b" -m fast stop >/dev/null 2>&1
            else "$a" -D "$b" -m fast stop >/dev/null 2>&1; fi ;;
        redis | tansu)
            say "stopping private $kind"
            [ -f "$a" ] && kill "$(cat "$a")" 2>/dev/null ;;
    esac
done <"$STARTED_FILE"
rm -f "$STARTED_FILE"
