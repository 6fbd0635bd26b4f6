#!/usr/bin/env bash
# Makes a Redis server available for the real-time path (docs/realtime.md), idempotently.
#
#   1. If a server already answers PING on REDIS_HOST:REDIS_PORT (default 127.0.0.1:6379),
#      use it.
#   2. Otherwise install the Debian package `redis-server` when it is missing (`apt-get
#      update` only when the install fails without it) and start a server on 127.0.0.1 only,
#      daemonized, with the append-only file on (appendfsync everysec), its data in
#      REDIS_DIR (default /var/lib/audiences-redis-<port>).
#
# Runs non-interactively as root on a fresh Debian/Ubuntu machine. Prints every action it
# takes; exits non-zero with a message saying what to do when it cannot succeed.
set -euo pipefail

REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_DIR="${REDIS_DIR:-/var/lib/audiences-redis-$REDIS_PORT}"
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=lib/apt_install.sh
. "$(dirname "$0")/lib/apt_install.sh"

say() { echo "redis-up: $*"; }
fail() {
    echo "redis-up: ERROR: $*" >&2
    exit 1
}

answers() {
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
        return $?
    fi
    # no client yet: speak the protocol over bash's /dev/tcp
    { exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    local reply
    read -r -t 2 reply <&3 || true
    exec 3>&-
    [ "${reply%$'\r'}" = "+PONG" ]
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        fail "no Redis on $REDIS_HOST:$REDIS_PORT and not root (nor passwordless sudo) to install one. Start a server and set AUDIENCES_REDIS_URL, or run this script as root."
    fi
}

install_server() {
    apt_install redis-server "no Redis on $REDIS_HOST:$REDIS_PORT and no apt-get to install one. Install Redis 7 yourself and set AUDIENCES_REDIS_URL."
    say "installed $(redis-server --version | awk '{ print $3 }')"
}

if answers; then
    say "a server answers on $REDIS_HOST:$REDIS_PORT; using it"
    exit 0
fi
case "$REDIS_HOST" in
    127.0.0.1 | localhost) ;;
    *) fail "no Redis answers on $REDIS_HOST:$REDIS_PORT, and it is not this machine. Start it, or unset REDIS_HOST." ;;
esac
command -v redis-server >/dev/null 2>&1 || install_server
mkdir -p "$REDIS_DIR"
say "starting redis-server on 127.0.0.1:$REDIS_PORT (appendonly yes, data in $REDIS_DIR)"
# the Debian package may have started its own server on 6379 from a service file: that one
# answers above; here nothing listens, so start ours
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --daemonize yes --dir "$REDIS_DIR" --appendonly yes --appendfsync everysec \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --save "" >/dev/null \
    || fail "redis-server did not start; see $REDIS_DIR/redis.log"
for _ in $(seq 1 50); do
    if answers; then
        say "ready: redis://$REDIS_HOST:$REDIS_PORT/0"
        exit 0
    fi
    sleep 0.2
done
fail "redis-server started but does not answer on $REDIS_HOST:$REDIS_PORT after 10 s; see $REDIS_DIR/redis.log"
