#!/usr/bin/env bash
# Makes a Redis server available for the real-time path (docs/realtime.md), idempotently.
#
#   1. If a server already answers PING on REDIS_HOST:REDIS_PORT (default 127.0.0.1:6379),
#      use it. A server still loading its data set (it answers LOADING) is waited for, up to
#      REDIS_WAIT_SECONDS (default 900): a large append-only file takes minutes to load.
#   2. Otherwise install the Debian package `redis-server` when it is missing (`apt-get
#      update` only when the install fails without it) and start a server on 127.0.0.1 only,
#      daemonized, with the append-only file on (appendfsync everysec), its data in
#      REDIS_DIR (default /var/lib/audiences-redis-<port>).
#
# Runs non-interactively as root on a fresh Debian/Ubuntu machine. Prints every action it
# takes; exits non-zero with a message saying what to do when it cannot succeed, followed by
# the end of the server's log when there is one.
set -euo pipefail

REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"
REDIS_DIR="${REDIS_DIR:-/var/lib/audiences-redis-$REDIS_PORT}"
REDIS_WAIT_SECONDS="${REDIS_WAIT_SECONDS:-900}"
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=lib/apt_install.sh
. "$(dirname "$0")/lib/apt_install.sh"

say() { echo "redis-up: $*"; }
fail() {
    echo "redis-up: ERROR: $*" >&2
    if [ -s "$REDIS_DIR/redis.log" ]; then
        echo "redis-up: the last lines of $REDIS_DIR/redis.log:" >&2
        tail -n 15 "$REDIS_DIR/redis.log" >&2
    fi
    exit 1
}

# prints the server's first reply line to PING (PONG, LOADING ..., NOAUTH ...), or nothing
# when no server listens
ping_reply() {
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | head -n 1 || true
        return 0
    fi
    # no client yet: speak the protocol over bash's /dev/tcp
    { exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT"; } 2>/dev/null || return 0
    printf 'PING\r\n' >&3
    local reply=""
    read -r -t 2 reply <&3 || true
    exec 3>&-
    reply="${reply%$'\r'}"
    echo "${reply#[+-]}"
}

# waits until the server answers PONG; true when it does, false when nothing listens or it
# answers something else (the reply is left in $REPLY_SEEN) or REDIS_WAIT_SECONDS pass
wait_ready() {
    local started=$SECONDS said=0
    while true; do
        REPLY_SEEN="$(ping_reply)"
        case "$REPLY_SEEN" in
            PONG) return 0 ;;
            LOADING*)
                if [ $((SECONDS - said)) -ge 15 ]; then
                    say "the server on $REDIS_HOST:$REDIS_PORT is loading its data set; waiting ($((SECONDS - started)) s so far)"
                    said=$SECONDS
                fi
                ;;
            "")
                # nothing listens yet: only worth waiting for a server this script started
                [ -n "${STARTED_PID:-}" ] || return 1
                kill -0 "$STARTED_PID" 2>/dev/null || return 1
                ;;
            *) return 1 ;;
        esac
        [ $((SECONDS - started)) -lt "$REDIS_WAIT_SECONDS" ] || return 1
        sleep 0.2
    done
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

REPLY_SEEN=""
if wait_ready; then
    say "a server answers on $REDIS_HOST:$REDIS_PORT; using it"
    exit 0
fi
case "$REPLY_SEEN" in
    "") ;;
    LOADING*) fail "the server on $REDIS_HOST:$REDIS_PORT was still loading its data set after $REDIS_WAIT_SECONDS s. Wait for it (or raise REDIS_WAIT_SECONDS) and run this again." ;;
    *) fail "a server listens on $REDIS_HOST:$REDIS_PORT but answers PING with '$REPLY_SEEN'. Give AUDIENCES_REDIS_URL its password, or choose another REDIS_PORT." ;;
esac
case "$REDIS_HOST" in
    127.0.0.1 | localhost) ;;
    *) fail "no Redis answers on $REDIS_HOST:$REDIS_PORT, and it is not this machine. Start it, or unset REDIS_HOST." ;;
esac
command -v redis-server >/dev/null 2>&1 || install_server
mkdir -p "$REDIS_DIR"
say "starting redis-server on 127.0.0.1:$REDIS_PORT (appendonly yes, data in $REDIS_DIR)"
# the Debian package may have started its own server on 6379 from a service file: that one
# answers above; here nothing listens, so start ours
rm -f "$REDIS_DIR/redis.pid"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --daemonize yes --dir "$REDIS_DIR" --appendonly yes --appendfsync everysec \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --save "" >/dev/null \
    || fail "redis-server did not start; see $REDIS_DIR/redis.log"
for _ in $(seq 1 50); do
    [ -s "$REDIS_DIR/redis.pid" ] && break
    sleep 0.1
done
STARTED_PID="$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)"
[ -n "$STARTED_PID" ] || fail "redis-server did not write $REDIS_DIR/redis.pid; it did not start"
if wait_ready; then
    say "ready: redis://$REDIS_HOST:$REDIS_PORT/0"
    exit 0
fi
kill -0 "$STARTED_PID" 2>/dev/null \
    || fail "redis-server (pid $STARTED_PID) exited while starting"
fail "redis-server (pid $STARTED_PID) runs but does not answer PONG on $REDIS_HOST:$REDIS_PORT after $REDIS_WAIT_SECONDS s (last reply: '${REPLY_SEEN:-none}')"
