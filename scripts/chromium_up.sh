#!/usr/bin/env bash
# Makes a headless Chromium available for the browser-snippet test (docs/realtime.md),
# idempotently.
#
#   1. If `chromium` (or CHROMIUM_BIN) is already on the PATH, use it.
#   2. Otherwise install the Debian package `chromium` (`apt-get update` only when the install
#      fails without it).
#
# Runs non-interactively as root on a fresh Debian/Ubuntu machine. Prints every action it
# takes and, on success, the path of the browser as its last line; exits non-zero with a
# message saying what to do when it cannot succeed.
set -euo pipefail

CHROMIUM_BIN="${CHROMIUM_BIN:-chromium}"
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=lib/apt_install.sh
. "$(dirname "$0")/lib/apt_install.sh"

say() { echo "chromium-up: $*" >&2; }
fail() {
    echo "chromium-up: ERROR: $*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        fail "no $CHROMIUM_BIN on the PATH and not root (nor passwordless sudo) to install it. Install the Debian package 'chromium' or set CHROMIUM_BIN."
    fi
}

if command -v "$CHROMIUM_BIN" >/dev/null 2>&1; then
    say "found $(command -v "$CHROMIUM_BIN"); using it"
    command -v "$CHROMIUM_BIN"
    exit 0
fi
apt_install chromium "no $CHROMIUM_BIN on the PATH and no apt-get to install it. Install Chromium yourself and set CHROMIUM_BIN."
command -v "$CHROMIUM_BIN" >/dev/null 2>&1 \
    || fail "the package installed but $CHROMIUM_BIN is not on the PATH (see /tmp/apt-install-chromium.log)"
say "installed $("$CHROMIUM_BIN" --version 2>/dev/null || echo chromium)"
command -v "$CHROMIUM_BIN"
